import { Cluster, Redis } from 'ioredis';
import { UnavailableError, ValueError, assertRedisUrl, isRedisClusterUrl, parseRedisClusterUrl, redactRedisUrl } from '@agora/core';
import { isRedisAuthError, isRedisCluster, redisTlsOptions, sanitizeRedisError, type RedisClient } from '@agora/state';

/**
 * A client of its own for a one-off check (no retries, no reporting: the check says what went
 * wrong itself), of one Redis or of a Redis Cluster (`redis+cluster://…`). Lazy: call `connect()`.
 */
export function probeRedis(url: string, timeoutMs: number): RedisClient {
  assertRedisUrl(url);
  if (!isRedisClusterUrl(url)) {
    return new Redis(url, { ...redisTlsOptions(url), lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  }
  const c = parseRedisClusterUrl(url);
  return new Cluster(
    c.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
      slotsRefreshTimeout: timeoutMs,
      redisOptions: {
        ...redisTlsOptions(url),
        ...(c.username !== undefined ? { username: c.username } : {}),
        ...(c.password !== undefined ? { password: c.password } : {}),
        connectTimeout: timeoutMs,
        maxRetriesPerRequest: 0,
      },
    },
  );
}

function passwordOf(r: RedisClient): string | undefined {
  return isRedisCluster(r) ? r.options.redisOptions?.password : r.options.password;
}

/** The error of a one-node connection to a cluster URL's first seed, or undefined when it answers. */
async function seedError(url: string, timeoutMs: number): Promise<Error | undefined> {
  const c = parseRedisClusterUrl(url);
  const seed = c.nodes[0]!;
  const r = new Redis({
    host: seed.host,
    port: seed.port,
    ...redisTlsOptions(url),
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  let first: Error | undefined;
  r.on('error', (e: Error) => void (first ??= e));
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    const e = first ?? (err as Error);
    sanitizeRedisError(e, c.password);
    return e;
  } finally {
    r.disconnect();
  }
}

/** Node's codes for a server certificate it does not trust, and for one naming another host. */
const UNTRUSTED_CERT_CODES = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);

/** What to do about `reason`: Redis is up but its certificate is refused, or nothing answers. */
function unreachableHint(reason: Error, url: string): string {
  const code = (reason as { code?: unknown }).code;
  // A TLS client hello sent to a plain Redis gets no answer (Redis waits for a line that never
  // comes), so the only symptom is a timeout; "start one" would send the user looking elsewhere.
  if (code === 'ETIMEDOUT' && /^rediss(\+cluster)?:\/\//i.test(url)) {
    return 'A rediss:// URL speaks TLS, and nothing answered the TLS handshake: is that port serving TLS? A Redis without TLS takes redis://.';
  }
  if (typeof code === 'string' && UNTRUSTED_CERT_CODES.has(code)) {
    return 'The server certificate does not chain to a trusted CA: set AGORA_REDIS_CA_FILE to the PEM file of the CA that signed it.';
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'Use a host name in REDIS_URL that the server certificate names.';
  return 'Start one (e.g. "agora dev") or set REDIS_URL.';
}

/**
 * Fails fast when Redis cannot be used: `ValueError` (exit 2) for a URL that does not parse,
 * `UnavailableError` (exit 3) when Redis does not answer or refuses the password, or (a
 * cluster) when the cluster says it is not ok. Messages show the URL with its credentials
 * masked, and never the URL itself when it does not parse.
 */
export async function assertRedisReachable(url: string, timeoutMs = 5000, alsoCheck?: (r: RedisClient) => Promise<void>): Promise<void> {
  const r = probeRedis(url, timeoutMs);
  const seen: Error[] = [];
  const onError = (err: Error): void => {
    sanitizeRedisError(err, passwordOf(r));
    seen.push(err);
  };
  r.on('error', onError);
  // A cluster reports each seed node's failure here, and only "None of startup nodes is available" after them.
  if (isRedisCluster(r)) r.on('node error', onError);
  const shown = redactRedisUrl(url);
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    sanitizeRedisError(err, passwordOf(r));
    const lastError = seen.at(-1);
    // A refused AUTH closes the connection: the command then fails with "Connection is closed",
    // and the reason is the error event before it.
    const auth = [err, ...seen].find(isRedisAuthError) as Error | undefined;
    if (auth) {
      throw new UnavailableError(`Redis authentication failed at ${shown}: ${auth.message.replace(/\.$/, '')} (check the password in REDIS_URL)`, { retryable: false, cause: auth });
    }
    // A refused TLS handshake, too, shows only as "Connection is closed" (on a cluster, as "None
    // of startup nodes is available"): name the reason.
    let reason = lastError && /Connection is closed|None of startup nodes/.test((err as Error).message) ? lastError : (err as Error);
    // A cluster client keeps its seeds' own errors to itself ("Failed to refresh slots cache",
    // "Connection is closed"): ask the first seed alone, which names a refused connection or certificate.
    if (isRedisClusterUrl(url) && /Failed to refresh slots cache|Connection is closed|None of startup nodes/.test(reason.message)) {
      reason = (await seedError(url, timeoutMs)) ?? reason;
    }
    throw new UnavailableError(`cannot reach Redis at ${shown}: ${reason.message.replace(/\.$/, '')}. ${unreachableHint(reason, url)}`, { cause: err });
  }
  try {
    // ioredis reports a refused SELECT of the URL's database as an 'error' event and goes on in
    // database 0: a verb would write and read another deployment's keys. Select it here, where
    // the refusal can be told (REDIS_URL names a database this Redis does not have: bad input).
    const db = isRedisCluster(r) ? 0 : (r.options.db ?? 0);
    if (db !== 0) {
      await r.select(db).catch((err: unknown) => {
        sanitizeRedisError(err, passwordOf(r));
        if (!/DB index is out of range/i.test((err as Error).message)) throw err;
        throw new ValueError(`REDIS_URL names database ${db}, which the Redis at ${shown} does not have (${(err as Error).message}); use a database number below its "databases" setting (16 by default)`);
      });
    }
    if (isRedisCluster(r)) {
      // Reachable nodes whose cluster lost slots refuse every command on them (CLUSTERDOWN).
      const state = /cluster_state:(\w+)/.exec(String(await r.cluster('INFO')))?.[1] ?? 'unknown';
      if (state !== 'ok') throw new UnavailableError(`the Redis Cluster at ${shown} is not serving: cluster_state is "${state}"`);
    }
    await alsoCheck?.(r);
  } finally {
    r.disconnect();
  }
}
