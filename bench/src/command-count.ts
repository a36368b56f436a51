/**
 * Counts the Redis commands this process sends, as a client sees them: one EVALSHA (or FCALL) is
 * one command however many redis.call()s its script makes; each command of a pipeline or MULTI
 * counts; a command re-sent after a reconnect counts again (it was sent twice).
 *
 * Why client-side: on Redis 7.0 both `INFO stats` total_commands_processed and every
 * `INFO commandstats` calls= counter also count the calls a Lua script makes (checked on this
 * machine's 7.0.15: after EVAL of a script making 3 calls, EVALSHA making 2 and FCALL making 1,
 * commandstats showed eval=1 evalsha=1 fcall=1 plus set/incr/get for the 6 inner calls, and the
 * total rose by 3 + 6), and no 7.0 counter (SLOWLOG included: it logs inner calls under client
 * "?:0") tells top-level commands apart without keeping one entry per command. ioredis calls
 * `Command#toWritable` exactly once for every command it writes to a socket (single commands,
 * each queued command of a pipeline or transaction, the EVAL fallback after NOSCRIPT), so
 * wrapping it counts what clients send at the cost of one increment. The bench cross-checks the
 * count against the server's total (which must be larger by the scripts' inner calls), and
 * `BENCH_VERIFY_COMMANDS=1` compares it with a MONITOR of the same window (MONITOR marks the calls
 * scripts make with source "lua").
 */
import { Command } from 'ioredis';

let sent = 0;
let excludedSent = 0;
/**
 * BENCH_COMMAND_NAMES=1: counts by kind too. A script call is told apart by its key count and the
 * shape of its first key (ids and hex replaced by #), as the BENCH_SLOWLOG aid does; off by
 * default, since it costs a string per command.
 */
const byKind = process.env['BENCH_COMMAND_NAMES'] ? new Map<string, number>() : null;
function kindOf(c: Command): string {
  const args = c.args;
  if (c.name !== 'evalsha' && c.name !== 'eval' && c.name !== 'fcall') return c.name;
  const first = args[2] === undefined ? '' : String(args[2] as string).replace(/[0-9a-f]{8,}|\d+/g, '#');
  return `${c.name}/${String(args[1] as string)} ${first}`;
}
/** Connections whose commands are the harness's own watching (polls, INFO), not a system's. */
const excluded = new Set<{ readonly stream?: unknown }>();

type ToWritable = (this: Command, socket: object) => string | Buffer;
const proto = Command.prototype as unknown as { toWritable: ToWritable; benchCounted?: boolean };
if (!proto.benchCounted) {
  proto.benchCounted = true;
  const original = proto.toWritable;
  proto.toWritable = function (this: Command, socket: object) {
    sent++;
    let probe = false;
    for (const c of excluded) {
      if (c.stream === socket) {
        excludedSent++;
        probe = true;
        break;
      }
    }
    if (byKind && !probe) {
      const k = kindOf(this);
      byKind.set(k, (byKind.get(k) ?? 0) + 1);
    }
    return original.call(this, socket);
  };
}

/** Commands this process has sent, less those of excluded connections. */
export function commandsSent(): number {
  return sent - excludedSent;
}

/** With BENCH_COMMAND_NAMES: counts by command kind (probe excluded); otherwise null. */
export function commandsByKind(): Record<string, number> | null {
  return byKind ? Object.fromEntries(byKind) : null;
}

/** Commands the excluded (probe) connections have sent. */
export function probeCommandsSent(): number {
  return excludedSent;
}

/**
 * Marks a connection as the harness's probe: its commands are not a system's cost. Compared by
 * socket (`stream`), which ioredis passes to toWritable for single and pipelined commands alike.
 */
export function excludeFromCount(client: { readonly stream?: unknown }): void {
  excluded.add(client);
}
