import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplicationError, ValueError, compileConfig } from '@agora/core';
import { ProviderSet, loadTask, registerTask } from '@agora/registry';
import { createDispatchExecutor } from '@agora/runner';
import { LocalStorageProvider } from '@agora/storage-local';
import { silent } from '../support/cluster.js';
import { cliEnv } from '../support/cli.js';

/**
 * Item 13 of the trust-boundary issue: a task registered in storage must not silently shadow a
 * config task of the same name. Registration is refused; a run that finds both (registered
 * before this rule) fails the item clearly instead of picking one.
 */
const print = (text: string) => ({ command: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(text)})`] });

describe('registered tasks cannot shadow config tasks', () => {
  it('registerTask refuses a name the config defines', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'agora-shadow-'));
    try {
      const storage = new LocalStorageProvider({ root });
      const err = await registerTask(storage, 'ns', 'deploy', print('registered'), { configTasks: { deploy: print('config') } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValueError);
      expect((err as Error).message).toBe(
        'task "deploy" is defined in the config file; a registered task of the same name would shadow it. Register it under another name, or remove it from the config',
      );
      expect(await storage.resolveLatest('agora://ns/task/deploy')).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('agora tasks register refuses it too (exit 2), and registers another name', async () => {
    const env = cliEnv({ tasks: { deploy: print('config') } });
    try {
      const file = env.writeJson('task.json', print('registered'));
      const refused = env.agora(['tasks', 'register', 'deploy', file]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('task "deploy" is defined in the config file');
      const ok = env.agora(['tasks', 'register', 'other', file]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^agora:\/\/[^/]+\/task\/other\/[0-9a-f]{64}\n$/);
    } finally {
      await env.close();
    }
  });

  it('a dispatch that finds both (a run accepted before the rule) fails the item clearly instead of running one silently', async () => {
    // The scheduler now refuses such a plan at acceptance; a run it accepted before that check
    // existed still carries the task's pin, and the runner must not pick one of the two.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agora-shadow-'));
    try {
      const config = compileConfig({ compute: { local: { provider: 'process' } }, targets: { local: { compute: 'local' } }, tasks: { deploy: print('config') } }, 'test', dataDir, {});
      const providers = new ProviderSet(config);
      const storage = await providers.storage();
      // Written the way an older agora registered it: straight into storage, without the check.
      const reg = await registerTask(storage, config.namespace, 'deploy', print('registered'));
      const dispatch = createDispatchExecutor({
        config,
        compute: (n) => providers.compute(n),
        credentials: (n) => providers.credentials(n),
        resolveTask: async (_name, ctx) => (ctx.taskRef ? loadTask(storage, ctx.taskRef) : null),
      });
      const ctx = {
        namespace: config.namespace,
        runId: 'r0shadow',
        itemId: 'd',
        inputs: { task: 'deploy' },
        deps: {},
        lockTokens: {},
        attempt: 1,
        taskRef: reg.uri,
        signal: new AbortController().signal,
        storage,
        logger: silent,
      };
      const err = await dispatch.execute(ctx).then(
        (r) => `ran: ${Buffer.from(r.output).toString()}`,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApplicationError);
      expect((err as Error).message).toBe(
        `item d: task "deploy" is both defined in the config file and registered in storage (${reg.uri}); ` +
          'refusing to pick one: remove it from the config or register the stored one under another name',
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
