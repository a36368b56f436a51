import type { Command } from 'commander';
import type { GlobalOpts } from '../context.js';

type Run = (fn: (...a: never[]) => Promise<number>) => (...args: unknown[]) => Promise<void>;

/** Operational verbs: doctor, tasks (and audit, locks, dlq as they land). */
export function registerExtraCommands(program: Command, g: () => GlobalOpts, run: Run): void {
  program
    .command('doctor')
    .description('check Redis and the health of every configured provider; exit 1 if any is unhealthy')
    .option('--json', 'print the checks as JSON')
    .action(run(async (o: { json?: boolean }) => (await import('./doctor.js')).doctorCmd(o, g())));
  program
    .command('health')
    .description('container healthcheck: Redis answers (and, with --runner, a runner on this host has a fresh heartbeat; with --url, GET answers 200); exit 3 if not')
    .option('--runner', 'also require a live runner registered from this host (AGORA_HOST or the host name)')
    .option('--url <url>', 'also require GET <url> to answer 200, e.g. http://127.0.0.1:3000/healthz')
    .option('--timeout <ms>', 'per check (default 4000)')
    .option('--json', 'print { healthy, problems } on stdout (the exit code is the same)')
    .action(run(async (o: { runner?: boolean; url?: string; timeout?: string; json?: boolean }) => (await import('./health.js')).healthCmd(o, g())));
  program
    .command('audit')
    .argument('<args...>', '<run> | verify <bundle.json> | prove <run> <seq> | verify-proof <proof.json> | pubkey')
    .option('--out <file>', 'write the bundle to a file (the report is printed)')
    .option('--key <vkey>', 'verify, verify-proof: the signer must be this verifier key')
    .option('--json', 'print JSON (the bundle, report and proof are JSON anyway; pubkey prints { vkey })')
    .description('evidence bundle of a run (exit 1 if it does not verify), offline verification, inclusion proofs, the verifier key')
    .action(run(async (a: string[], o: { out?: string; key?: string; json?: boolean }) => (await import('./audit.js')).auditCmd(a, o, g())));
  program
    .command('locks')
    .description('list held resource locks (holder, fencing token, lease left) and their waiters in order')
    .option('--json', 'print as JSON')
    .action(run(async (o: { json?: boolean }) => (await import('./locks.js')).locksCmd(o, g())));
  const dlq = program.command('dlq').description('dead letters: items that failed for good, with what it takes to look into them and run them again');
  dlq
    .command('list')
    .description('dead letters, newest first: id, error type, time, attempts, replay, error')
    .option('--run <run>', 'only this run\'s')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--json', 'print the records as JSON')
    .action(run(async (o: { run?: string; limit?: string; json?: boolean }) => (await import('./dlq.js')).dlqListCmd(o, g())));
  dlq
    .command('deliveries')
    .description('webhook deliveries (result sinks, notifications) that failed for good, newest first: id, target, subject, host, status, attempts, time, error')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--json', 'print the records as JSON')
    .action(run(async (o: { limit?: string; json?: boolean }) => (await import('./dlq-deliveries.js')).dlqDeliveriesCmd(o, g())));
  dlq
    .command('show')
    .argument('<id>', 'dead letter id (<runId>.<itemId>)')
    .description('one record as JSON: inputs, error, exit code, output tails, dependencies\' results, replay')
    .option('--json', 'accepted for uniformity: the answer is always JSON')
    .action(run(async (id: string) => (await import('./dlq.js')).dlqShowCmd(id, g())));
  dlq
    .command('replay')
    .argument('[id]', 'dead letter id (<runId>.<itemId>)')
    .option('--run <run>', 'replay this run\'s dead letters (those not replayed yet)')
    .option('--all', 'with --run: every dead letter of the run, replayed ones too')
    .option('--force', 'replay a letter that was replayed already')
    .option('--json', 'print the new run, letters and items as JSON')
    .description('run dead items again in a new run linked to the original; prints the new run id')
    .action(run(async (id: string | undefined, o: { run?: string; all?: boolean; force?: boolean; json?: boolean }) => (await import('./dlq.js')).dlqReplayCmd(id, o, g())));
  dlq
    .command('purge')
    .argument('[id]', 'dead letter id (<runId>.<itemId>)')
    .option('--run <run>', 'every dead letter of this run')
    .option('--all', 'every dead letter')
    .option('--json', 'print { purged }')
    .description('delete dead letters; prints how many')
    .action(run(async (id: string | undefined, o: { run?: string; all?: boolean; json?: boolean }) => (await import('./dlq.js')).dlqPurgeCmd(id, o, g())));
  program
    .command('rerun')
    .argument('<run>', 'run id of an ended run')
    .option('--from-failed', 'reuse every item that ended done; execute only what failed, was skipped or cancelled (and what depends on a changed result)')
    .option('--json', 'print { runId, rerunOf, fromFailed }')
    .description("a new run of the run's plan that reuses the results of unchanged items that ended done; prints the new run id")
    .action(run(async (r: string, o: { fromFailed?: boolean; json?: boolean }) => (await import('./rerun.js')).rerunCmd(r, o, g())));
  const cache = program.command('cache').description('the memo cache of memoize items: key -> the earlier done item whose result it reuses');
  cache
    .command('list')
    .description('memo entries, newest first: key, run/item, time, resultRef')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--json', 'print { entries }')
    .action(run(async (o: { limit?: string; json?: boolean }) => (await import('./rerun.js')).cacheListCmd(o, g())));
  cache
    .command('purge')
    .argument('[keys...]', 'memo keys (64 hex digits)')
    .option('--all', 'every entry')
    .option('--json', 'print { purged }')
    .description('delete memo entries (their items execute again next time); prints how many')
    .action(run(async (k: string[], o: { all?: boolean; json?: boolean }) => (await import('./rerun.js')).cachePurgeCmd(k, o, g())));
  program
    .command('replay')
    // Optional to commander so that a bundle swallowed by the variadic --item is named as such
    // by replayCmd, not reported as a missing argument the user did give.
    .argument('[bundle]', "a sealed run's evidence bundle (agora audit <run> --out bundle.json)")
    .option('--item <id...>', 'only these items (repeatable; default: every dispatch item that ended done)')
    .option('--key <vkey>', 'the bundle must be signed with this verifier key (as agora audit verify --key)')
    .option('--plan <file>', "the run's plan, for a run accepted before plans were recorded in storage")
    .option('--json', 'print the reproducibility report as one JSON object')
    .description("verify a sealed run's bundle, execute its dispatch items again in isolation, and report per item whether the output hash equals the sealed one; exit 1 if any differs")
    .action(run(async (f: string | undefined, o: { item?: string[]; key?: string; plan?: string; json?: boolean }) => (await import('./replay.js')).replayCmd(f, o, g())));
  const fleet = program.command('fleet').description('runner fleets: replicas of `agora runner` kept by a provider (local processes, Docker containers, an ECS service)');
  fleet
    .command('status')
    .description('per fleet: desired, running and healthy replicas (healthy: its runner is registered in Redis), and the runners registered')
    .option('--provider <name>', 'only this fleet (a key of the config\'s "fleet")')
    .option('--json', 'print { fleets, registered } as one JSON line')
    .action(run(async (o: { provider?: string; json?: boolean }) => (await import('./fleet.js')).fleetStatusCmd(o, g())));
  fleet
    .command('scale')
    .argument('<n>', 'replicas, 0-1000 (capped per host at max(1, min(vcpu, n)); 0 stops them all)')
    .option('--provider <name>', 'the fleet to scale (default: the only one configured)')
    .option('--json', 'print the fleet\'s status as JSON')
    .description('set the replica count of a fleet; stopped runners hand their items back')
    .action(run(async (n: string, o: { provider?: string; json?: boolean }) => (await import('./fleet.js')).fleetScaleCmd(n, o, g())));
  fleet
    .command('list')
    .description('every replica of every fleet: fleet, provider, id, state, host, start time')
    .option('--provider <name>', 'only this fleet')
    .option('--json', 'print { replicas } as JSON')
    .action(run(async (o: { provider?: string; json?: boolean }) => (await import('./fleet.js')).fleetListCmd(o, g())));
  for (const verb of ['start', 'stop'] as const) {
    fleet
      .command(verb)
      .description(verb === 'start' ? 'bring a fleet to its configured replicas (options.replicas, through the count cap)' : 'stop every replica of a fleet and wait for them to exit')
      .option('--provider <name>', 'the fleet (default: the only one configured)')
      .option('--json', 'print the fleet\'s status as JSON')
      .action(run(async (o: { provider?: string; json?: boolean }) => (await import('./fleet.js')).fleetStartStopCmd(verb, o, g())));
  }
  fleet
    .command('autoscale')
    .description('keep a fleet\'s replicas within fleet.<name>.autoscale bounds from the depth of its queues, every intervalMs')
    .option('--provider <name>', 'the fleet (default: the only one configured)')
    .option('--once', 'decide once and exit')
    .option('--json', 'print each decision { fleet, waiting, active, from, to } as a JSON line')
    .action(run(async (o: { provider?: string; once?: boolean; json?: boolean }) => (await import('./fleet.js')).fleetAutoscaleCmd(o, g())));
  const tasks = program.command('tasks').description('task definitions registered in storage (content-addressed)');
  tasks
    .command('register')
    .argument('<name>', 'task name')
    .argument('<file>', 'task definition JSON (command or image, env, secretRefs, target, resources, timeoutMs)')
    .description('store a task definition; prints its pinned URI agora://<ns>/task/<name>/<sha256>')
    .option('--json', 'print { name, uri }')
    .action(run(async (n: string, f: string, o: { json?: boolean }) => (await import('./tasks.js')).tasksRegisterCmd(n, f, g(), o)));
  tasks
    .command('list')
    .description('registered tasks and their latest pinned URI')
    .option('--json', 'print [{ name, uri, source }] (source: "storage" or "config")')
    .action(run(async (o: { json?: boolean }) => (await import('./tasks.js')).tasksListCmd(g(), o)));
  tasks
    .command('show')
    .argument('<task>', 'task name or pinned URI')
    .description('print the definition a name or URI resolves to, as JSON')
    .option('--json', 'accepted for uniformity: the answer is always JSON')
    .action(run(async (t: string) => (await import('./tasks.js')).tasksShowCmd(t, g())));
}
