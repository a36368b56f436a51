import { readFileSync } from 'node:fs';
import { ValueError } from './errors.js';

/**
 * Variables that may hold a secret and may instead be given as a file: `<NAME>_FILE` names a
 * file whose contents are the value (Docker and Kubernetes secrets mount such files, so the
 * secret is not in the container's environment for `docker inspect` to show).
 */
export const FILE_SECRET_NAMES = ['REDIS_URL', 'AGORA_API_KEY', 'AGORA_ADMIN_KEY'] as const;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A secret file larger than this is a mistake (a wrong path), not a secret. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * The value of secret variable `name`: `env[name]`, else the contents of the file `<name>_FILE`
 * names (one trailing newline dropped: files written by `echo` or an editor end with one).
 * Both set is refused (which one is meant?); an unreadable or oversized file is a ValueError
 * naming the variable and the path, never the contents. Undefined when neither is set.
 */
export function envSecret(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fileVar = `${name}_FILE`;
  const file = env[fileVar];
  const direct = env[name];
  if (file === undefined || file === '') return direct;
  if (direct !== undefined) throw new ValueError(`both ${name} and ${fileVar} are set; give one`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ValueError(`${fileVar}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (bytes.length > MAX_SECRET_FILE_BYTES) throw new ValueError(`${fileVar}: ${file} is ${bytes.length} bytes; a secret file holds at most ${MAX_SECRET_FILE_BYTES}`);
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    // Read with U+FFFD in place of such bytes, the secret would differ from the file's in
    // silence (a webhook's signatures, a password). Where the bad byte sits is not said: it is the secret's.
    throw new ValueError(`${fileVar}: ${file} is not UTF-8 text; a secret file holds the secret as UTF-8 text`);
  }
  return text.replace(/\r?\n$/, '');
}

/**
 * Resolves every `FILE_SECRET_NAMES` variable given as `<NAME>_FILE` into `env` itself, once at
 * a process's start (the CLI's), so every reader of `env.REDIS_URL` and the API keys sees it;
 * the `<NAME>_FILE` variable is then removed (the value is in `env`, and a child process given
 * this environment must not find both).
 * `REDIS_PASSWORD` (or `REDIS_PASSWORD_FILE`, the usual shape of a mounted secret) is put into
 * `REDIS_URL`, which then names the host and the user only (`redis://runner@redis:6379`); the
 * password is percent-encoded there, so it may hold any character. Both password variables are
 * then removed from `env`.
 */
export function loadFileSecrets(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of FILE_SECRET_NAMES) {
    const v = envSecret(name, env);
    // An empty AGORA_API_KEY is "no key" (a dashboard on loopback then serves its API open); an
    // empty key FILE is a secret that did not get written, not a wish for no key: refuse it.
    // (An empty REDIS_URL_FILE is refused where the URL is checked, as an empty REDIS_URL is.)
    if (v === '' && name !== 'REDIS_URL') throw new ValueError(`${name}_FILE: ${env[`${name}_FILE`]} is empty; it must hold the key`);
    if (v !== undefined && env[name] === undefined) {
      env[name] = v;
      // Applied once, as the password below: a child that inherits this environment (a `local`
      // fleet runner, `agora dev`'s runners) would otherwise see NAME and NAME_FILE both set,
      // refuse to start ("both … are set"), and the replica would die at once.
      delete env[`${name}_FILE`];
    }
  }
  const password = envSecret('REDIS_PASSWORD', env);
  if (password !== undefined) env['REDIS_URL'] = redisUrlWithPassword(env['REDIS_URL'], password);
  // Applied once: a later reader (an SDK client in this process) must not apply it again.
  delete env['REDIS_PASSWORD'];
  delete env['REDIS_PASSWORD_FILE'];
}

/**
 * The Redis URL the environment gives: `REDIS_URL` (or its file), with `REDIS_PASSWORD` (or its
 * file) put in when given. Undefined when there is no URL and no password.
 */
export function envRedisUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = envSecret('REDIS_URL', env);
  const password = envSecret('REDIS_PASSWORD', env);
  return password === undefined ? url : redisUrlWithPassword(url, password);
}

/** `redis+cluster://` or `rediss+cluster://` (any case), and what follows it. */
const CLUSTER_URL_RE = /^(rediss?\+cluster:\/\/)(.*)$/is;

/**
 * `url` with `password` in it; a ValueError when there is no URL, it is not one, or it has a
 * password already. Every URL form ioredis and the cluster client take gets it: `redis://…`,
 * the scheme-less `host:port` and `//host:port` (as `redis://`), a bare port (as
 * `redis://localhost:<port>`), and `redis+cluster://user@h1:p1,h2:p2` (which `URL` cannot parse:
 * several hosts). A unix socket path has no userinfo to carry it: refused, naming the fix.
 */
function redisUrlWithPassword(url: string | undefined, password: string): string {
  if (url === undefined || url === '') throw new ValueError('REDIS_PASSWORD is set but REDIS_URL is not: give REDIS_URL without its password (redis://user@host:6379)');
  const cluster = CLUSTER_URL_RE.exec(url);
  if (cluster !== null) return clusterUrlWithPassword(cluster[1]!, cluster[2]!, password);
  if (url.startsWith('/') && !url.startsWith('//')) {
    throw new ValueError('REDIS_PASSWORD is set but REDIS_URL is a unix socket path, which has no place for it: give the password in REDIS_URL (/path/redis.sock?password=…) or its file (REDIS_URL_FILE)');
  }
  // The forms ioredis reads as redis:// (see libs/core/src/redis-url.ts); `new URL('host:6379')`
  // would take "host:" as the scheme and drop the password silently.
  const full = /^\d+$/.test(url) ? `redis://localhost:${url}` : /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : url.startsWith('//') ? `redis:${url}` : `redis://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(full);
  } catch {
    throw new ValueError('REDIS_PASSWORD is set but REDIS_URL is not a URL');
  }
  // `?password=` is a password too: ioredis takes every query parameter as an option.
  if (parsed.password !== '' || parsed.searchParams.has('password')) throw new ValueError('both REDIS_PASSWORD and a password in REDIS_URL are given; give one');
  if (password === '') throw new ValueError('REDIS_PASSWORD is empty');
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/**
 * A cluster URL's userinfo ends at its last '@' (as `parseRedisClusterUrl` reads it); a lone word
 * there is the user here, as `redis://runner@redis:6379` names the user `runner`.
 */
function clusterUrlWithPassword(scheme: string, rest: string, password: string): string {
  const at = rest.lastIndexOf('@');
  const userinfo = at === -1 ? '' : rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon !== -1 && userinfo.slice(colon + 1) !== '') throw new ValueError('both REDIS_PASSWORD and a password in REDIS_URL are given; give one');
  if (password === '') throw new ValueError('REDIS_PASSWORD is empty');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  return `${scheme}${user}:${encodeURIComponent(password)}@${rest.slice(at + 1)}`;
}
