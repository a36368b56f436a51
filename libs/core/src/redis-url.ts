import { ValueError } from './errors.js';

/**
 * Redis URLs, as ioredis reads them: `redis://[[user]:password@]host[:port][/db][?option=value…]`,
 * `rediss://…` for TLS, `//host…` and `host:port` (taken as `redis://`), a bare port, or a unix
 * socket path (`/run/redis.sock?db=2`). Every query parameter becomes a client option, so
 * `?password=` carries a password as surely as the userinfo does.
 */

/** Query parameters whose values are credentials (ioredis: `password`, `sentinelPassword`, …). */
const SECRET_PARAM_RE = /pass|secret|token|auth|key/i;

/** What is shown in place of a URL that cannot be parsed: any part of it could be a password. */
const UNPARSABLE = '<unparsable Redis URL>';

function redactQuery(query: URLSearchParams): string {
  const parts: string[] = [];
  for (const [k, v] of query) parts.push(`${encodeURIComponent(k)}=${SECRET_PARAM_RE.test(k) ? '***' : encodeURIComponent(v)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** The URL ioredis would parse for `url`, or null for a bare port or a unix socket path. */
function asUrl(url: string): URL | null {
  if (/^\d+$/.test(url)) return null;
  if (url.startsWith('/') && !url.startsWith('//')) return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return new URL(url);
  return new URL(url.startsWith('//') ? `redis:${url}` : `redis://${url}`);
}

/**
 * `url` with every credential replaced by `***`: the password of `user:password@` (the userinfo
 * ends at the LAST '@', so a password holding '@' is hidden whole), a lone `user@` (where a password
 * written without its ':' lands), and the values of `password`-like query parameters. Never throws;
 * a URL that does not parse is not shown at all.
 */
export function redactRedisUrl(url: string): string {
  try {
    if (url.startsWith('/') && !url.startsWith('//')) {
      const q = url.indexOf('?');
      return q === -1 ? url : url.slice(0, q) + redactQuery(new URLSearchParams(url.slice(q + 1)));
    }
    const u = asUrl(url);
    if (u === null) return url;
    const auth = u.password !== '' ? (u.username !== '' ? `${u.username}:***@` : '***@') : u.username !== '' ? '***@' : '';
    const path = u.pathname === '/' ? '' : u.pathname;
    return `${u.protocol}//${auth}${u.host}${path}${redactQuery(u.searchParams)}`;
  } catch {
    return UNPARSABLE;
  }
}

/**
 * Throws a `ValueError` unless ioredis can use `url`. The message never repeats the URL: a URL
 * that does not parse cannot be redacted reliably, and it may hold a password.
 */
export function assertRedisUrl(url: string, source = 'REDIS_URL'): void {
  const problem = redisUrlProblem(url);
  if (problem !== null) {
    throw new ValueError(
      `${source} is not a valid Redis URL (${problem}); expected redis://[[user]:password@]host[:port][/db], rediss://… for TLS, or a unix socket path. The value is not shown: it may hold a password.`,
    );
  }
}

function redisUrlProblem(url: string): string | null {
  if (url.trim() === '') return 'it is empty';
  let u: URL | null;
  try {
    u = asUrl(url);
  } catch {
    return 'it does not parse as a URL';
  }
  if (u === null) return /^\d+$/.test(url) && Number(url) > 65_535 ? 'the port is out of range' : null;
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return `the scheme is "${u.protocol.slice(0, 16)}", not redis: or rediss:`;
  if (u.hostname === '') return 'it names no host';
  if (!/^(\/\d*)?$/.test(u.pathname)) return 'the path must be a database number';
  return null;
}
