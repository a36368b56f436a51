#!/usr/bin/env node
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { PlanValidationError, RUN_STATES, createLogger, environmentKnobProblems, loadFileSecrets } from '@agora/core';
import { CliError, EXIT, cliErrorMessage, exitCodeFor, type GlobalOpts } from './context.js';
import { parsePort, parseQueueList } from './options.js';
import { logConsoleWarnings } from './console-warnings.js';
// Verb modules load on use: `agora validate` should not pay for BullMQ, Express and Bull Board.
const runs = () => import('./commands/runs.js');
const services = () => import('./commands/services.js');
const artifacts = () => import('./commands/artifacts.js');
import { registerExtraCommands } from './commands/extra.js';

/** The CLI package's version (dist/bin.js sits one folder below its package.json). */
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/*
 * The reader of stdout went away (`agora runs | head -n1`, `agora watch <run> --json | head -n1`):
 * the next write fails with EPIPE (Node ignores SIGPIPE, so it arrives as an 'error' event, which
 * unhandled crashes with a stack and exit 1). Every verb stops quietly with exit 0 instead, as
 * ripgrep does: nobody reads the rest, and a script under `set -o pipefail` does not fail because
 * its reader stopped early. A verb that cleans up on SIGTERM (the services, `watch`, `fleet
 * autoscale`) is stopped that way, so a runner still hands its items back and `agora dev` still
 * stops its runners and Redis; any other verb exits at once. Other stdout errors are not ours to hide.
 */
let stdoutGone = false;
/*
 * The same for stderr, where the services write their logs (`agora serve --metrics-port 0 2>&1 |
 * grep -m1 'metrics listening'`): an unhandled EPIPE there crashed a runner with exit 1, its items
 * left active until the stalled-job check and its registration live until its heartbeat expired.
 * A verb that cleans up on SIGTERM stops that way (logs have nowhere to go, so nothing says so);
 * any other verb finishes and exits with its own code, its last words unread.
 */
let stderrGone = false;
let stoppedForReader = false;
/**
 * The reader of our output went away: a verb that cleans up on SIGTERM is stopped that way, once
 * (its `once` listeners are gone then, and the other stream's EPIPE must not cut its cleanup short).
 */
const stopForReader = (): boolean => {
  if (stoppedForReader) return true;
  if (process.listenerCount('SIGTERM') === 0) return false;
  stoppedForReader = true;
  process.emit('SIGTERM', 'SIGTERM');
  return true;
};

/*
 * A library's console warning (ioredis: "[WARN] This Redis server's `default` user does not
 * require a password…", once per connection) is logged as the verb's other log lines are, JSON
 * with "source": "console" (README "Logs"), not printed raw beside them. The services route it
 * through their own component's logger when they start.
 */
logConsoleWarnings(() => createLogger({ component: 'cli' }));

// The AWS SDK prints an eight-line "NodeVersionSupportWarning" on stderr, once per process, on the
// Node 20 that this package supports (engines >=20): it concerns SDK releases of 2027, not the one
// installed. It would bury the verb's own stderr (`agora fleet` on ECS, S3 storage, fargate).
// An operator who wants it sets the variable to anything else.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (stdoutGone) return;
  if (err.code !== 'EPIPE') throw err;
  stdoutGone = true;
  if (!stopForReader()) process.exit(EXIT.ok);
});
process.stderr.on('error', (err: NodeJS.ErrnoException) => {
  if (stderrGone) return;
  if (err.code !== 'EPIPE') throw err;
  stderrGone = true;
  stopForReader();
});

const program = new Command();
program
  .name('agora')
  .version(version, '-V, --version', 'print the version and exit')
  .description('Agora: plans of items run as BullMQ flows on a fleet of runners')
  .option('-c, --config <file>', 'config file (default: $AGORA_CONFIG, ./agora.config.json or ./agora.config.mjs)')
  .showHelpAfterError()
  .exitOverride();

/** A bad secret file or environment knob, found before the verb ran (see the preAction hook below). */
let startupError: unknown;
const g = (): GlobalOpts => ({ ...program.opts<GlobalOpts>(), ...(startupError !== undefined ? { startupError } : {}) });
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
// Checked as the flags are parsed: a bad port fails before the service touches Redis.
const metricsPortOption = (): Option =>
  new Option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (0: a free one; default: config metrics.port, else off)').argParser((v: string) =>
    String(parsePort(v, '--metrics-port')),
  );
let exitCode: number = EXIT.ok;
const run = (fn: (...a: never[]) => Promise<number>) =>
  async (...args: unknown[]): Promise<void> => {
    exitCode = await (fn as (...a: unknown[]) => Promise<number>)(...args);
  };

program
  .command('validate')
  .argument('<plan>', 'plan JSON file, or - for stdin')
  .option('--json', 'print { ok, planId, queue, items } or { ok: false, problems } on stdout')
  .description('check a plan; prints every problem, exit 1 if invalid')
  .action(run(async (f: string, o: { json?: boolean }) => (await runs()).validateCmd(f, g(), o)));
program
  .command('submit')
  .argument('<plan>', 'plan JSON file, or - for stdin')
  .option('--json', 'print { runId } (or { ok: false, problems } for an invalid plan) on stdout')
  .description('submit a plan; prints the run id and returns at once')
  .action(run(async (f: string, o: { json?: boolean }) => (await runs()).submitCmd(f, g(), o)));
program
  .command('watch')
  .argument('<run>', 'run id')
  .option('--from <seq>', 'resume from this event seq')
  .option('--json', 'JSON lines even on a terminal (the default when stdout is not a terminal)')
  .option('--summary', 'the live summary even when stdout is not a terminal (one line per redraw)')
  .description('follow the run until it ends: a live summary on a terminal, JSON lines otherwise; exit 0 only if it succeeded')
  .action(run(async (r: string, o: { from?: string; json?: boolean; summary?: boolean }) => (await runs()).watchCmd(r, o, g())));
program
  .command('status')
  .argument('<run>', 'run id')
  .option('--json', 'one line of JSON (the default prints it indented)')
  .description('print the run\'s state and items as JSON, with why each item that did not succeed ended so')
  .action(run(async (r: string, o: { json?: boolean }) => (await runs()).statusCmd(r, g(), o)));
program
  .command('runs')
  .description('list runs, newest first: a table, or the page as JSON with --json')
  .option('--state <state>', `only runs in this state (${RUN_STATES.join(', ')})`)
  .option('--limit <n>', 'runs per page, 1-500 (default 20)')
  .option('--queue <queue>', 'only runs of this queue')
  .option('--plan <id>', 'only runs of this plan id')
  .option('--since <time>', 'only runs created at or after this ISO 8601 time (UTC without an offset) or epoch ms')
  .option('--cursor <cursor>', 'the next page, as printed after "more:" (or "next" in --json)')
  .option('--json', 'print {"runs":[...],"next":...} as one JSON line')
  .action(run(async (o: Record<string, string | boolean | undefined>) => (await runs()).runsCmd(o, g())));
program
  .command('get')
  .argument('<resultRef>', 'a result URI as status prints it: agora://<ns>/result/<name>/<sha256>')
  .option('-o, --output <file>', 'write the bytes to this file (default: stdout)')
  .description("download an item's result from storage; its sha256 is checked against the ref (exit 1 if it differs)")
  .action(run(async (ref: string, o: { output?: string }) => (await artifacts()).getCmd(ref, o, g())));
program
  .command('logs')
  .argument('<run>', 'run id')
  .argument('<item>', 'item id')
  .option('--json', 'print { runId, itemId, state, stdout?, stderr? } as one JSON line')
  .description("print what an item's worker wrote to stdout and stderr, as stored (scrubbed, last 1 MiB of each)")
  .action(run(async (r: string, i: string, o: { json?: boolean }) => (await artifacts()).logsCmd(r, i, o, g())));
program
  .command('cancel')
  .argument('<run>', 'run id')
  .option('--json', 'accepted for uniformity: the answer is always one line of JSON')
  .description('cancel a run: pending items are dropped, running ones stopped')
  .action(run(async (r: string) => (await runs()).cancelCmd(r, g())));
program
  .command('send')
  .argument('<run>', 'run id')
  .argument('<item>', 'item id')
  .argument('<message>', 'the message: JSON text, or @file (a JSON file; @- reads stdin); at most 64 KiB')
  .option('--json', 'print { runId, itemId, messageId, seq, bytes, sha256 } as one JSON line')
  .description("send a message to an item's channel: its worker reads it as one JSON line from $AGORA_CHANNEL; prints the message id")
  .action(run(async (r: string, i: string, m: string, o: { json?: boolean }) => (await import('./commands/send.js')).sendCmd(r, i, m, g(), o)));
program
  .command('serve')
  .description('run the scheduler: take plans from the inbox and add them as flows')
  .addOption(new Option('--concurrency <queue=N...>', 'global concurrency of a plan queue (repeatable, or comma-separated)').argParser(collect))
  .addOption(metricsPortOption())
  .action(run(async (o: { concurrency?: string[]; metricsPort?: string }) => (await services()).serveCmd(o, g())));
program
  .command('runner')
  .description('run items from the plan queues')
  .option('--concurrency <n>', 'items at once (capped at the CPU count)')
  // Checked as the flags are parsed: an empty list or entry is bad usage, a repeated name counts once.
  .addOption(new Option('--queues <names>', 'comma-separated plan queues to serve (default: all configured; a name given twice counts once)').argParser((v: string) => parseQueueList(v)))
  .addOption(metricsPortOption())
  .action(run(async (o: { concurrency?: string; queues?: string[]; metricsPort?: string }) => (await services()).runnerCmd(o, g())));
program
  .command('dashboard')
  .description('serve Bull Board at /queues')
  .option('--port <port>', 'port (default: config dashboard.port, 3000)')
  .option('--host <host>', 'bind address (default 127.0.0.1)')
  .action(run(async (o: { port?: string; host?: string }) => (await services()).dashboardCmd(o, g())));
program
  .command('dev')
  .description('embedded default: private Redis, scheduler, runners and dashboard in one process tree')
  .option('--runners <n>', 'runner processes', '2')
  // Checked as the flags are parsed: a bad port must fail before dev starts Redis and runners.
  .addOption(new Option('--port <port>', 'dashboard port').argParser((v: string) => String(parsePort(v))))
  .addOption(new Option('--concurrency <queue=N...>', 'global concurrency of a plan queue').argParser(collect))
  .action(run(async (o: { runners?: string; port?: string; concurrency?: string[] }) => (await services()).devCmd(o, g())));
registerExtraCommands(program, g, run);

// REDIS_URL_FILE, AGORA_API_KEY_FILE, AGORA_ADMIN_KEY_FILE: read before any verb looks. A problem
// here (or in an environment knob) stops every verb before it runs, but the checks (`health`,
// `doctor`) report it as they report any other, so their --json still prints JSON.
try {
  loadFileSecrets(process.env);
  const knobs = environmentKnobProblems(process.env);
  if (knobs.length > 0) throw new CliError(knobs.join('; '));
} catch (err) {
  startupError = err;
}
program.hook('preAction', (_root, action) => {
  if (startupError !== undefined && !(action.parent === program && ['health', 'doctor'].includes(action.name()))) throw startupError;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
  } else {
    if (err instanceof PlanValidationError) {
      process.stderr.write(`agora: ${err.message}\n`);
    } else {
      process.stderr.write(`agora: ${cliErrorMessage(err)}\n`);
    }
    exitCode = exitCodeFor(err);
  }
}
// Exit only after stdout is flushed: on a pipe, writes are asynchronous and a bare
// process.exit() would cut off the tail of `watch` output.
process.stdout.write('', () => process.exit(stdoutGone ? EXIT.ok : exitCode));
