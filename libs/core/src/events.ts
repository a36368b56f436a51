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
