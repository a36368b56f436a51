/**
 * Error taxonomy. Two generic errors (`ValueError` for bad input, `IllegalStateError` for
 * misuse) plus domain errors that carry readonly context. Whether a failure should be retried
 * is data on the error (`retryable`), never an `instanceof` chain.
 */
export const ERROR_CODES = [
  'VALUE',
  'ILLEGAL_STATE',
  'PLAN_INVALID',
  'CONFIG_INVALID',
  'NOT_FOUND',
  'PROVIDER',
  'APPLICATION',
  'LOCK',
  'FENCED',
  'STORAGE',
  'CANCELLED',
  'TIMEOUT',
  'UNAVAILABLE',
  'AUDIT',
  /** A Lua script failed inside Redis (libs/core ScriptRegistry). */
  'SCRIPT',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AgoraErrorOptions {
  readonly cause?: unknown;
  /** Whether the operation may succeed if tried again. @default false */
  readonly retryable?: boolean;
}

export class AgoraError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: AgoraErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad input from a caller: a value that can never be accepted as it is. */
export class ValueError extends AgoraError {
  constructor(message: string, options: AgoraErrorOptions = {}) {
    super('VALUE', message, options);
  }
}

/** The API was used in a state that does not allow the call. */
export class IllegalStateError extends AgoraError {
  constructor(message: string, options: AgoraErrorOptions = {}) {
    super('ILLEGAL_STATE', message, options);
  }
}

export class NotFoundError extends AgoraError {
  constructor(message: string, options: AgoraErrorOptions = {}) {
    super('NOT_FOUND', message, options);
  }
}

/** A plan failed validation. `problems` lists every problem, each naming its item. */
export class PlanValidationError extends AgoraError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('PLAN_INVALID', `plan is invalid:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export class ConfigError extends AgoraError {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[], options: AgoraErrorOptions = {}) {
    super('CONFIG_INVALID', `config ${source} is invalid:\n  ${problems.join('\n  ')}`, options);
    this.problems = problems;
  }
}

/**
 * Infrastructure failure of a provider (image missing, scheduling, quota, command not found).
 * Retryable by default: the routing rule of seed 000 is that infra failures retry with back-off.
 */
export class ProviderError extends AgoraError {
  readonly provider: string;
  constructor(provider: string, message: string, options: AgoraErrorOptions = {}) {
    super('PROVIDER', message, { retryable: true, ...options });
    this.provider = provider;
  }
}

/** The last bytes a worker wrote, decoded as UTF-8 and scrubbed of secret values (for dead letters). */
export interface OutputTails {
  readonly stdoutTail: string;
  readonly stderrTail: string;
}

/** The worker ran and failed (non-zero exit). Not retried: the same input fails the same way. */
export class ApplicationError extends AgoraError {
  readonly exitCode: number | null;
  /** What the worker printed last, when it ran (the dead-letter record keeps it). */
  readonly output: OutputTails | undefined;
  constructor(message: string, exitCode: number | null, options: AgoraErrorOptions & { readonly output?: OutputTails } = {}) {
    super('APPLICATION', message, options);
    this.exitCode = exitCode;
    this.output = options.output;
  }
}

export class CancelledError extends AgoraError {
  constructor(message = 'cancelled', options: AgoraErrorOptions = {}) {
    super('CANCELLED', message, options);
  }
}

/**
 * An item ran out of its `timeoutMs` (its own or its task's) and its worker was stopped. Its
 * failure class is `timeout`: retried only when the item's retry policy lists it.
 */
export class TimeoutError extends AgoraError {
  readonly timeoutMs: number | null;
  constructor(message: string, timeoutMs: number | null, options: AgoraErrorOptions = {}) {
    super('TIMEOUT', message, options);
    this.timeoutMs = timeoutMs;
  }
}

export class StorageError extends AgoraError {
  constructor(message: string, options: AgoraErrorOptions = {}) {
    super('STORAGE', message, options);
  }
}

/**
 * A service the call needs (Redis) did not answer in time or refused our credentials. Retryable
 * by default: the same call may succeed once it is back (a refused password is not, and says so).
 * The CLI exits 3 on it; the HTTP API answers 503.
 */
export class UnavailableError extends AgoraError {
  constructor(message: string, options: AgoraErrorOptions = {}) {
    super('UNAVAILABLE', message, { retryable: true, ...options });
  }
}

/** A lock holder tried to act with a fencing token that is no longer the newest. */
export class FencedError extends AgoraError {
  readonly lock: string;
  readonly token: number;
  readonly newestToken: number;
  constructor(lock: string, token: number, newestToken: number) {
    super(
      'FENCED',
      `fencing token ${token} for lock "${lock}" is stale (newest is ${newestToken}); result rejected`,
    );
    this.lock = lock;
    this.token = token;
    this.newestToken = newestToken;
  }
}

/** Turn anything thrown into an Error, keeping the original as `cause`. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(err)}`, { cause: err });
  } catch {
    return new Error('non-error thrown', { cause: err });
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof AgoraError ? err.retryable : false;
}
