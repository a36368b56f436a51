import canonicalize from 'canonicalize';
import { ValueError } from '@agora/core';
import { isWellFormed } from './well-formed.js';
import { hashLeaf } from './merkle-hasher.js';
import type { AuditEvent } from './event-validation.js';

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
  const copy = sortedCopy(value);
  return copy === ORDER_UNSAFE ? serialize(value) : (JSON.stringify(copy) as string);
}

const ORDER_UNSAFE: unique symbol = Symbol('order-unsafe');

function sortedCopy(v: unknown): unknown {
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) throw new ValueError('string with a lone surrogate has no canonical JSON form');
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new ValueError(`${v} has no JSON form`);
      return v;
    case 'boolean':
      return v;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) {
        const out = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const c = sortedCopy(v[i]);
          if (c === ORDER_UNSAFE) return ORDER_UNSAFE;
          out[i] = c;
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new ValueError('only plain objects have a canonical JSON form here');
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const c0 = k.charCodeAt(0);
        if ((c0 >= 0x30 && c0 <= 0x39) || k === '__proto__') return ORDER_UNSAFE;
        if (!isWellFormed(k)) throw new ValueError('key with a lone surrogate has no canonical JSON form');
        const c = sortedCopy(obj[k]);
        if (c === ORDER_UNSAFE) return ORDER_UNSAFE;
        out[k] = c;
      }
      return out;
    }
    default:
      throw new ValueError(`a ${typeof v} has no JSON form`);
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
