import canonicalize from 'canonicalize';
import { ValueError } from '@agora/core';
import { isWellFormed } from './well-formed.js';
import { hashLeaf } from './merkle-hasher.js';
import { MAX_EVENT_DEPTH, eventProblems, isSecretLookingKey, isSecretReference, type AuditEvent } from './event-validation.js';

/**
 * RFC 8785 (JCS) canonical JSON of a JSON value, byte for byte what the `canonicalize`
 * package produces (the test suite holds the two equal on generated values).
 *
 * Why not call `canonicalize` directly on the sealing path: it scans every string character by
 * character in JS for lone surrogates and builds each object through map/join, which costs
 * about twice the time of the whole rest of sealing. JCS reduces to "JSON.stringify with keys
 * sorted by UTF-16 code units" once values are known to be plain JSON, so this walks the
 * structure, sorts keys with the default (code-unit) sort, and leaves strings and numbers to
 * JSON.stringify, which is what JCS specifies for them (ECMAScript number serialisation and
 * string escaping). Anything that is not plain JSON is refused rather than guessed at.
 *
 * The usual path copies the value with keys inserted in sorted order and lets the native
 * JSON.stringify emit it. That is only sound when insertion order is emission order, which
 * fails for integer-like keys (engines emit those first, numerically) and for "__proto__"
 * (assignment would set the prototype); values with such keys take the explicit serialiser.
 */
export function canonicalJson(value: unknown): string {
  const copy = sortedCopy(value, false, false, 0);
  return copy === ORDER_UNSAFE ? serialize(value) : (JSON.stringify(copy) as string);
}

/**
 * Canonical JSON of an event that passes {@link eventProblems}, or undefined if it does not.
 * The checks ride along the copy that canonicalisation makes anyway, so sealing walks each
 * event once; the test suite holds its verdict equal to eventProblems.
 */
export function checkedEventJson(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return undefined;
  const { seq, runId, type, at } = event as Record<string, unknown>;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (typeof runId !== 'string' || runId === '' || typeof type !== 'string' || type === '') return undefined;
  if (at !== undefined && typeof at !== 'string') return undefined;
  const copy = sortedCopy(event, true, false, 0);
  if (copy === INVALID) return undefined;
  if (copy === ORDER_UNSAFE) return eventProblems(event).length === 0 ? serialize(event) : undefined;
  return JSON.stringify(copy);
}

// Sentinels returned up the copy. Input symbols never get this far (they are refused).
const ORDER_UNSAFE: unique symbol = Symbol('order-unsafe');
const INVALID: unique symbol = Symbol('invalid');

function refuse(checked: boolean, message: string): typeof INVALID {
  if (checked) return INVALID;
  throw new ValueError(message);
}

/**
 * The value with every object rebuilt in sorted key order. With `checked`, also applies the
 * event rules of eventProblems (secret-looking keys, safe integers, plain arrays without
 * holes, depth) and answers INVALID instead of throwing.
 */
function sortedCopy(v: unknown, checked: boolean, secret: boolean, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) return refuse(checked, 'string with a lone surrogate has no canonical JSON form');
      if (secret && v !== '' && !isSecretReference(v)) return INVALID;
      return v;
    case 'number':
      if (!Number.isFinite(v)) return refuse(checked, `${v} has no JSON form`);
      if (checked && Number.isInteger(v) && !Number.isSafeInteger(v)) return INVALID;
      return v;
    case 'boolean':
      return v;
    case 'object': {
      if (v === null) return null;
      if (checked && depth >= MAX_EVENT_DEPTH) return INVALID;
      if (Array.isArray(v)) {
        if (checked && Object.getPrototypeOf(v) !== Array.prototype) return INVALID;
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          if (checked && !(i in v)) return INVALID;
          const c = sortedCopy(v[i], checked, secret, depth + 1);
          if (typeof c === 'symbol') return c;
          out[i] = c;
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return refuse(checked, 'only plain objects have a canonical JSON form here');
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const c0 = k.charCodeAt(0);
        if ((c0 >= 0x30 && c0 <= 0x39) || k === '__proto__') return ORDER_UNSAFE;
        if (!isWellFormed(k)) return refuse(checked, 'key with a lone surrogate has no canonical JSON form');
        const c = sortedCopy(obj[k], checked, checked && isSecretLookingKey(k), depth + 1);
        if (typeof c === 'symbol') return c;
        out[k] = c;
      }
      return out;
    }
    default:
      return refuse(checked, `a ${typeof v} has no JSON form`);
  }
}

/** The reference serialiser (the `canonicalize` package), for values outside the fast path. */
export function canonicalJsonReference(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new ValueError(`value has no JSON form`);
  return out;
}

/** Leaf bytes of an event: its canonical JSON as UTF-8. */
export function canonicalEventBytes(event: AuditEvent): Buffer {
  return Buffer.from(canonicalJson(event), 'utf8');
}

/** RFC 9162 leaf hash of an event: SHA-256(0x00 || canonical JSON). */
export function eventLeafHash(event: AuditEvent): Buffer {
  return hashLeaf(canonicalJson(event));
}

function serialize(v: unknown): string {
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) throw new ValueError('string with a lone surrogate has no canonical JSON form');
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) throw new ValueError(`${v} has no JSON form`);
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + serialize(v[i]);
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new ValueError('only plain objects have a canonical JSON form here');
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        if (!isWellFormed(k)) throw new ValueError('key with a lone surrogate has no canonical JSON form');
        out += `${i === 0 ? '' : ','}${JSON.stringify(k)}:${serialize(obj[k])}`;
      }
      return `${out}}`;
    }
    default:
      throw new ValueError(`a ${typeof v} has no JSON form`);
  }
}
