import { expect } from 'vitest';
import { CONFORMANCE_SECRET_ENV, describeComputeConformance, workerCommand } from '@agora/conformance';
import { FargateComputeProvider } from '@agora/compute-fargate';
import { CLUSTER, CONTAINER, IMAGE, SECRET_ARN, TD_ARN, TD_REF, UNPULLABLE, startFakeEcs } from './fake-ecs.js';

/**
 * The compute contract on Fargate, against a fake ECS behind the AWS SDK mock (no ECS emulator
 * runs here): the fake plays the worker program with the reference interpreter and checks every
 * request; `checkRun` asserts the exact RunTask each case's spec must produce.
 */
describeComputeConformance(
  'fargate',
  async () => {
    const fake = startFakeEcs(CONFORMANCE_SECRET_ENV);
    const outputCapBytes = 64 * 1024;
    const provider = new FargateComputeProvider({
      cluster: CLUSTER,
      taskDefinition: TD_REF,
      containerName: CONTAINER,
      subnets: ['subnet-1'],
      securityGroups: ['sg-1'],
      region: 'eu-west-1',
      pollIntervalMs: 2,
      maxPollIntervalMs: 20,
      outputCapBytes,
      ecsClient: fake.ecsClient,
      logsClient: fake.logsClient,
      secretsClient: fake.secretsClient,
    });
    return {
      provider,
      outputCapBytes,
      specFor: (program) => ({ image: IMAGE, command: workerCommand(program) }),
      unstartable: () => ({ image: IMAGE, command: [UNPULLABLE] }),
      secretContext: (envName, value) => {
        fake.setSecret(value);
        return { secretRefs: { [envName]: SECRET_ARN }, ctx: {} };
      },
      observe: async (handle) => {
        const input = fake.runTaskInput(handle.providerTaskId);
        return {
          labels: Object.fromEntries((input?.tags ?? []).map((t) => [t.key, t.value])),
          cpu: input?.overrides?.cpu !== undefined ? Number(input.overrides.cpu) / 1024 : undefined,
          memoryMb: input?.overrides?.memory !== undefined ? Number(input.overrides.memory) : undefined,
        };
      },
      checkRun: (spec, handle) => {
        const env = Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value }));
        const cpu = spec.resources?.cpu;
        const memoryMb = spec.resources?.memoryMb;
        expect(fake.runTaskInput(handle.providerTaskId)).toEqual({
          cluster: CLUSTER,
          taskDefinition: TD_ARN,
          launchType: 'FARGATE',
          count: 1,
          networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' } },
          overrides: {
            containerOverrides: [{ name: CONTAINER, command: spec.command, ...(env.length > 0 ? { environment: env } : {}) }],
            ...(cpu !== undefined ? { cpu: String(cpu * 1024) } : {}),
            ...(memoryMb !== undefined ? { memory: String(memoryMb) } : {}),
          },
          tags: [...Object.entries(spec.labels ?? {}).map(([key, value]) => ({ key, value })), { key: 'agora.managed', value: 'true' }],
          startedBy: 'agora',
        });
      },
      afterEach: () => {
        expect(fake.violations.splice(0)).toEqual([]);
      },
      close: async () => fake.restore(),
    };
  },
  {
    unsupported: {
      'stdout-bytes': 'awslogs carries text lines: the worker\'s output comes back line by line, each ending in "\\n", not as raw bytes',
      stderr: 'awslogs merges stderr into the one log stream: it comes back in stdout',
      stdin: 'ECS gives a task no stdin: the provider refuses spec.stdin (pass input through env or storage)',
    },
  },
);
