import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { AgoraError, CONFIG_FILE_NAMES, configEnv, loadConfig, procStat, redactRedisUrl, type AgoraConfig } from '@agora/core';
import { isRedisPermissionError, redisPermissionMessage } from '@agora/state';

// Redis' refusal of a permission (NOPERM, also inside a script) and its explanation: libs/state, shared with the SDK.
export { isRedisPermissionError, redisPermissionMessage };

/** Exit codes shared by every verb (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The run failed or was cancelled, the plan is invalid, verification failed, a check is unhealthy. */
  failed: 1,
  /** Bad usage or input: unknown run, unreadable file, malformed JSON. */
  usage: 2,
  /** Infrastructure unavailable: Redis unreachable, or refusing our user (password, ACL permission). */
  unavailable: 3,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

export interface GlobalOpts {
  readonly config?: string;
  /**
   * What was wrong before the verb ran (an unreadable REDIS_URL_FILE, a bad AGORA_LOG_LEVEL): only
   * `health` and `doctor` run with one, to report it in their own shape; other verbs are stopped.
   */
  readonly startupError?: unknown;
}

/**
 * The file `agora dev` writes so other verbs find its Redis when REDIS_URL is unset: its pid, the
 * Redis URL with credentials masked (for people), and the dashboard. Mode 0600.
 */
export function devStatePath(config: AgoraConfig): string {
  return path.join(config.dataDir, 'dev.json');
}

/** The full Redis URL of `agora dev` (password included), apart from dev.json. Mode 0600. */
export function devRedisUrlPath(config: AgoraConfig): string {
  return path.join(config.dataDir, 'dev.redis-url');
}

/**
 * Writes `file` readable by its owner only. A new file is created with mode 0600 and renamed into
 * place, so no reader ever sees it torn, and no earlier, looser mode of `file` carries over.
 */
export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
}

/** Records a running `agora dev` for the other verbs. */
/**
 * Where `agora dev` leaves a pointer to itself for verbs run from other folders: one per user
 * (`$XDG_STATE_HOME/agora/dev.json`, else `~/.local/state/agora/dev.json`), mode 0600 in a 0700
 * folder, holding the Redis URL (password included) and the config file dev was started with.
 * The last `agora dev` started wins; each removes the pointer only if it is still its own.
 */
export function userDevStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'agora', 'dev.json');
}

/** The per-user pointer's content: input from a file another process wrote, so parsed. */
const userDevStateSchema = z.object({
  pid: z.number().int().positive(),
  redisUrl: z.string().min(1).max(4096),
  /** The config file `agora dev` loaded, or null when it ran on defaults in `configDir`. */
  configFile: z.string().max(4096).nullable(),
  configDir: z.string().max(4096),
  dashboard: z.string().max(4096),
});
type UserDevState = z.infer<typeof userDevStateSchema>;

/** The config file a verb would load in `cwd` (flag, AGORA_CONFIG, or one of CONFIG_FILE_NAMES), or undefined. */
function configFileFor(opts: GlobalOpts, cwd = process.cwd()): string | undefined {
  const chosen = opts.config ?? configEnv('AGORA_CONFIG') ?? CONFIG_FILE_NAMES.map((n) => path.join(cwd, n)).find((p) => existsSync(p));
  return chosen === undefined ? undefined : path.resolve(cwd, chosen);
}

export function writeDevState(config: AgoraConfig, redisUrl: string, dashboard: string, opts: GlobalOpts = {}): void {
  mkdirSync(config.dataDir, { recursive: true });
  writePrivateFile(devRedisUrlPath(config), `${redisUrl}\n`);
  // procStart: a later dev tells this process from another that reused its pid (see dev-owner.ts).
  writePrivateFile(devStatePath(config), JSON.stringify({ pid: process.pid, procStart: procStat(process.pid)?.start, redis: redactRedisUrl(redisUrl), dashboard }));
  try {
    const user = userDevStatePath();
    mkdirSync(path.dirname(user), { recursive: true, mode: 0o700 });
    const state: UserDevState = { pid: process.pid, redisUrl, configFile: configFileFor(opts) ?? null, configDir: config.configDir, dashboard };
    writePrivateFile(user, JSON.stringify(state));
  } catch {
    // No writable home (a locked-down container): verbs in this folder still find dev.json.
  }
}

export function removeDevState(config: AgoraConfig): void {
  // Only this process's own pointer files: another dev's must survive us.
  if (ownsDevState(config)) {
    rmSync(devStatePath(config), { force: true });
    rmSync(devRedisUrlPath(config), { force: true });
  }
  const own = readUserDevState();
  if (own?.pid === process.pid) rmSync(userDevStatePath(), { force: true });
}

/** What a data dir's dev.json says (written by writeDevState), or undefined when it is gone or does not parse. */
export function readDevState(file: string): { pid?: unknown; procStart?: unknown; dashboard?: unknown } | undefined {
  try {
    const state: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return state !== null && typeof state === 'object' ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the data dir's dev.json names this process (or is gone or unreadable). */
function ownsDevState(config: AgoraConfig): boolean {
  const pid = readDevState(devStatePath(config))?.pid;
  return pid === undefined || pid === process.pid;
}

/** The per-user pointer, when it parses; liveness is the caller's business. */
function readUserDevState(): UserDevState | undefined {
  try {
    const parsed = userDevStateSchema.safeParse(JSON.parse(readFileSync(userDevStatePath(), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The config a verb runs with. With REDIS_URL unset, a running `agora dev` is found: first through
 * the data dir's dev.json (dev started from this folder's config), then, for a verb run where no
 * config file is found (another folder), through the per-user pointer, whose config file and
 * Redis it then uses, so `agora status <run>` works from anywhere dev's runs are.
 */
export async function resolveConfig(opts: GlobalOpts): Promise<AgoraConfig> {
  const config = await loadConfig(opts.config);
  if (process.env['REDIS_URL'] !== undefined) return config;
  const devFile = devStatePath(config);
  if (existsSync(devFile)) {
    try {
      const dev = JSON.parse(readFileSync(devFile, 'utf8')) as { pid?: unknown };
      const redisUrl = readFileSync(devRedisUrlPath(config), 'utf8').trim();
      if (redisUrl !== '' && Number.isSafeInteger(dev.pid) && (dev.pid as number) > 0 && isAlive(dev.pid as number)) return { ...config, redisUrl };
    } catch {
      // stale, torn or foreign files: ignore
    }
  }
  if (configFileFor(opts) !== undefined) return config;
  const user = readUserDevState();
  if (!user || !isAlive(user.pid)) return config;
  const devConfig = user.configFile !== null && existsSync(user.configFile) ? await loadConfig(user.configFile) : await loadConfig(undefined, user.configDir);
  return { ...devConfig, redisUrl: user.redisUrl };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const REDIS_AUTH_RE = /^(?:ReplyError: )?(WRONGPASS|NOAUTH)\b/;

/** Redis refused the credentials on a command (a password rotated while we ran, a user disabled). */
function isRedisCommandAuthError(err: unknown): boolean {
  return err instanceof Error && !(err instanceof AgoraError) && REDIS_AUTH_RE.test(err.message);
}

/** The line a verb's error is printed as (`agora: <this>`): Redis' refusals are explained. */
export function cliErrorMessage(err: unknown): string {
  if (isRedisPermissionError(err)) return redisPermissionMessage(err);
  if (isRedisCommandAuthError(err)) return `Redis authentication failed: ${(err as Error).message.replace(/\.$/, '')} (check the password in REDIS_URL)`;
  return (err as { message?: string } | undefined)?.message ?? String(err);
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  // Redis is up but refuses this user (an ACL without a permission, credentials no longer valid): infrastructure, exit 3.
  if (isRedisPermissionError(err) || isRedisCommandAuthError(err)) return EXIT.unavailable;
  if (err instanceof AgoraError) {
    if (err.code === 'UNAVAILABLE') return EXIT.unavailable;
    if (err.code === 'PLAN_INVALID' || err.code === 'AUDIT') return EXIT.failed;
    return EXIT.usage;
  }
  return EXIT.failed;
}
