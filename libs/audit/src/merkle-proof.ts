import { EMPTY_ROOT, HASH_SIZE, hashChildren } from './merkle-hasher.js';
import { MerkleVerificationError } from './merkle-verification-error.js';

// Tree sizes and indices are JS numbers up to 2^53 - 1, so bit operators (32-bit) are avoided.
const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/**
 * Root hash that an inclusion proof yields for `leafHash` at `leafIndex` in a tree of
 * `treeSize` leaves: the algorithm of RFC 9162 §2.1.3.2 up to (not including) the final
 * comparison. Requires 0 <= leafIndex < treeSize. Throws {@link MerkleVerificationError} when
 * the proof cannot belong to that index and size.
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  requireCount('tree size', treeSize);
  requireCount('leaf index', leafIndex);
  requireHash('leaf hash', leafHash);
  proof.forEach((p, i) => requireHash(`proof[${i}]`, p));
  if (leafIndex >= treeSize) {
    throw new MerkleVerificationError('index-out-of-range', 'leaf index is not below the tree size', `< ${treeSize}`, String(leafIndex));
  }
  const expectedLength = (): string => String(inclusionProofLength(leafIndex, treeSize));
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) {
      throw new MerkleVerificationError('proof-length', 'inclusion proof is too long', expectedLength(), String(proof.length));
    }
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) {
    throw new MerkleVerificationError('proof-length', 'inclusion proof is too short', expectedLength(), String(proof.length));
  }
  return r;
}

/**
 * RFC 9162 §2.1.3.2: checks that `leafHash` is leaf `leafIndex` of the tree of `treeSize`
 * leaves whose root is `root`. Throws {@link MerkleVerificationError} otherwise.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  requireHash('root', root);
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  if (!computed.equals(root)) {
    throw new MerkleVerificationError('root-mismatch', 'inclusion proof does not lead to the root', hex(root), hex(computed));
  }
}

/**
 * RFC 9162 §2.1.4.2: checks that the tree of `size2` leaves with root `root2` extends the tree
 * of `size1` leaves with root `root1`. The RFC algorithm covers 0 < size1 < size2; the edge
 * cases follow from the definition of PROOF: equal sizes need an empty proof and equal roots,
 * and the empty tree (whose root must be MTH({})) is a prefix of every tree.
 * Throws {@link MerkleVerificationError} on failure.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  requireCount('first size', size1);
  requireCount('second size', size2);
  requireHash('first root', root1);
  requireHash('second root', root2);
  proof.forEach((p, i) => requireHash(`proof[${i}]`, p));
  if (size2 < size1) {
    throw new MerkleVerificationError('size-order', 'second tree is smaller than the first', `>= ${size1}`, String(size2));
  }
  if (size1 === 0 || size1 === size2) {
    if (proof.length !== 0) {
      throw new MerkleVerificationError('proof-length', 'consistency proof must be empty', '0', String(proof.length));
    }
    if (size1 === 0 && !EMPTY_ROOT.equals(root1)) {
      throw new MerkleVerificationError('first-root-mismatch', 'root of the empty tree', hex(EMPTY_ROOT), hex(root1));
    }
    if (size1 === size2 && !Buffer.from(root1).equals(root2)) {
      throw new MerkleVerificationError('second-root-mismatch', 'trees of equal size have different roots', hex(root1), hex(root2));
    }
    return;
  }
  const expectedLength = (): string => String(consistencyProofLength(size1, size2));
  // Step 1.
  if (proof.length === 0) {
    throw new MerkleVerificationError('proof-length', 'consistency proof is empty', expectedLength(), '0');
  }
  // Step 2.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  // Steps 3-4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr = fr;
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) {
      throw new MerkleVerificationError('proof-length', 'consistency proof is too long', expectedLength(), String(proof.length));
    }
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) {
    throw new MerkleVerificationError('proof-length', 'consistency proof is too short', expectedLength(), String(proof.length));
  }
  if (!fr.equals(root1)) {
    throw new MerkleVerificationError('first-root-mismatch', 'consistency proof does not lead to the first root', hex(root1), hex(fr));
  }
  if (!sr.equals(root2)) {
    throw new MerkleVerificationError('second-root-mismatch', 'consistency proof does not lead to the second root', hex(root2), hex(sr));
  }
}

/** Number of hashes in PATH(index, D[0:size]). Requires 0 <= index < size. */
export function inclusionProofLength(index: number, size: number): number {
  // Levels where the path has a sibling below the point where index and the last leaf diverge,
  // plus one hash per complete left subtree on the right border above it.
  const last = BigInt(size - 1);
  const idx = BigInt(index);
  const inner = (idx ^ last).toString(2).length - (idx === last ? 1 : 0);
  const border = (idx >> BigInt(inner)).toString(2).split('').filter((b) => b === '1').length;
  return inner + border;
}

/** Number of hashes in PROOF(size1, D[0:size2]). Requires 0 <= size1 <= size2. */
export function consistencyProofLength(size1: number, size2: number): number {
  if (size1 === 0 || size1 === size2) return 0;
  let level = 0;
  let m = size1;
  while (!isOdd(m)) {
    m = half(m);
    level += 1;
  }
  // The proof is the inclusion proof of node (level, index) in a tree of size2 leaves, plus that
  // node itself unless it is the whole first tree (size1 a power of two).
  const index = (size1 - 1 - ((size1 - 1) % 2 ** level)) / 2 ** level;
  const nodesAtLevel = Math.ceil(size2 / 2 ** level);
  return inclusionProofLength(index, nodesAtLevel) + (index === 0 ? 0 : 1);
}

function isPowerOfTwo(x: number): boolean {
  if (x < 1) return false;
  while (!isOdd(x) && x > 1) x = half(x);
  return x === 1;
}

function requireCount(what: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) {
    throw new MerkleVerificationError('invalid-argument', `${what} must be a non-negative safe integer`, 'integer >= 0', String(x));
  }
}

function requireHash(what: string, h: Uint8Array): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new MerkleVerificationError('invalid-argument', `${what} must be a ${HASH_SIZE}-byte hash`, `${HASH_SIZE} bytes`, got);
  }
}

function hex(h: Uint8Array): string {
  return Buffer.from(h).toString('hex');
}
