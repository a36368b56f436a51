import { createRequire } from 'node:module';
import { pino, stdTimeFunctions, type DestinationStream, type LoggerOptions } from 'pino';
import type { Logger } from './providers.js';

/** Field names whose values are never written to a log line. */
const SECRET_KEY_RE = /(secret|password|passwd|token|api[-_]?key|authorization|credential|private[-_]?key|cookie)/i;

/** Replaces the values of secret-looking keys, recursively, so a log line cannot leak them. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY_RE.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'warn', 'error', 'silent']);

/** One of the log levels `AGORA_LOG_LEVEL` may name. */
export function isLogLevel(v: string): v is LogLevel {
  return LEVELS.has(v);
}

/**
 * pino's own redaction, by path: values under names the key rule above does not catch (a Redis
 * URL that may hold a password, a task's environment, a request's headers) and the usual secret
 * names. The recursive key rule (`redact`) runs on every object first, so a secret-looking key at
 * any depth is covered as before; these paths are the second net. No wildcards: a `*.x` path
 * costs pino ~10 µs on every line, and the runner logs one line per item.
 */
export const REDACT_PATHS: readonly string[] = [
  'password', 'secret', 'secrets', 'token', 'apiKey', 'authorization', 'credentials', 'privateKey',
  'redisUrl', 'config.redisUrl', 'env', 'task.env', 'spec.env', 'options.env',
  'headers.cookie', 'headers.authorization', 'req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]',
];

/** pino-pretty, loaded only when a terminal reads stderr (a service in production never loads it). */
function prettyStderr(): DestinationStream {
  const require = createRequire(import.meta.url);
  const { prettyFactory } = require('pino-pretty') as { prettyFactory: (o: object) => (line: string) => string };
  const prettify = prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (line: string) => void process.stderr.write(prettify(line)) };
}

/**
 * Lines for stderr gathered over one turn of the event loop and written together: on Linux a
 * write to a pipe or file is a system call per line, and a runner writes an `item ended` line for
 * every item (eight at a time end in one turn). Written at the latest when the process exits
 * (stderr is synchronous for pipes and files there) and once 256 lines wait.
 */
const stderrLines: string[] = [];
let stderrFlushHooked = false;
function flushStderrLines(): void {
  if (stderrLines.length === 0) return;
  const text = stderrLines.join('');
  stderrLines.length = 0;
  process.stderr.write(text);
}
function batchedStderr(): DestinationStream {
  if (!stderrFlushHooked) {
    stderrFlushHooked = true;
    process.on('exit', flushStderrLines);
  }
  return {
    write: (line: string) => {
      if (stderrLines.length === 0) setImmediate(flushStderrLines);
      stderrLines.push(line);
      if (stderrLines.length >= 256) flushStderrLines();
    },
  };
}

/**
 * The structured logger (pino): one JSON object per line on stderr (stdout belongs to command
 * output such as `watch`), or pino-pretty's lines when stderr is a terminal. Levels are written
 * as their names (`"level":"info"`), `time` as ISO-8601, no pid or hostname. Secret-looking fields
 * are redacted (the recursive key rule, then pino's `redact` paths). `write` receives each line
 * without its newline (tests capture lines through it; never pretty-printed). The default
 * destination writes the lines of one turn of the event loop together through
 * `process.stderr.write` (looked up when written, so whatever wraps that stream sees every line).
 */
export function createLogger(
  bindings: Record<string, unknown> = {},
  level: LogLevel = (process.env['AGORA_LOG_LEVEL'] as LogLevel | undefined) ?? 'info',
  write?: (line: string) => void,
): Logger {
  const options: LoggerOptions = {
    // An unknown AGORA_LOG_LEVEL is info, as before (pino would throw on it).
    level: LEVELS.has(level) ? level : 'info',
    base: null,
    timestamp: stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (b) => redact(b) as Record<string, unknown>,
      log: (obj) => redact(obj) as Record<string, unknown>,
    },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  };
  const dest: DestinationStream = write
    ? { write: (line: string) => write(line.endsWith('\n') ? line.slice(0, -1) : line) }
    : process.stderr.isTTY
      ? prettyStderr()
      : batchedStderr();
  const log = pino(options, dest).child(bindings);
  const emit = (lvl: 'debug' | 'info' | 'warn' | 'error', obj: object, msg?: string): void => {
    try {
      if (msg === undefined) log[lvl](obj);
      else log[lvl](obj, msg);
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
