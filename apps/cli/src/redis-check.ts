import { Redis } from 'ioredis';
import { UnavailableError, assertRedisUrl, redactRedisUrl } from '@agora/core';
import { isRedisAuthError, redisTlsOptions, sanitizeRedisError } from '@agora/state';

/**
 * Fails fast when Redis cannot be used: `ValueError` (exit 2) for a URL that does not parse,
 * `UnavailableError` (exit 3) when Redis does not answer or refuses the password. Messages show
 * the URL with its credentials masked, and never the URL itself when it does not parse.
 */
export async function assertRedisReachable(url: string, timeoutMs = 5000): Promise<void> {
  assertRedisUrl(url);
  // A client of its own (no retries, no reporting): this check says what went wrong itself.
  const r = new Redis(url, { ...redisTlsOptions(url), lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  let lastError: Error | undefined;
  r.on('error', (err: Error) => {
    sanitizeRedisError(err, r.options.password);
    lastError = err;
  });
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    sanitizeRedisError(err, r.options.password);
    const shown = redactRedisUrl(url);
    // A refused AUTH closes the connection: the command then fails with "Connection is closed",
    // and the reason is the error event before it.
    const auth = [err, lastError].find(isRedisAuthError) as Error | undefined;
    if (auth) {
      throw new UnavailableError(`Redis authentication failed at ${shown}: ${auth.message.replace(/\.$/, '')} (check the password in REDIS_URL)`, { retryable: false, cause: auth });
    }
    // A refused TLS handshake, too, shows only as "Connection is closed": name the reason.
    const reason = lastError && /Connection is closed/.test((err as Error).message) ? lastError : (err as Error);
    throw new UnavailableError(
      `cannot reach Redis at ${shown}: ${reason.message.replace(/\.$/, '')}. Start one (e.g. "agora dev") or set REDIS_URL.`,
      { cause: err },
    );
  } finally {
    r.disconnect();
  }
}
