import { hash } from 'node:crypto';
import { IllegalStateError, ValueError } from '@agora/core';
import { EMPTY_ROOT, HASH_SIZE, hashChildren, hashLeaf } from './merkle-hasher.js';

/**
 * An RFC 9162 Merkle tree held level by level. `levels[0]` holds the leaf hashes back to back
 * in one Buffer; `levels[L][j]` is the node covering leaves `[j*2^L, min((j+1)*2^L, size))`.
 * The last node of an odd-length level is carried up unchanged, which yields exactly the tree
 * of RFC 9162 §2.1.1 (split at the largest power of two below n) without any recursion, and
 * makes every node the RFC defines one lookup away.
 */
export class MerkleTree {
  readonly size: number;
  private readonly levels: readonly Buffer[];

  private constructor(levels: readonly Buffer[], size: number) {
    this.levels = levels;
    this.size = size;
  }

  /**
   * Builds a tree over leaf hashes: either one Buffer of `n * 32` bytes (not copied, must not
   * be modified afterwards) or a list of 32-byte hashes.
   */
  static fromLeafHashes(leafHashes: Buffer | readonly Uint8Array[]): MerkleTree {
    let level0: Buffer;
    if (Buffer.isBuffer(leafHashes)) {
      if (leafHashes.length % HASH_SIZE !== 0) {
        throw new ValueError(`leaf hashes must be a multiple of ${HASH_SIZE} bytes, got ${leafHashes.length}`);
      }
      level0 = leafHashes;
    } else {
      level0 = Buffer.allocUnsafe(leafHashes.length * HASH_SIZE);
      leafHashes.forEach((h, i) => {
        if (h.length !== HASH_SIZE) throw new ValueError(`leaf hash ${i} is ${h.length} bytes, expected ${HASH_SIZE}`);
        level0.set(h, i * HASH_SIZE);
      });
    }
    const size = level0.length / HASH_SIZE;
    return new MerkleTree(buildLevels(level0, size), size);
  }

  /** Builds a tree over raw leaf data; each entry is hashed with {@link hashLeaf}. */
  static fromLeaves(leaves: readonly (Uint8Array | string)[]): MerkleTree {
    const level0 = Buffer.allocUnsafe(leaves.length * HASH_SIZE);
    leaves.forEach((leaf, i) => level0.set(hashLeaf(leaf), i * HASH_SIZE));
    return MerkleTree.fromLeafHashes(level0);
  }

  /** MTH(D[0:size]). */
  root(): Buffer {
    if (this.size === 0) return Buffer.from(EMPTY_ROOT);
    return Buffer.from(this.node(this.levels.length - 1, 0));
  }

  /** Requires 0 <= index < size. */
  leafHash(index: number): Buffer {
    this.requireRange('leaf index', index, 0, this.size - 1);
    return Buffer.from(this.node(0, index));
  }

  /** MTH(D[0:size]) of an earlier state of the tree. Requires 0 <= size <= this.size. */
  rootAt(size: number): Buffer {
    this.requireRange('size', size, 0, this.size);
    return size === 0 ? Buffer.from(EMPTY_ROOT) : this.subtreeHash(0, size);
  }

  /**
   * RFC 9162 §2.1.3.1 PATH(index, D[0:size]), ordered from the leaf's sibling up to the root's
   * child. Requires 0 <= index < size <= this.size.
   */
  inclusionProof(index: number, size: number = this.size): Buffer[] {
    this.requireRange('size', size, 1, this.size);
    this.requireRange('leaf index', index, 0, size - 1);
    const fromTop: Buffer[] = [];
    let begin = 0;
    let end = size;
    while (end - begin > 1) {
      const k = largestPowerOfTwoBelow(end - begin);
      if (index < begin + k) {
        fromTop.push(this.subtreeHash(begin + k, end));
        end = begin + k;
      } else {
        fromTop.push(this.subtreeHash(begin, begin + k));
        begin += k;
      }
    }
    return fromTop.reverse();
  }

  /**
   * RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]). Empty when size1 is 0 or equals size2.
   * Requires 0 <= size1 <= size2 <= this.size.
   */
  consistencyProof(size1: number, size2: number = this.size): Buffer[] {
    this.requireRange('second size', size2, 0, this.size);
    this.requireRange('first size', size1, 0, size2);
    if (size1 === 0 || size1 === size2) return [];
    // SUBPROOF unrolled: each step appends one subtree hash after the result of the step below,
    // so the hashes collected on the way down are emitted in reverse.
    const fromTop: Buffer[] = [];
    let begin = 0;
    let end = size2;
    let completeSubtree = true;
    for (;;) {
      const width = end - begin;
      if (size1 - begin === width) {
        const head = completeSubtree ? [] : [this.subtreeHash(begin, end)];
        return [...head, ...fromTop.reverse()];
      }
      const k = largestPowerOfTwoBelow(width);
      if (size1 - begin <= k) {
        fromTop.push(this.subtreeHash(begin + k, end));
        end = begin + k;
      } else {
        fromTop.push(this.subtreeHash(begin, begin + k));
        begin += k;
        completeSubtree = false;
      }
    }
  }

  /**
   * MTH(D[begin:end]) for a range that is a node of some RFC 9162 tree: begin must be a
   * multiple of the smallest power of two >= end - begin (every node the RFC recursion visits
   * is). Ranges ending at this.size or covering a full power of two are stored; others (the
   * right border of a smaller tree) are folded from stored nodes.
   */
  private subtreeHash(begin: number, end: number): Buffer {
    const width = end - begin;
    let level = 0;
    let span = 1;
    while (span < width) {
      span *= 2;
      level += 1;
    }
    if (width < 1 || begin % span !== 0 || end > this.size) {
      throw new IllegalStateError(`[${begin}, ${end}) is not a node of a tree of size ${this.size}`);
    }
    if (end === Math.min(begin + span, this.size)) return Buffer.from(this.node(level, begin / span));
    const k = span / 2;
    return hashChildren(this.subtreeHash(begin, begin + k), this.subtreeHash(begin + k, end));
  }

  private node(level: number, index: number): Buffer {
    const buf = this.levels[level];
    if (buf === undefined) throw new IllegalStateError(`tree of size ${this.size} has no level ${level}`);
    return buf.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  private requireRange(what: string, value: number, min: number, max: number): void {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new ValueError(`${what} ${value} is out of range [${min}, ${max}] for a tree of size ${this.size}`);
    }
  }
}

/**
 * MTH over leaf hashes stored back to back in `leafHashes` (n * 32 bytes). Computed in place:
 * `leafHashes` is overwritten. This is the allocation-free path the sealer uses.
 */
export function merkleRootInPlace(leafHashes: Buffer): Buffer {
  if (leafHashes.length % HASH_SIZE !== 0) {
    throw new ValueError(`leaf hashes must be a multiple of ${HASH_SIZE} bytes, got ${leafHashes.length}`);
  }
  let count = leafHashes.length / HASH_SIZE;
  if (count === 0) return Buffer.from(EMPTY_ROOT);
  const scratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
  scratch[0] = 0x01;
  while (count > 1) {
    const pairs = Math.floor(count / 2);
    // Node j of the next level is written at j*32 after its children (at j*64) were read, so
    // the level can shrink in place.
    for (let j = 0; j < pairs; j++) {
      leafHashes.copy(scratch, 1, j * 2 * HASH_SIZE, (j + 1) * 2 * HASH_SIZE);
      hash('sha256', scratch, 'buffer').copy(leafHashes, j * HASH_SIZE);
    }
    if (count % 2 === 1) leafHashes.copy(leafHashes, pairs * HASH_SIZE, (count - 1) * HASH_SIZE, count * HASH_SIZE);
    count -= pairs;
  }
  return Buffer.from(leafHashes.subarray(0, HASH_SIZE));
}

/** MTH of a list of leaf hashes (the input is not modified). */
export function merkleRoot(leafHashes: Buffer | readonly Uint8Array[]): Buffer {
  if (Buffer.isBuffer(leafHashes)) return merkleRootInPlace(Buffer.from(leafHashes));
  const level0 = Buffer.allocUnsafe(leafHashes.length * HASH_SIZE);
  leafHashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new ValueError(`leaf hash ${i} is ${h.length} bytes, expected ${HASH_SIZE}`);
    level0.set(h, i * HASH_SIZE);
  });
  return merkleRootInPlace(level0);
}

function buildLevels(level0: Buffer, size: number): Buffer[] {
  const levels = [level0];
  const scratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
  scratch[0] = 0x01;
  let level = level0;
  let count = size;
  while (count > 1) {
    const pairs = Math.floor(count / 2);
    const next = Buffer.allocUnsafe((count - pairs) * HASH_SIZE);
    for (let j = 0; j < pairs; j++) {
      level.copy(scratch, 1, j * 2 * HASH_SIZE, (j + 1) * 2 * HASH_SIZE);
      hash('sha256', scratch, 'buffer').copy(next, j * HASH_SIZE);
    }
    if (count % 2 === 1) level.copy(next, pairs * HASH_SIZE, (count - 1) * HASH_SIZE, count * HASH_SIZE);
    levels.push(next);
    level = next;
    count -= pairs;
  }
  return levels;
}

/** Largest power of two strictly below n. Requires n >= 2. */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
