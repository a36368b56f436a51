import { ValueError } from './errors.js';

/** Item states, in lifecycle order. Terminal: done, failed, skipped, cancelled. */
export const ITEM_STATES = ['waiting', 'queued', 'running', 'done', 'failed', 'skipped', 'cancelled'] as const;
export type ItemState = (typeof ITEM_STATES)[number];

export const TERMINAL_ITEM_STATES: ReadonlySet<string> = new Set(['done', 'failed', 'skipped', 'cancelled']);

export const RUN_STATES = ['submitted', 'accepted', 'running', 'succeeded', 'failed', 'cancelled', 'rejected'] as const;
export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_RUN_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

/**
 * One entry of a run's event stream, exactly as it is hashed for audit.
 * `seq` is contiguous from 0 within a run.
 */
export interface AgoraEvent {
  readonly runId: string;
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly itemId?: string;
  readonly state?: string;
  readonly resultRef?: string;
  readonly [field: string]: unknown;
}

export function isTerminalItemState(s: string | null | undefined): boolean {
  return s != null && TERMINAL_ITEM_STATES.has(s);
}

export function isTerminalRunState(s: string | null | undefined): boolean {
  return s != null && TERMINAL_RUN_STATES.has(s);
}

/** The fields of an event the stream assigns itself; a caller's event body may not carry them. */
const STREAM_FIELDS = new Set(['seq', 'runId', 'at']);

/** An event as a caller hands it to the state library: its type and its own fields. */
export type EventBody = { readonly type: string } & Readonly<Record<string, unknown>>;

function wellFormed(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ValueError(`event field holds ${value}, which JSON cannot carry`);
  if (typeof value === 'bigint') throw new ValueError('event field holds a bigint, which JSON cannot carry');
  return value;
}

/**
 * Encodes an event body as one JSON object text, the only way TypeScript hands an event to the
 * Lua scripts (which put `seq`, `runId` and `at` in front of it). Validated first: a plain object
 * with a string `type` and none of the stream's own fields. Strings are made well-formed (a lone
 * surrogate becomes U+FFFD) because RFC 8785 cannot encode a lone surrogate and an event that
 * cannot be canonicalised can never be sealed.
 */
export function encodeEventBody(body: EventBody): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.getPrototypeOf(body) !== Object.prototype) {
    throw new ValueError('an event body must be a plain object');
  }
  if (typeof body.type !== 'string' || body.type === '') throw new ValueError('an event body needs a string "type"');
  for (const k of Object.keys(body)) {
    if (STREAM_FIELDS.has(k)) throw new ValueError(`an event body may not set "${k}": the stream assigns it`);
  }
  return JSON.stringify(body, wellFormed);
}
