import { describe, expect, it } from 'vitest';
import {
  MerkleTree,
  consistencyProofLength,
  hashLeaf,
  inclusionProofLength,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from '@agora/audit';
import { refConsistencyProof, refInclusionProof, refRoot } from './support/reference-merkle.js';
import { randomInt, randomLeaves, rng } from './support/random.js';

const hex = (b: Buffer[]): string[] => b.map((x) => x.toString('hex'));

/** Indices worth checking in a tree of n: all of them when small, else the edges and a few random. */
function sample(n: number, next: () => number, all: number): number[] {
  if (n <= all) return Array.from({ length: n }, (_, i) => i);
  const s = new Set([0, 1, n - 2, n - 1, Math.floor(n / 2)]);
  for (let i = 0; i < 4; i++) s.add(randomInt(next, n));
  return [...s].filter((i) => i >= 0 && i < n);
}

function compare(n: number, seed: number): void {
  const next = rng(seed);
  const leaves = randomLeaves(next, n);
  const tree = MerkleTree.fromLeaves(leaves);
  const root = refRoot(leaves);
  expect(tree.root().toString('hex'), `root, size ${n}, seed ${seed}`).toBe(root.toString('hex'));
  expect(merkleRoot(leaves.map((l) => hashLeaf(l))).equals(root)).toBe(true);
  for (const i of sample(n, next, 16)) {
    const proof = tree.inclusionProof(i);
    expect(hex(proof), `inclusion ${i}/${n}, seed ${seed}`).toEqual(hex(refInclusionProof(i, leaves)));
    expect(proof).toHaveLength(inclusionProofLength(i, n));
    verifyInclusion(i, n, hashLeaf(leaves[i] as Buffer), proof, root);
  }
  for (const m of sample(n + 1, next, 16)) {
    const prefix = leaves.slice(0, m);
    const proof = tree.consistencyProof(m);
    expect(hex(proof), `consistency ${m}->${n}, seed ${seed}`).toEqual(hex(refConsistencyProof(m, leaves)));
    expect(proof).toHaveLength(consistencyProofLength(m, n));
    expect(tree.rootAt(m).equals(refRoot(prefix))).toBe(true);
    verifyConsistency(m, n, proof, refRoot(prefix), root);
    // Proofs for an earlier state, generated from the bigger tree.
    if (m > 0) {
      const j = randomInt(next, m);
      expect(hex(tree.inclusionProof(j, m))).toEqual(hex(refInclusionProof(j, prefix)));
      const k = randomInt(next, m + 1);
      expect(hex(tree.consistencyProof(k, m))).toEqual(hex(refConsistencyProof(k, prefix)));
    }
  }
}

describe('fast tree against the reference implementation', () => {
  it.each([
    [1, 100],
    [101, 200],
    [201, 300],
  ])('agrees on every size from %i to %i', (from, to) => {
    for (let n = from; n <= to; n++) compare(n, 1000 + n);
  });

  it.each([511, 512, 513, 1000, 1023, 1025, 4097])('agrees on size %i', (n) => {
    compare(n, n);
  });

  it('agrees on random larger sizes', () => {
    const next = rng(42);
    for (let i = 0; i < 4; i++) compare(600 + randomInt(next, 5000), 7000 + i);
  });
});
