import { Redis } from 'ioredis';
import { AgoraError } from '@agora/core';

/** Fails fast, with the URL (password hidden), when Redis cannot be reached. */
export async function assertRedisReachable(url: string, timeoutMs = 5000): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    const shown = url.replace(/\/\/([^@/]*)@/, '//***@');
    throw new AgoraError(
      'UNAVAILABLE',
      `cannot reach Redis at ${shown}: ${(err as Error).message.replace(/\.$/, '')}. Start one (e.g. "agora dev") or set REDIS_URL.`,
      { cause: err },
    );
  } finally {
    r.disconnect();
  }
}
