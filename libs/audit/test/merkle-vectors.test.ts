import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EMPTY_ROOT, MerkleTree, hashLeaf, merkleRoot, verifyConsistency, verifyInclusion } from '@agora/audit';

/**
 * testdata/rfc9162.json (a copy of the project's shared vectors/rfc9162.json): leaves and roots are the public vectors of
 * transparency-dev/merkle (testonly/constants.go); `roots[i]` is the root of the first i
 * leaves (roots[0] is the empty tree). Proofs were produced from the RFC 9162 definitions.
 */
interface Vectors {
  hasher: { leafHash_L123456: string };
  leaves: string[];
  roots: string[];
  inclusion: { leafIndex: number; treeSize: number; proof: string[] }[];
  consistency: { firstSize: number; secondSize: number; proof: string[] }[];
}

const vectors = JSON.parse(readFileSync(new URL('./testdata/rfc9162.json', import.meta.url), 'utf8')) as Vectors;
const leaves = vectors.leaves.map((h) => Buffer.from(h, 'hex'));
const hex = (b: Buffer[]): string[] => b.map((x) => x.toString('hex'));
const fromHex = (l: string[]): Buffer[] => l.map((x) => Buffer.from(x, 'hex'));
const rootOf = (size: number): Buffer => Buffer.from(vectors.roots[size] as string, 'hex');

describe('RFC 9162 vectors', () => {
  it('has the shape this test expects', () => {
    expect(leaves).toHaveLength(8);
    expect(vectors.roots).toHaveLength(9);
    expect(vectors.inclusion.length).toBeGreaterThan(0);
    expect(vectors.consistency.length).toBeGreaterThan(0);
  });

  it('hashes a leaf with the 0x00 prefix', () => {
    expect(hashLeaf(Buffer.from('L123456', 'ascii')).toString('hex')).toBe(vectors.hasher.leafHash_L123456);
    expect(hashLeaf('L123456').toString('hex')).toBe(vectors.hasher.leafHash_L123456);
  });

  it('roots[0] is the empty tree', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(vectors.roots[0]);
    expect(MerkleTree.fromLeaves([]).root().toString('hex')).toBe(vectors.roots[0]);
  });

  it.each(vectors.roots.map((r, size) => ({ size, r })))('root of the first $size leaves', ({ size, r }) => {
    const tree = MerkleTree.fromLeaves(leaves.slice(0, size));
    expect(tree.root().toString('hex')).toBe(r);
    expect(merkleRoot(leaves.slice(0, size).map((l) => hashLeaf(l))).toString('hex')).toBe(r);
    // An earlier state of the full tree has the same root.
    expect(MerkleTree.fromLeaves(leaves).rootAt(size).toString('hex')).toBe(r);
  });

  it.each(vectors.inclusion)('inclusion of leaf $leafIndex in a tree of $treeSize', ({ leafIndex, treeSize, proof }) => {
    const tree = MerkleTree.fromLeaves(leaves.slice(0, treeSize));
    expect(hex(tree.inclusionProof(leafIndex))).toEqual(proof);
    // Generated from the full tree for an earlier size, too.
    expect(hex(MerkleTree.fromLeaves(leaves).inclusionProof(leafIndex, treeSize))).toEqual(proof);
    expect(() => verifyInclusion(leafIndex, treeSize, hashLeaf(leaves[leafIndex] as Buffer), fromHex(proof), rootOf(treeSize))).not.toThrow();
  });

  it.each(vectors.consistency)('consistency from $firstSize to $secondSize', ({ firstSize, secondSize, proof }) => {
    const tree = MerkleTree.fromLeaves(leaves.slice(0, secondSize));
    expect(hex(tree.consistencyProof(firstSize))).toEqual(proof);
    expect(hex(MerkleTree.fromLeaves(leaves).consistencyProof(firstSize, secondSize))).toEqual(proof);
    expect(() => verifyConsistency(firstSize, secondSize, fromHex(proof), rootOf(firstSize), rootOf(secondSize))).not.toThrow();
  });
});
