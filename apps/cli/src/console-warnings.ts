import { format } from 'node:util';
import type { Logger } from '@agora/core';

/**
 * A library's console warning (ioredis: "[WARN] This Redis server's `default` user does not
 * require a password…") goes through the logger: a long-running process's stderr stays one JSON
 * object per line (the services, the dashboard, the fleet autoscaler).
 */
export function logConsoleWarnings(log: Logger): void {
  console.warn = (...args: unknown[]) => log.warn({ source: 'console' }, format(...args));
}
