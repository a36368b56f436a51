import type { Logger } from './providers.js';

/** Field names whose values are never written to a log line. */
const SECRET_KEY_RE = /(secret|password|passwd|token|api[-_]?key|authorization|credential)/i;

/** Replaces the values of secret-looking keys, recursively, so a log line cannot leak them. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY_RE.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A small structured logger: one JSON object per line on stderr (stdout belongs to command
 * output such as `watch`). Secret-looking fields are redacted.
 */
export function createLogger(
  bindings: Record<string, unknown> = {},
  level: LogLevel = (process.env['AGORA_LOG_LEVEL'] as LogLevel | undefined) ?? 'info',
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  const min = ORDER[level] ?? ORDER.info;
  const emit = (lvl: Exclude<LogLevel, 'silent'>, obj: object, msg?: string): void => {
    if (ORDER[lvl] < min) return;
    const rec = { level: lvl, time: new Date().toISOString(), ...bindings, ...(redact(obj) as object), ...(msg ? { msg } : {}) };
    try {
      write(JSON.stringify(rec));
    } catch {
      // A logger must never take its caller down.
    }
  };
  return {
    debug: (o, m) => emit('debug', o, m),
    info: (o, m) => emit('info', o, m),
    warn: (o, m) => emit('warn', o, m),
    error: (o, m) => emit('error', o, m),
  };
}
