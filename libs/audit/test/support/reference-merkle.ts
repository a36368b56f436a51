/**
 * Test oracle: RFC 9162 §2.1 transcribed literally, recursion and all, with no attention to
 * speed. The fast implementation in src/ must agree with it on every input.
 */
import { createHash } from 'node:crypto';

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function k(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) of §2.1.1. */
export function refRoot(leaves: readonly Uint8Array[]): Buffer {
  const n = leaves.length;
  if (n === 0) return sha256();
  if (n === 1) return sha256(Buffer.from([0]), leaves[0] as Uint8Array);
  const split = k(n);
  return sha256(Buffer.from([1]), refRoot(leaves.slice(0, split)), refRoot(leaves.slice(split)));
}

/** PATH(m, D[n]) of §2.1.3.1. */
export function refInclusionProof(m: number, leaves: readonly Uint8Array[]): Buffer[] {
  const n = leaves.length;
  if (n === 1 && m === 0) return [];
  const split = k(n);
  if (m < split) return [...refInclusionProof(m, leaves.slice(0, split)), refRoot(leaves.slice(split))];
  return [...refInclusionProof(m - split, leaves.slice(split)), refRoot(leaves.slice(0, split))];
}

/** PROOF(m, D[n]) of §2.1.4.1. */
export function refConsistencyProof(m: number, leaves: readonly Uint8Array[]): Buffer[] {
  if (m === 0 || m === leaves.length) return [];
  return subproof(m, leaves, true);
}

function subproof(m: number, leaves: readonly Uint8Array[], b: boolean): Buffer[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [refRoot(leaves)];
  const split = k(n);
  if (m <= split) return [...subproof(m, leaves.slice(0, split), b), refRoot(leaves.slice(split))];
  return [...subproof(m - split, leaves.slice(split), false), refRoot(leaves.slice(0, split))];
}
