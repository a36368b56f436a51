import { DeliveryDeadLetterStore, type DeliveryDeadLetter } from '@agora/deliveries';
import { createRedis } from '@agora/state';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable } from '../redis-check.js';

/** Most records one listing asks for, as `agora dlq list` and `agora cache list`. */
const MAX_LIMIT = 9_999_999;

/** One line per delivery dead letter: id, what, where (host only), status, tries, when, error. */
function line(l: DeliveryDeadLetter): string {
  const what = `${l.type} ${l.runId}${l.itemId !== undefined ? `/${l.itemId}` : ''}`;
  // One line per letter: a third-party provider's error may hold line breaks.
  return `${l.id}  ${l.kind}:${l.target}  ${what}  ${l.host || '-'}  ${l.status ?? 'no answer'}  attempts ${l.attempts}  ${l.failedAt}  ${l.error.replace(/\s+/g, ' ').slice(0, 160)}\n`;
}

/** `agora dlq deliveries [--limit n] [--json]`: webhook deliveries that failed for good, newest first. */
export async function dlqDeliveriesCmd(opts: { json?: boolean; limit?: string }, g: GlobalOpts): Promise<number> {
  const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
  // The bound and the words of the other lists (dlq list, cache list, GET /api/dlq).
  if (!/^[0-9]+$/.test(opts.limit ?? '1') || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new CliError(`--limit must be an integer from 1 to ${MAX_LIMIT}, got ${JSON.stringify(opts.limit)}`);
  }
  const config = await resolveConfig(g);
  await assertRedisReachable(config.redisUrl);
  const redis = createRedis(config.redisUrl);
  try {
    const letters = await new DeliveryDeadLetterStore(redis, config.namespace).list(limit);
    if (opts.json) process.stdout.write(JSON.stringify({ deliveries: letters }, null, 2) + '\n');
    else if (letters.length === 0) process.stdout.write('no delivery dead letters\n');
    else for (const l of letters) process.stdout.write(line(l));
    return EXIT.ok;
  } finally {
    await redis.quit().catch(() => undefined);
  }
}
