import { ValueError, type StreamEvent } from '@agora/core';
import { isWellFormed } from './well-formed.js';

/** An audit event: one entry of a run's event stream, hashed as one Merkle leaf. */
export type AuditEvent = StreamEvent;

/**
 * Keys whose string values are treated as secrets. Matched anywhere in the key, any case, at
 * any depth ("dbPassword", "x-api-key", "Authorization", "awsCredentials").
 */
export const SECRET_KEY_PATTERN = /secret|passw(?:or)?d|token|api[-_]?key|authorization|credential|private[-_]?key/i;

/**
 * A string under a secret-looking key is accepted only if it is a reference to a secret held
 * elsewhere: a scheme (`ref:`, `arn:`, `env:`, `vault:`) followed by a name without spaces.
 */
export const SECRET_REFERENCE_PATTERN = /^(?:ref|arn|env|vault):\S+$/;

/** Nesting deeper than this is refused; it also stops circular structures. */
export const MAX_EVENT_DEPTH = 32;

/** An event (or a sequence of events) that may not be sealed; `problems` names each path. */
export class EventValidationError extends ValueError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`audit event is invalid:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/**
 * The secret rule. A value is refused when its key matches {@link SECRET_KEY_PATTERN} and the
 * value is a non-empty string that is not a reference ({@link SECRET_REFERENCE_PATTERN}).
 * Numbers, booleans and null under such keys are allowed (a lock's fencing `token` is a
 * number); strings inside an array inherit the array's key; an object under such a key is
 * checked by its own keys. The audit stream is sealed for good, so a literal secret must
 * never reach it: store where the secret lives, not what it is.
 */
export function isSecretLookingKey(key: string): boolean {
  let hit = secretKeyCache.get(key);
  if (hit === undefined) {
    hit = SECRET_KEY_PATTERN.test(key);
    // Keys repeat across events; the bound keeps hostile input from growing the cache.
    if (secretKeyCache.size < 4096) secretKeyCache.set(key, hit);
  }
  return hit;
}
const secretKeyCache = new Map<string, boolean>();

export function isSecretReference(value: string): boolean {
  return SECRET_REFERENCE_PATTERN.test(value);
}

/**
 * Every reason `event` may not be sealed, each prefixed with its path (`seq`, `inputs.token`,
 * `refs[2]`). Empty when the event is valid. Rules: a plain object; `seq` a non-negative safe
 * integer; `runId` and `type` non-empty strings; `at`, when present, a string; every value a
 * JSON value (plain object, array without holes, string without lone surrogates, finite
 * number, integer within ±(2^53-1), boolean, null; `undefined` is refused rather than
 * silently dropped); keys without lone surrogates; nesting at most {@link MAX_EVENT_DEPTH};
 * and the secret rule of {@link isSecretLookingKey}.
 */
export function eventProblems(event: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(event)) {
    problems.push(`event must be a plain object, got ${describeValue(event)}`);
    return problems;
  }
  const { seq, runId, type, at } = event as Record<string, unknown>;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    problems.push(`seq: must be a non-negative integer, got ${describeValue(seq)}`);
  }
  if (typeof runId !== 'string' || runId === '') problems.push(`runId: must be a non-empty string, got ${describeValue(runId)}`);
  if (typeof type !== 'string' || type === '') problems.push(`type: must be a non-empty string, got ${describeValue(type)}`);
  if (at !== undefined && typeof at !== 'string') problems.push(`at: must be a string, got ${describeValue(at)}`);
  walk(event, '', false, 0, [], problems);
  return problems;
}

/** Throws {@link EventValidationError} unless `event` may be sealed (see {@link eventProblems}). */
export function validateEvent(event: unknown): asserts event is AuditEvent {
  const problems = eventProblems(event);
  if (problems.length > 0) throw new EventValidationError(problems);
}

/** Problems with a run's sequence as a whole, split by the rule they break. */
export interface SequenceProblems {
  /** Events that fail {@link eventProblems}, prefixed `events[i].`. */
  readonly invalid: string[];
  /** `seq` not equal to the position (missing, duplicated, reordered events). */
  readonly seq: string[];
  /** `runId` not equal to the run's id. */
  readonly runId: string[];
}

export function sequenceProblems(events: readonly unknown[], runId: string): SequenceProblems {
  const out: SequenceProblems = { invalid: [], seq: [], runId: [] };
  events.forEach((event, i) => {
    for (const p of eventProblems(event)) out.invalid.push(`events[${i}].${p}`);
    if (!isPlainObject(event)) return;
    const e = event as Record<string, unknown>;
    if (e['seq'] !== i) out.seq.push(`events[${i}].seq is ${describeValue(e['seq'])}, expected ${i}`);
    if (e['runId'] !== runId) out.runId.push(`events[${i}].runId is ${quote(e['runId'])}, expected ${quote(runId)}`);
  });
  return out;
}

/**
 * Throws {@link EventValidationError} unless every event is valid, `seq` runs 0, 1, 2, ...
 * without gaps in array order, and every event belongs to `runId`.
 */
export function validateEventSequence(events: readonly unknown[], runId: string): asserts events is AuditEvent[] {
  if (!Array.isArray(events)) throw new EventValidationError([`events must be an array, got ${describeValue(events)}`]);
  const p = sequenceProblems(events, runId);
  const all = [...p.invalid, ...p.seq, ...p.runId];
  if (all.length > 0) throw new EventValidationError(all);
}

function walk(
  value: unknown,
  key: string,
  secretKey: boolean,
  depth: number,
  path: (string | number)[],
  problems: string[],
): void {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) problems.push(`${formatPath(path)}: string contains a lone surrogate`);
      if (secretKey && value !== '' && !isSecretReference(value)) {
        problems.push(
          `${formatPath(path)}: "${key}" looks like a secret; record a reference (ref:<name>, arn:..., env:<VAR>, vault:<path>), never the value`,
        );
      }
      return;
    case 'number':
      if (!Number.isFinite(value)) problems.push(`${formatPath(path)}: ${value} is not a JSON number`);
      else if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        problems.push(`${formatPath(path)}: integer ${value} is outside ±(2^53-1) and would not survive a JSON round trip`);
      }
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (depth >= MAX_EVENT_DEPTH) {
        problems.push(`${formatPath(path)}: nested deeper than ${MAX_EVENT_DEPTH} levels (or circular)`);
        return;
      }
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) {
          problems.push(`${formatPath(path)}: ${describeValue(value)} is not a plain array`);
          return;
        }
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          if (!(i in value)) problems.push(`${formatPath(path)}: hole in array`);
          else walk(value[i], key, secretKey, depth + 1, path, problems);
          path.pop();
        }
        return;
      }
      if (!isPlainObject(value)) {
        problems.push(`${formatPath(path)}: ${describeValue(value)} is not a plain object`);
        return;
      }
      const obj = value as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        path.push(k);
        if (!isWellFormed(k)) problems.push(`${formatPath(path)}: key contains a lone surrogate`);
        walk(obj[k], k, isSecretLookingKey(k), depth + 1, path, problems);
        path.pop();
      }
      return;
    }
    default:
      problems.push(`${formatPath(path)}: ${describeValue(value)} is not a JSON value`);
  }
}

/** Run ids and similar identifiers are not secret; show them, but bounded. */
function quote(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v) : describeValue(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(event)' : out;
}

/** A short, secret-free description of a value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return `a string`;
    case 'number':
      return Number.isFinite(v) && Number.isSafeInteger(v) ? String(v) : `the number ${v}`;
    case 'object': {
      const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
      return name ? `an instance of ${name}` : 'an object';
    }
    default:
      return `a ${typeof v}`;
  }
}
