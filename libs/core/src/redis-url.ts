import { ValueError } from './errors.js';

/**
 * Redis URLs, as ioredis reads them: `redis://[[user]:password@]host[:port][/db][?option=value…]`,
 * `rediss://…` for TLS, `//host…` and `host:port` (taken as `redis://`), a bare port, or a unix
 * socket path (`/run/redis.sock?db=2`). Every query parameter becomes a client option, so
 * `?password=` carries a password as surely as the userinfo does.
 *
 * And ours for a Redis Cluster, which ioredis has no URL for:
 * `redis+cluster://[[user]:password@]host1:port1,host2:port2[/0]` (`rediss+cluster://` for TLS),
 * the hosts being seed nodes (any reachable one tells the client the rest of the cluster).
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

/** `redis+cluster://` or `rediss+cluster://`, any case. */
const CLUSTER_SCHEME_RE = /^(rediss?)\+cluster:\/\//i;

/** One seed node: a host name, an IPv4 address or a bracketed IPv6 address, then an optional port. */
const SEED_NODE_RE = /^(?:(\[[0-9A-Fa-f:.]+\])|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?))(?::(\d{1,5}))?$/;

/** The port of a Redis node written without one. */
const DEFAULT_REDIS_PORT = 6379;

/** A seed node of a Redis Cluster. */
export interface RedisClusterNode {
  /** Host name or address; an IPv6 address without its brackets. */
  readonly host: string;
  readonly port: number;
}

/** What a `redis+cluster://` URL says: seed nodes and the credentials and TLS shared by every node. */
export interface RedisClusterUrl {
  /** `rediss+cluster://`: every node is reached over TLS. */
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly nodes: readonly RedisClusterNode[];
}

/** Whether `url` names a Redis Cluster (`redis+cluster://…` or `rediss+cluster://…`), valid or not. */
export function isRedisClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME_RE.test(url);
}

/** A cluster URL cut at its parts; userinfo ends at the LAST '@' (hosts and the path hold none). */
function splitClusterUrl(url: string): { scheme: string; userinfo: string | null; hosts: string; path: string; query: string } {
  const m = CLUSTER_SCHEME_RE.exec(url)!;
  const scheme = `${m[1]!.toLowerCase()}+cluster:`;
  let rest = url.slice(m[0].length);
  const at = rest.lastIndexOf('@');
  const userinfo = at === -1 ? null : rest.slice(0, at);
  rest = at === -1 ? rest : rest.slice(at + 1);
  const q = rest.indexOf('?');
  const query = q === -1 ? '' : rest.slice(q + 1);
  if (q !== -1) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  return { scheme, userinfo, hosts: slash === -1 ? rest : rest.slice(0, slash), path: slash === -1 ? '' : rest.slice(slash), query };
}

/** Seed node `i` (1-based) of `hosts`, or the reason it is not one (never echoing the text: it could hold a mistyped password). */
function parseSeedNode(text: string, i: number): RedisClusterNode | string {
  const m = SEED_NODE_RE.exec(text);
  if (m === null) return text === '' ? `seed node ${i} is empty` : `seed node ${i} is not host[:port]`;
  const port = m[3] === undefined ? DEFAULT_REDIS_PORT : Number(m[3]);
  if (port < 1 || port > 65_535) return `seed node ${i}: the port is out of range`;
  return { host: m[1] !== undefined ? m[1].slice(1, -1) : m[2]!, port };
}

function clusterUrlProblem(url: string): string | null {
  const p = splitClusterUrl(url);
  if (p.query !== '') return 'a cluster URL takes no ?options';
  if (!/^(\/0?)?$/.test(p.path)) return 'a cluster has only database 0';
  if (p.hosts === '') return 'it names no seed node';
  if (p.userinfo !== null) {
    try {
      decodeURIComponent(p.userinfo);
    } catch {
      return 'the credentials are not properly percent-encoded';
    }
  }
  const nodes = p.hosts.split(',');
  for (let i = 0; i < nodes.length; i++) {
    const n = parseSeedNode(nodes[i]!, i + 1);
    if (typeof n === 'string') return n;
  }
  return null;
}

/**
 * The seed nodes, credentials and TLS of a `redis+cluster://` URL. Throws a `ValueError` (from
 * `assertRedisUrl`: the URL is not repeated) when it is not a valid one.
 */
export function parseRedisClusterUrl(url: string, source = 'REDIS_URL'): RedisClusterUrl {
  if (!isRedisClusterUrl(url)) throw new ValueError(`${source} is not a Redis Cluster URL: expected redis+cluster://host1:port1,host2:port2`);
  assertRedisUrl(url, source);
  const p = splitClusterUrl(url);
  const nodes = p.hosts.split(',').map((h, i) => parseSeedNode(h, i + 1) as RedisClusterNode);
  let username: string | undefined;
  let password: string | undefined;
  if (p.userinfo !== null) {
    // As ioredis reads `redis://` userinfo: `user:pass`, `:pass`, and a lone word is a password.
    const colon = p.userinfo.indexOf(':');
    const user = colon === -1 ? '' : decodeURIComponent(p.userinfo.slice(0, colon));
    const pass = decodeURIComponent(colon === -1 ? p.userinfo : p.userinfo.slice(colon + 1));
    if (user !== '') username = user;
    if (pass !== '') password = pass;
  }
  return { tls: p.scheme === 'rediss+cluster:', nodes, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

/** The `redis+cluster://` URL of seed nodes written `host:port` (the config's `redis.cluster`). */
export function redisClusterUrl(nodes: readonly string[], opts: { tls?: boolean } = {}): string {
  return `${opts.tls === true ? 'rediss' : 'redis'}+cluster://${nodes.join(',')}`;
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
    if (isRedisClusterUrl(url)) {
      const p = splitClusterUrl(url);
      const auth = p.userinfo === null ? '' : p.userinfo.includes(':') && !p.userinfo.startsWith(':') ? `${p.userinfo.slice(0, p.userinfo.indexOf(':'))}:***@` : '***@';
      return `${p.scheme}//${auth}${p.hosts}${p.path}${p.query === '' ? '' : redactQuery(new URLSearchParams(p.query))}`;
    }
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
  let problem = redisUrlProblem(url);
  // REDIS_URL_FILE's contents become REDIS_URL at start: an empty file is reported here, and a
  // user who set only REDIS_URL_FILE must see it named.
  if (problem === 'it is empty' && source === 'REDIS_URL') problem = 'it is empty: REDIS_URL, or the file REDIS_URL_FILE names, holds nothing';
  if (problem !== null) {
    throw new ValueError(
      `${source} is not a valid Redis URL (${problem}); expected redis://[[user]:password@]host[:port][/db], rediss://… for TLS, a unix socket path, or redis+cluster://[[user]:password@]host1:port1,host2:port2 for a Redis Cluster. The value is not shown: it may hold a password.`,
    );
  }
}

function redisUrlProblem(url: string): string | null {
  if (url.trim() === '') return 'it is empty';
  if (isRedisClusterUrl(url)) return clusterUrlProblem(url);
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1];
  if (authority?.slice(authority.lastIndexOf('@') + 1).includes(',')) return 'it names several hosts: a Redis Cluster URL starts with redis+cluster://';
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
