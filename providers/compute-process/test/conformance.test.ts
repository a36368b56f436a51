import { describeComputeConformance, workerCommand } from '@agora/conformance';
import { ProcessComputeProvider } from '@agora/compute-process';

/** The compute contract on local child processes: the worker is this node (`process.execPath`). */
describeComputeConformance(
  'process',
  async () => {
    const outputCapBytes = 64 * 1024;
    return {
      provider: new ProcessComputeProvider({ killGraceMs: 500, outputCapBytes }),
      outputCapBytes,
      specFor: (program) => ({ command: workerCommand(program, process.execPath) }),
      unstartable: () => ({ command: ['/nonexistent/agora-conformance-worker'] }),
      secretContext: (envName, value) => ({
        secretRefs: { [envName]: 'conformance:secret' },
        ctx: { credentials: { kind: 'static-secrets', secrets: { 'conformance:secret': value } } },
      }),
    };
  },
  {
    unsupported: {
      resources: 'a child process gets no CPU or memory limit: the host is shared as it is',
      labels: 'a child process has nowhere to carry labels',
    },
  },
);
