import { randomBytes } from 'node:crypto';
import { ValueError } from './errors.js';

/**
 * The one grammar for names that become Redis keys, BullMQ job ids, storage URI segments or file
 * paths. A name is 1-N characters of `[A-Za-z0-9._-]`, starts with a letter or digit, and never
 * holds `..` (so it can be a path segment or a URI segment without traversal, and `<run>.<item>`
 * stays a valid storage name). Run ids are narrower still: no `.` at all, because they are spliced
 * into BullMQ job ids (`<run>-i<n>`) and BullMQ refuses ':' in custom ids.
 */
export const SAFE_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.))*$/;

/** Run ids: `r` + 10 base-36 chars of milliseconds + 8 random hex chars when we make them. */
export const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Item ids: the safe-name grammar, 1-128 characters. */
export const ITEM_ID_MAX = 128;

/** Storage URI segments (namespace, type, name): the safe-name grammar, 1-200 characters. */
export const URI_SEGMENT_MAX = 200;

export function isSafeName(s: unknown, max: number): s is string {
  return typeof s === 'string' && s.length >= 1 && s.length <= max && SAFE_NAME_RE.test(s);
}

/**
 * Run ids sort by creation time: 10 base-36 chars of milliseconds, then 8 random hex chars.
 * They never contain ':' (BullMQ refuses ':' in custom job ids).
 */
export function newRunId(now: number = Date.now()): string {
  return `r${now.toString(36).padStart(10, '0')}${randomBytes(4).toString('hex')}`;
}

export function isRunId(s: unknown): s is string {
  return typeof s === 'string' && RUN_ID_RE.test(s);
}

/** A `ValueError` quoting at most 80 characters of `s` unless it is a run id; `what` names it in the message. */
export function assertRunId(s: unknown, what = 'run id'): asserts s is string {
  if (!isRunId(s)) throw new ValueError(`invalid ${what} "${String(s).slice(0, 80)}"`);
}

export function isItemId(s: unknown): s is string {
  return isSafeName(s, ITEM_ID_MAX);
}

/** BullMQ job id of an item: run id plus the item's index in the plan. */
export function itemJobId(runId: string, index: number): string {
  return `${runId}-i${index}`;
}
