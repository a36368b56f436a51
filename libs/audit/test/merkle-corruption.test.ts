import { describe, expect, it } from 'vitest';
import {
  MerkleTree,
  MerkleVerificationError,
  hashChildren,
  hashLeaf,
  verifyConsistency,
  verifyInclusion,
  type MerkleFailure,
} from '@agora/audit';
import { randomLeaves, rng } from './support/random.js';

/**
 * Every corruption a verifier must reject, named after what it does to a valid proof. Each
 * case is applied to many (index, size) pairs; a corruption that happens to be a no-op for
 * one pair (e.g. reordering a one-element proof) is skipped for that pair only.
 */
const leaves = randomLeaves(rng(9162), 70);
const tree = MerkleTree.fromLeaves(leaves);
const leafHash = (i: number): Buffer => hashLeaf(leaves[i] as Buffer);
const flipBit = (b: Buffer, bit = 0): Buffer => {
  const c = Buffer.from(b);
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
};
const same = (a: Buffer[], b: Buffer[]): boolean => a.length === b.length && a.every((x, i) => x.equals(b[i] as Buffer));

function failure(fn: () => void): MerkleVerificationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MerkleVerificationError);
    return err as MerkleVerificationError;
  }
  throw new Error('verification passed but must fail');
}

interface InclusionCase {
  index: number;
  size: number;
  leaf: Buffer;
  proof: Buffer[];
  root: Buffer;
}

const inclusionPairs: [number, number][] = [
  [0, 1], [0, 2], [1, 2], [2, 3], [0, 7], [5, 7], [6, 7], [3, 8], [7, 8], [0, 9], [8, 9], [12, 33], [31, 64], [40, 70], [69, 70],
];

const inclusionCorruptions: Record<string, (c: InclusionCase) => InclusionCase | undefined> = {
  'index-plus-one': (c) => (c.index + 1 < c.size ? { ...c, index: c.index + 1 } : undefined),
  'index-minus-one': (c) => (c.index > 0 ? { ...c, index: c.index - 1 } : undefined),
  'size-doubled': (c) => ({ ...c, size: c.size * 2 }),
  'size-halved': (c) => ({ ...c, size: Math.floor(c.size / 2) }),
  // A size change that keeps the path's shape verifies against the *old* root (leaf 0 of 7
  // and of 8 walk the same way), which is why size and root are only trusted together, from
  // one signed checkpoint. With the root that goes with the new size, it must fail.
  'size-plus-one-with-its-root': (c) => (c.size + 1 <= tree.size ? { ...c, size: c.size + 1, root: tree.rootAt(c.size + 1) } : undefined),
  'leaf-bit-flipped': (c) => ({ ...c, leaf: flipBit(c.leaf, 7) }),
  'proof-bit-flipped': (c) => (c.proof.length > 0 ? { ...c, proof: [flipBit(c.proof[0] as Buffer, 100), ...c.proof.slice(1)] } : undefined),
  'last-proof-bit-flipped': (c) => (c.proof.length > 0 ? { ...c, proof: [...c.proof.slice(0, -1), flipBit(c.proof.at(-1) as Buffer, 255)] } : undefined),
  'root-bit-flipped': (c) => ({ ...c, root: flipBit(c.root, 3) }),
  'first-component-dropped': (c) => (c.proof.length > 0 ? { ...c, proof: c.proof.slice(1) } : undefined),
  'last-component-dropped': (c) => (c.proof.length > 0 ? { ...c, proof: c.proof.slice(0, -1) } : undefined),
  'component-appended': (c) => ({ ...c, proof: [...c.proof, c.leaf] }),
  'component-prepended': (c) => ({ ...c, proof: [c.leaf, ...c.proof] }),
  'component-inserted-in-middle': (c) => ({ ...c, proof: [...c.proof.slice(0, 1), hashLeaf('x'), ...c.proof.slice(1)] }),
  'components-reordered': (c) => {
    const proof = [...c.proof].reverse();
    return same(proof, c.proof) ? undefined : { ...c, proof };
  },
  'components-swapped-adjacent': (c) => {
    if (c.proof.length < 2 || (c.proof[0] as Buffer).equals(c.proof[1] as Buffer)) return undefined;
    return { ...c, proof: [c.proof[1] as Buffer, c.proof[0] as Buffer, ...c.proof.slice(2)] };
  },
  'leaf-and-root-swapped': (c) => (c.leaf.equals(c.root) ? undefined : { ...c, leaf: c.root, root: c.leaf }),
  'root-of-other-size': (c) => ({ ...c, root: tree.rootAt(c.size === 70 ? 69 : c.size + 1) }),
  'unhashed-leaf-data': (c) => ({ ...c, leaf: Buffer.concat([leaves[c.index] as Buffer, Buffer.alloc(32)]).subarray(0, 32) }),
};

describe('inclusion proof corruptions are rejected', () => {
  for (const [name, corrupt] of Object.entries(inclusionCorruptions)) {
    it(name, () => {
      let applied = 0;
      for (const [index, size] of inclusionPairs) {
        const ok: InclusionCase = { index, size, leaf: leafHash(index), proof: tree.inclusionProof(index, size), root: tree.rootAt(size) };
        verifyInclusion(ok.index, ok.size, ok.leaf, ok.proof, ok.root);
        const bad = corrupt(ok);
        if (bad === undefined) continue;
        applied += 1;
        failure(() => verifyInclusion(bad.index, bad.size, bad.leaf, bad.proof, bad.root));
      }
      expect(applied).toBeGreaterThan(3);
    });
  }

  it('index-out-of-range reports the bound', () => {
    const err = failure(() => verifyInclusion(8, 8, leafHash(0), tree.inclusionProof(0, 8), tree.rootAt(8)));
    expect(err.reason).toBe<MerkleFailure>('index-out-of-range');
    expect(err.expected).toBe('< 8');
    expect(err.computed).toBe('8');
  });

  it('a wrong root reports expected and computed roots', () => {
    const proof = tree.inclusionProof(3, 10);
    const wrong = tree.rootAt(11);
    const err = failure(() => verifyInclusion(3, 10, leafHash(3), proof, wrong));
    expect(err.reason).toBe<MerkleFailure>('root-mismatch');
    expect(err.expected).toBe(wrong.toString('hex'));
    expect(err.computed).toBe(tree.rootAt(10).toString('hex'));
  });

  it('a truncated proof reports the expected length', () => {
    const proof = tree.inclusionProof(3, 10);
    const err = failure(() => verifyInclusion(3, 10, leafHash(3), proof.slice(0, -1), tree.rootAt(10)));
    expect(err.reason).toBe<MerkleFailure>('proof-length');
    expect(err.expected).toBe(String(proof.length));
    expect(err.computed).toBe(String(proof.length - 1));
  });

  it('interior-node-as-leaf: an interior hash verifies only at the size that makes it a leaf, and its preimage never does', () => {
    // Node over leaves 0 and 1 of a tree of 8: with the size halved it *is* leaf 0 of the tree
    // of level-1 nodes; that is why sizes must come from the signed checkpoint.
    const n01 = hashChildren(leafHash(0), leafHash(1));
    const upper = tree.inclusionProof(0, 8).slice(1);
    expect(() => verifyInclusion(0, 4, n01, upper, tree.rootAt(8))).not.toThrow();
    failure(() => verifyInclusion(0, 8, n01, upper, tree.rootAt(8)));
    // The second-preimage attack: present 0x01||l||r as leaf data. The 0x00 leaf prefix
    // makes its leaf hash differ from the node hash.
    const preimage = Buffer.concat([Buffer.from([1]), leafHash(0), leafHash(1)]);
    failure(() => verifyInclusion(0, 4, hashLeaf(preimage), upper, tree.rootAt(8)));
    failure(() => verifyInclusion(0, 8, hashLeaf(preimage), upper, tree.rootAt(8)));
  });

  it('malformed inputs are rejected as invalid-argument', () => {
    const proof = tree.inclusionProof(1, 4);
    expect(failure(() => verifyInclusion(-1, 4, leafHash(1), proof, tree.rootAt(4))).reason).toBe('invalid-argument');
    expect(failure(() => verifyInclusion(1.5, 4, leafHash(1), proof, tree.rootAt(4))).reason).toBe('invalid-argument');
    expect(failure(() => verifyInclusion(1, 4, leafHash(1).subarray(0, 31), proof, tree.rootAt(4))).reason).toBe('invalid-argument');
    expect(failure(() => verifyInclusion(1, 4, leafHash(1), [...proof.slice(1), Buffer.alloc(33)], tree.rootAt(4))).reason).toBe('invalid-argument');
  });
});

interface ConsistencyCase {
  size1: number;
  size2: number;
  proof: Buffer[];
  root1: Buffer;
  root2: Buffer;
}

const consistencyPairs: [number, number][] = [
  [1, 2], [1, 8], [2, 5], [3, 7], [4, 7], [5, 8], [6, 8], [7, 8], [3, 33], [16, 70], [31, 70], [63, 64], [65, 70],
];

const consistencyCorruptions: Record<string, (c: ConsistencyCase) => ConsistencyCase | undefined> = {
  'first-size-plus-one': (c) => (c.size1 + 1 < c.size2 ? { ...c, size1: c.size1 + 1 } : undefined),
  'first-size-minus-one': (c) => (c.size1 > 1 ? { ...c, size1: c.size1 - 1 } : undefined),
  'second-size-doubled': (c) => ({ ...c, size2: c.size2 * 2 }),
  'second-size-halved': (c) => (Math.floor(c.size2 / 2) >= c.size1 ? { ...c, size2: Math.floor(c.size2 / 2) } : undefined),
  'first-size-doubled': (c) => (c.size1 * 2 <= c.size2 ? { ...c, size1: c.size1 * 2 } : undefined),
  'sizes-swapped': (c) => ({ ...c, size1: c.size2, size2: c.size1 }),
  'proof-bit-flipped': (c) => ({ ...c, proof: [flipBit(c.proof[0] as Buffer, 9), ...c.proof.slice(1)] }),
  'last-proof-bit-flipped': (c) => ({ ...c, proof: [...c.proof.slice(0, -1), flipBit(c.proof.at(-1) as Buffer, 200)] }),
  'first-root-bit-flipped': (c) => ({ ...c, root1: flipBit(c.root1, 1) }),
  'second-root-bit-flipped': (c) => ({ ...c, root2: flipBit(c.root2, 254) }),
  'roots-swapped': (c) => ({ ...c, root1: c.root2, root2: c.root1 }),
  'first-component-dropped': (c) => ({ ...c, proof: c.proof.slice(1) }),
  'last-component-dropped': (c) => ({ ...c, proof: c.proof.slice(0, -1) }),
  'component-appended': (c) => ({ ...c, proof: [...c.proof, c.root1] }),
  'component-prepended': (c) => ({ ...c, proof: [c.root1, ...c.proof] }),
  'component-inserted-in-middle': (c) => ({ ...c, proof: [...c.proof.slice(0, 1), hashLeaf('x'), ...c.proof.slice(1)] }),
  'components-reordered': (c) => {
    const proof = [...c.proof].reverse();
    return same(proof, c.proof) ? undefined : { ...c, proof };
  },
  'empty-proof': (c) => ({ ...c, proof: [] }),
};

describe('consistency proof corruptions are rejected', () => {
  for (const [name, corrupt] of Object.entries(consistencyCorruptions)) {
    it(name, () => {
      let applied = 0;
      for (const [size1, size2] of consistencyPairs) {
        const ok: ConsistencyCase = { size1, size2, proof: tree.consistencyProof(size1, size2), root1: tree.rootAt(size1), root2: tree.rootAt(size2) };
        verifyConsistency(ok.size1, ok.size2, ok.proof, ok.root1, ok.root2);
        const bad = corrupt(ok);
        if (bad === undefined) continue;
        applied += 1;
        failure(() => verifyConsistency(bad.size1, bad.size2, bad.proof, bad.root1, bad.root2));
      }
      expect(applied).toBeGreaterThan(3);
    });
  }

  it('edge cases: equal sizes need an empty proof and equal roots; the empty tree is a prefix of all', () => {
    expect(() => verifyConsistency(5, 5, [], tree.rootAt(5), tree.rootAt(5))).not.toThrow();
    expect(failure(() => verifyConsistency(5, 5, [], tree.rootAt(5), tree.rootAt(6))).reason).toBe('second-root-mismatch');
    expect(failure(() => verifyConsistency(5, 5, [tree.rootAt(5)], tree.rootAt(5), tree.rootAt(5))).reason).toBe('proof-length');
    expect(() => verifyConsistency(0, 9, [], tree.rootAt(0), tree.rootAt(9))).not.toThrow();
    expect(failure(() => verifyConsistency(0, 9, [], tree.rootAt(1), tree.rootAt(9))).reason).toBe('first-root-mismatch');
    expect(failure(() => verifyConsistency(9, 5, [], tree.rootAt(9), tree.rootAt(5))).reason).toBe('size-order');
  });

  it('a wrong second root reports expected and computed', () => {
    const proof = tree.consistencyProof(5, 8);
    const err = failure(() => verifyConsistency(5, 8, proof, tree.rootAt(5), tree.rootAt(9)));
    expect(err.reason).toBe<MerkleFailure>('second-root-mismatch');
    expect(err.expected).toBe(tree.rootAt(9).toString('hex'));
    expect(err.computed).toBe(tree.rootAt(8).toString('hex'));
  });
});
