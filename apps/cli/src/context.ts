import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AgoraError, loadConfig, redactRedisUrl, type AgoraConfig } from '@agora/core';

/** Exit codes shared by every verb (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The run failed or was cancelled, the plan is invalid, verification failed, a check is unhealthy. */
  failed: 1,
  /** Bad usage or input: unknown run, unreadable file, malformed JSON. */
  usage: 2,
  /** Infrastructure unavailable: Redis unreachable. */
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
export function writeDevState(config: AgoraConfig, redisUrl: string, dashboard: string): void {
  mkdirSync(config.dataDir, { recursive: true });
  writePrivateFile(devRedisUrlPath(config), `${redisUrl}\n`);
  writePrivateFile(devStatePath(config), JSON.stringify({ pid: process.pid, redis: redactRedisUrl(redisUrl), dashboard }));
}

export function removeDevState(config: AgoraConfig): void {
  rmSync(devStatePath(config), { force: true });
  rmSync(devRedisUrlPath(config), { force: true });
}

export async function resolveConfig(opts: GlobalOpts): Promise<AgoraConfig> {
  const config = await loadConfig(opts.config);
  if (process.env['REDIS_URL'] === undefined) {
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
  }
  return config;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof AgoraError) {
    if (err.code === 'UNAVAILABLE') return EXIT.unavailable;
    if (err.code === 'PLAN_INVALID' || err.code === 'AUDIT') return EXIT.failed;
    return EXIT.usage;
  }
  return EXIT.failed;
}
