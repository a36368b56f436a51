import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ApplicationError,
  CancelledError,
  ProviderError,
  parseAgoraUri,
  type AgoraConfig,
  type ComputeProvider,
  type CredentialProvider,
  type TaskDefinition,
} from '@agora/core';
import type { Executor, ExecutorContext, ExecutorResult } from './executor.js';

export interface DispatchDeps {
  readonly config: AgoraConfig;
  compute(name: string): Promise<ComputeProvider>;
  credentials(name: string): Promise<CredentialProvider>;
  /** Task definitions registered in storage, by name (resolved before the config's). */
  resolveTask?(name: string, ctx: ExecutorContext): Promise<TaskDefinition | null>;
}

const STDERR_TAIL = 2000;

/**
 * Runs a task definition through a compute provider (seed 000). `inputs.task` names the task
 * (`inputs.subagent` is accepted as its alias) and `inputs.workerInput` is handed to the worker as
 * JSON in AGORA_WORKER_INPUT. The worker's stdout becomes the item's artifact.
 */
export function createDispatchExecutor(deps: DispatchDeps): Executor {
  const { config } = deps;
  return {
    name: 'dispatch',
    async execute(ctx: ExecutorContext): Promise<ExecutorResult> {
      const inputs = ctx.inputs as { task?: unknown; subagent?: unknown; workerInput?: unknown };
      const taskName = typeof inputs.task === 'string' ? inputs.task : typeof inputs.subagent === 'string' ? inputs.subagent : undefined;
      if (!taskName) throw new ApplicationError(`item ${ctx.itemId}: dispatch needs inputs.task (or inputs.subagent) naming a task`, null);
      const task = (await deps.resolveTask?.(taskName, ctx)) ?? config.tasks[taskName];
      if (!task) {
        throw new ApplicationError(`item ${ctx.itemId}: unknown task "${taskName}" (configured: ${Object.keys(config.tasks).join(', ') || 'none'})`, null);
      }
      const targetName = ctx.target ?? task.target ?? config.defaultTarget;
      const target = config.targets[targetName];
      if (!target) throw new ApplicationError(`item ${ctx.itemId}: unknown target "${targetName}"`, null);
      const compute = await deps.compute(target.compute);
      const credentials = target.credentials ? await (await deps.credentials(target.credentials)).resolve() : undefined;

      // Dependencies' artifacts are staged as files for local workers: deps/<itemId>.
      const workDir = path.join(config.dataDir, 'work', ctx.runId, ctx.itemId);
      const depsDir = path.join(workDir, 'deps');
      await mkdir(depsDir, { recursive: true });
      for (const [depId, ref] of Object.entries(ctx.deps)) {
        if (!ref) continue;
        parseAgoraUri(ref);
        await writeFile(path.join(depsDir, depId), await ctx.storage.get(ref));
      }
      const spec = {
        ...(task.command ? { command: task.command } : {}),
        ...(task.image ? { image: task.image } : {}),
        env: {
          ...task.env,
          AGORA_RUN_ID: ctx.runId,
          AGORA_ITEM_ID: ctx.itemId,
          AGORA_ATTEMPT: String(ctx.attempt),
          AGORA_WORKER_INPUT: JSON.stringify(inputs.workerInput ?? {}),
          AGORA_DEPENDENCIES: JSON.stringify(ctx.deps),
          AGORA_DEPS_DIR: depsDir,
          AGORA_LOCK_TOKENS: JSON.stringify(ctx.lockTokens),
        },
        secretRefs: task.secretRefs,
        ...(task.resources ? { resources: task.resources } : {}),
        timeoutMs: task.timeoutMs,
        cwd: config.configDir,
        labels: { 'agora.run': ctx.runId, 'agora.item': ctx.itemId, 'agora.namespace': ctx.namespace },
      };
      const pctx = { ...(credentials ? { credentials } : {}), signal: ctx.signal, logger: ctx.logger };
      try {
        let handle;
        try {
          handle = await compute.run(spec, pctx);
        } catch (err) {
          if (err instanceof ProviderError || (err as { retryable?: boolean }).retryable) throw err;
          throw new ApplicationError(`item ${ctx.itemId}: ${compute.name} refused the task: ${(err as Error).message}`, null, { cause: err });
        }
        const exit = await compute.awaitExit(handle, pctx);
        if (exit.providerFailureReason !== undefined) {
          throw new ProviderError(compute.name, `item ${ctx.itemId}: ${exit.providerFailureReason}`);
        }
        if (exit.cancelled || ctx.signal.aborted) {
          throw new CancelledError(`item ${ctx.itemId}: worker stopped (${String(ctx.signal.reason ?? 'timeout')})`);
        }
        if (exit.exitCode !== 0) {
          const tail = exit.stderr.slice(-STDERR_TAIL).trim();
          throw new ApplicationError(`item ${ctx.itemId}: worker exited with code ${exit.exitCode}${tail ? `: ${tail}` : ''}`, exit.exitCode);
        }
        return {
          output: exit.stdout,
          fields: { exitCode: 0, task: taskName, ...(ctx.taskRef ? { taskRef: ctx.taskRef } : {}), target: targetName, startedAt: exit.startedAt, finishedAt: exit.finishedAt },
        };
      } finally {
        await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}
