import { hash } from 'node:crypto';

/** Size in bytes of every hash in the tree (SHA-256). */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);

/** MTH({}) of RFC 9162 §2.1.1: the hash of an empty string. */
export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer');

/**
 * RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data). The domain-separation prefix is what stops
 * an interior node from being passed off as a leaf (second-preimage attack).
 * A string is hashed as its UTF-8 bytes.
 */
export function hashLeaf(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return hash('sha256', `\u0000${data}`, 'buffer');
  return hash('sha256', Buffer.concat([LEAF_PREFIX, data]), 'buffer');
}

/** RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(1 + left.length + right.length);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return hash('sha256', buf, 'buffer');
}
