import { randomBytes } from 'node:crypto';

/**
 * Run ids sort by creation time: 10 base-36 chars of milliseconds, then 8 random hex chars.
 * They never contain ':' (BullMQ refuses ':' in custom job ids).
 */
export function newRunId(now: number = Date.now()): string {
  return `r${now.toString(36).padStart(10, '0')}${randomBytes(4).toString('hex')}`;
}

export const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isRunId(s: string): boolean {
  return RUN_ID_RE.test(s);
}

/** BullMQ job id of an item: run id plus the item's index in the plan. */
export function itemJobId(runId: string, index: number): string {
  return `${runId}-i${index}`;
}
