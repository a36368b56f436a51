import { chmod, mkdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AgoraError,
  ApplicationError,
  CancelledError,
  OUTPUT_CAP_BYTES,
  ProviderError,
  TimeoutError,
  capOutputBytes,
  capOutputText,
  coerceError,
  createScrubber,
  parseAgoraUri,
  resolveInside,
  staticSecretValues,
  taskExitProblems,
  type AgoraConfig,
  type ComputeProvider,
  type CredentialProvider,
  type ResolvedCredentials,
  type OutputTails,
  type Scrubber,
  type TaskDefinition,
  type TaskExit,
} from '@agora/core';
import type { ItemChannel } from './channel-hub.js';
import type { Executor, ExecutorContext, ExecutorResult } from './executor.js';
import { LOG_ARTIFACT_MAX_BYTES } from './output-logs.js';

/**
 * `<dataDir>/work`, made 0700 (a looser one, made by an older version or under umask 000,
 * tightened) once per process: the work dirs below hold items' inputs and their dependencies'
 * results, and stay as the umask makes them, since a container's own user may have to read them
 * (through a bind, which does not pass through this folder); other local users cannot reach them.
 */
const privateWorkRoots = new Map<string, Promise<void>>();
function privateWorkRoot(dataDir: string): Promise<void> {
  const root = resolveInside(dataDir, 'work');
  let done = privateWorkRoots.get(root);
  if (!done) {
    done = (async () => {
      await mkdir(root, { recursive: true, mode: 0o700 });
      // Best effort: a root this user may not chmod (not its own) still serves as it is.
      if (((await stat(root)).mode & 0o077) !== 0) await chmod(root, 0o700).catch(() => undefined);
    })();
    privateWorkRoots.set(root, done);
    done.catch(() => privateWorkRoots.delete(root));
  }
  return done;
}

export interface DispatchDeps {
  readonly config: AgoraConfig;
  compute(name: string): Promise<ComputeProvider>;
  credentials(name: string): Promise<CredentialProvider>;
  /** The task definition pinned for this item in storage (`ctx.taskRef`), if any. */
  resolveTask?(name: string, ctx: ExecutorContext): Promise<TaskDefinition | null>;
  /**
   * Opens the item's channel into `file` (the runner's ChannelHub): messages sent to the item
   * reach the file while its worker runs. Without it, workers get no channel.
   */
  openChannel?(runId: string, itemId: string, file: string): Promise<ItemChannel>;
}

const STDERR_TAIL = 2000;

/**
 * Values up to this many bytes are also passed inline (AGORA_DEPENDENCIES, AGORA_WORKER_INPUT).
 * Linux refuses one environment string over 128 KiB (MAX_ARG_STRLEN: `spawn E2BIG`) and all of
 * argv + env over ~2 MiB; 1,000 dependencies take ~150 KiB. So every value is written to a file
 * (AGORA_DEPENDENCIES_FILE, AGORA_WORKER_INPUT_FILE) and only small ones are inlined as well.
 */
export const INLINE_ENV_MAX_BYTES = 32 * 1024;

/**
 * Runs a task definition through a compute provider (seed 000). `inputs.task` names the task
 * (`inputs.subagent` is accepted as its alias) and `inputs.workerInput` is handed to the worker as
 * JSON in a file (AGORA_WORKER_INPUT_FILE; inline in AGORA_WORKER_INPUT too when small). The
 * worker's stdout bytes become the item's artifact unchanged.
 */
export function createDispatchExecutor(deps: DispatchDeps): Executor {
  const { config } = deps;
  return {
    name: 'dispatch',
    async execute(ctx: ExecutorContext): Promise<ExecutorResult> {
      const inputs = ctx.inputs as { task?: unknown; subagent?: unknown; workerInput?: unknown };
      const taskName = typeof inputs.task === 'string' ? inputs.task : typeof inputs.subagent === 'string' ? inputs.subagent : undefined;
      if (!taskName) throw new ApplicationError(`item ${ctx.itemId}: dispatch needs inputs.task (or inputs.subagent) naming a task`, null);
      const task = await resolveDefinition(deps, taskName, ctx);
      const targetName = ctx.target ?? task.target ?? config.defaultTarget;
      const target = config.targets[targetName];
      if (!target) throw new ApplicationError(`item ${ctx.itemId}: unknown target "${targetName}"`, null);
      const compute = await madeProvider(`compute "${target.compute}"`, deps.compute(target.compute), ctx);
      const credentials = target.credentials ? await resolveCredentials(deps, target.credentials, task, ctx) : undefined;
      // The provider scrubs its own output; this covers the messages built here from its errors.
      const scrub = createScrubber(staticSecretValues(task.secretRefs, credentials));

      const workDir = ctx.workDir ?? resolveInside(config.dataDir, 'work', ctx.runId, ctx.itemId);
      let channel: { file: string; open: ItemChannel } | undefined;
      try {
        await privateWorkRoot(config.dataDir);
        const files = await stageWorkDir(workDir, ctx, inputs.workerInput ?? {});
        if (deps.openChannel) {
          // Its own folder: the Docker provider binds the folder (read-only), not the work dir.
          const file = resolveInside(workDir, 'channel', 'messages.jsonl');
          await mkdir(path.dirname(file), { recursive: true });
          channel = { file, open: await deps.openChannel(ctx.runId, ctx.itemId, file) };
        }
        const spec = {
          ...(task.command ? { command: task.command } : {}),
          ...(task.image ? { image: task.image } : {}),
          env: {
            ...task.env,
            AGORA_RUN_ID: ctx.runId,
            AGORA_ITEM_ID: ctx.itemId,
            AGORA_ATTEMPT: String(ctx.attempt),
            ...files.env,
            AGORA_LOCK_TOKENS: JSON.stringify(ctx.lockTokens),
          },
          secretRefs: task.secretRefs,
          ...(task.resources ? { resources: task.resources } : {}),
          // The item's limit overrides the task's.
          timeoutMs: ctx.timeoutMs ?? task.timeoutMs,
          cwd: config.configDir,
          labels: { 'agora.run': ctx.runId, 'agora.item': ctx.itemId, 'agora.namespace': ctx.namespace },
          ...(channel ? { channel: { hostPath: channel.file } } : {}),
        };
        const pctx = { ...(credentials ? { credentials } : {}), signal: ctx.signal, logger: ctx.logger };
        let handle;
        try {
          handle = await compute.run(spec, pctx);
        } catch (err) {
          if (err instanceof ProviderError || (err as { retryable?: boolean }).retryable) throw scrub.error(err);
          if (err instanceof AgoraError && err.code === 'CONFIG_INVALID') {
            // A secret ref the target's credentials cannot serve: no try would fare better.
            throw new AgoraError('CONFIG_INVALID', scrub.text(`item ${ctx.itemId}: ${compute.name} refused the task: ${err.message}`), { cause: scrub.error(err) });
          }
          throw new ApplicationError(scrub.text(`item ${ctx.itemId}: ${compute.name} refused the task: ${coerceError(err).message}`), null, { cause: scrub.error(err) });
        }
        const exit = checkedExit(
          compute.name,
          ctx.itemId,
          await compute.awaitExit(handle, pctx).catch((err: unknown) => {
            throw scrub.error(err);
          }),
          scrub,
        );
        if (exit.providerFailureReason !== undefined) {
          throw new ProviderError(compute.name, scrub.text(`item ${ctx.itemId}: ${exit.providerFailureReason}`));
        }
        if (ctx.signal.aborted) {
          throw new CancelledError(`item ${ctx.itemId}: worker stopped (${String(ctx.signal.reason)})`);
        }
        if (exit.cancelled) {
          // Stopped without our signal: only the provider's own timer does that.
          const tail = scrub.text(exit.stderr).slice(-STDERR_TAIL).trim();
          throw new TimeoutError(`item ${ctx.itemId}: worker timed out after ${spec.timeoutMs} ms${tail ? `: ${tail}` : ''}`, spec.timeoutMs);
        }
        if (exit.exitCode !== 0) {
          const tail = scrub.text(exit.stderr).slice(-STDERR_TAIL).trim();
          throw new ApplicationError(`item ${ctx.itemId}: worker exited with code ${exit.exitCode}${tail ? `: ${tail}` : ''}`, exit.exitCode, {
            output: outputTails(exit, scrub),
          });
        }
        return {
          output: exit.stdout,
          ...(exit.stderr !== '' ? { stderr: scrub.text(exit.stderr) } : {}),
          fields: { exitCode: 0, task: taskName, ...(ctx.taskRef ? { taskRef: ctx.taskRef } : {}), target: targetName, startedAt: exit.startedAt, finishedAt: exit.finishedAt },
        };
      } finally {
        await channel?.open.close();
        await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
        // The run's folder (<dataDir>/work/<runId>) goes with its last item's work dir; while
        // other items of the run still use it, it is not empty and stays.
        if (!ctx.workDir) await rmdir(path.dirname(workDir)).catch(() => undefined);
      }
    },
  };
}

/**
 * What the provider's `awaitExit` returned, checked against the TaskExit contract (a package
 * provider may return anything: a malformed exit fails the item naming the provider and the
 * problem, not retried: the provider would return it again), with stdout and stderr capped at
 * OUTPUT_CAP_BYTES each (the truncation marker says so) whatever the provider capped.
 */
function checkedExit(provider: string, itemId: string, value: unknown, scrub: Scrubber): TaskExit {
  const problems = taskExitProblems(value);
  if (problems !== null) {
    throw new ProviderError(provider, scrub.text(`item ${itemId}: compute provider "${provider}" returned a malformed exit from awaitExit: ${problems}`), { retryable: false });
  }
  const exit = value as TaskExit;
  const stdout = capOutputBytes(exit.stdout, OUTPUT_CAP_BYTES, scrub).bytes;
  const stderr = capOutputText(exit.stderr, OUTPUT_CAP_BYTES, scrub);
  return stdout === exit.stdout && stderr === exit.stderr ? exit : { ...exit, stdout, stderr };
}

/**
 * The most of each stream a failure carries: its log artifacts keep as much as a done item's
 * (LOG_ARTIFACT_MAX_BYTES), its dead-letter record keeps `deadLetters.tailBytes` of it.
 */
const OUTPUT_TAIL_CAPTURE_BYTES = LOG_ARTIFACT_MAX_BYTES;

/**
 * The end of what a failed worker printed, for its dead letter. Scrubbed whole before it is cut
 * (the provider scrubbed it already; this also covers secrets only the executor knows), so a cut
 * cannot leave half a secret unredacted.
 */
function outputTails(exit: TaskExit, scrub: Scrubber): OutputTails {
  const stdout = Buffer.from(scrub.bytes(exit.stdout));
  const stderr = Buffer.from(scrub.text(exit.stderr), 'utf8');
  const tail = (b: Buffer): string => b.subarray(Math.max(0, b.length - OUTPUT_TAIL_CAPTURE_BYTES)).toString('utf8');
  return { stdoutTail: tail(stdout), stderrTail: tail(stderr) };
}

/**
 * The task definition: the one pinned in storage for this item, or the config's. A name that is
 * both registered and configured is refused rather than resolved to one of them silently (the
 * scheduler refuses such plans at acceptance; this catches runs accepted before it did).
 */
async function resolveDefinition(deps: DispatchDeps, taskName: string, ctx: ExecutorContext): Promise<TaskDefinition> {
  const { config } = deps;
  const configured = Object.hasOwn(config.tasks, taskName) ? config.tasks[taskName] : undefined;
  const registered = (await deps.resolveTask?.(taskName, ctx)) ?? null;
  if (registered && configured) {
    throw new ApplicationError(
      `item ${ctx.itemId}: task "${taskName}" is both defined in the config file and registered in storage (${ctx.taskRef ?? 'storage'}); ` +
        'refusing to pick one: remove it from the config or register the stored one under another name',
      null,
    );
  }
  const task = registered ?? configured;
  if (!task) {
    throw new ApplicationError(`item ${ctx.itemId}: unknown task "${taskName}" (configured: ${Object.keys(config.tasks).join(', ') || 'none'})`, null);
  }
  return task;
}

/**
 * A provider of the target, made from the config on first use. One that refuses its options (a
 * typo, a missing `taskDefinition`) is the target's configuration, as a credential refusal is:
 * CONFIG_INVALID naming the item and the config key, not retried (it failed as a bare ValueError,
 * "VALUE", naming neither). A retryable error (a package that could not load) is rethrown.
 */
async function madeProvider<T>(what: string, made: Promise<T>, ctx: ExecutorContext): Promise<T> {
  try {
    return await made;
  } catch (err) {
    const e = coerceError(err);
    if ((e as { retryable?: boolean }).retryable) throw e;
    throw new AgoraError('CONFIG_INVALID', `item ${ctx.itemId}: ${what} could not be made: ${e.message}`, { cause: err });
  }
}

/** Resolves the target's credentials for exactly the refs the task names. */
async function resolveCredentials(deps: DispatchDeps, name: string, task: TaskDefinition, ctx: ExecutorContext): Promise<ResolvedCredentials> {
  const provider = await madeProvider(`credentials "${name}"`, deps.credentials(name), ctx);
  try {
    return await provider.resolve({ refs: Object.values(task.secretRefs ?? {}) });
  } catch (err) {
    const e = coerceError(err);
    if ((e as { retryable?: boolean }).retryable) throw e;
    // A refusal (a ref it does not serve, a file it will not read) is the target's configuration:
    // failed at once with CONFIG_INVALID, never retried, whatever the item's retry policy lists.
    throw new AgoraError('CONFIG_INVALID', `item ${ctx.itemId}: credentials "${name}" refused: ${e.message}`, { cause: err });
  }
}

/**
 * Writes what the worker reads into its work dir: the dependencies' artifacts (deps/<itemId>),
 * and the dependency map and worker input as JSON files. Returns the env that names them.
 */
async function stageWorkDir(workDir: string, ctx: ExecutorContext, workerInput: unknown): Promise<{ env: Record<string, string> }> {
  const depsDir = resolveInside(workDir, 'deps');
  await mkdir(depsDir, { recursive: true });
  for (const [depId, ref] of Object.entries(ctx.deps)) {
    if (!ref) continue;
    parseAgoraUri(ref);
    await writeFile(resolveInside(depsDir, depId), await ctx.storage.get(ref));
  }
  const dependencies = JSON.stringify(ctx.deps);
  const input = JSON.stringify(workerInput);
  const dependenciesFile = resolveInside(workDir, 'dependencies.json');
  const inputFile = resolveInside(workDir, 'worker-input.json');
  await writeFile(dependenciesFile, dependencies);
  await writeFile(inputFile, input);
  const small = (s: string): boolean => Buffer.byteLength(s) <= INLINE_ENV_MAX_BYTES;
  return {
    env: {
      ...(small(input) ? { AGORA_WORKER_INPUT: input } : {}),
      AGORA_WORKER_INPUT_FILE: inputFile,
      ...(small(dependencies) ? { AGORA_DEPENDENCIES: dependencies } : {}),
      AGORA_DEPENDENCIES_FILE: dependenciesFile,
      AGORA_DEPS_DIR: depsDir,
    },
  };
}
