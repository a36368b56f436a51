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
/** Connections whose commands are the harness's own watching (polls, INFO), not a system's. */
const excluded = new Set<{ readonly stream?: unknown }>();

type ToWritable = (this: Command, socket: object) => string | Buffer;
const proto = Command.prototype as unknown as { toWritable: ToWritable; benchCounted?: boolean };
if (!proto.benchCounted) {
  proto.benchCounted = true;
  const original = proto.toWritable;
  proto.toWritable = function (this: Command, socket: object) {
    sent++;
    for (const c of excluded) {
      if (c.stream === socket) {
        excludedSent++;
        break;
      }
    }
    return original.call(this, socket);
  };
}

/** Commands this process has sent, less those of excluded connections. */
export function commandsSent(): number {
  return sent - excludedSent;
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
