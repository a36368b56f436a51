import { format } from 'node:util';
import type { Logger } from '@agora/core';

/**
 * A library's console warning (ioredis: "[WARN] This Redis server's `default` user does not
 * require a password…") goes through the logger: a long-running process's stderr stays one JSON
 * object per line (the services, the dashboard, the fleet autoscaler). A getter makes the logger
 * only when a warning comes (the CLI's, before its environment knobs are checked).
 */
export function logConsoleWarnings(log: Logger | (() => Logger)): void {
  console.warn = (...args: unknown[]) => (typeof log === 'function' ? log() : log).warn({ source: 'console' }, format(...args));
}
