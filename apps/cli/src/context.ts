import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AgoraError, loadConfig, type AgoraConfig } from '@agora/core';

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

/** The file `agora dev` writes so other verbs find its private Redis when REDIS_URL is unset. */
export function devStatePath(config: AgoraConfig): string {
  return path.join(config.dataDir, 'dev.json');
}

export async function resolveConfig(opts: GlobalOpts): Promise<AgoraConfig> {
  const config = await loadConfig(opts.config);
  if (process.env['REDIS_URL'] === undefined) {
    const devFile = devStatePath(config);
    if (existsSync(devFile)) {
      try {
        const dev = JSON.parse(readFileSync(devFile, 'utf8')) as { redisUrl?: string; pid?: number };
        if (dev.redisUrl && dev.pid && isAlive(dev.pid)) return { ...config, redisUrl: dev.redisUrl };
      } catch {
        // stale or torn file: ignore
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
