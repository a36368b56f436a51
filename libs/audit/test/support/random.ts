/** Seeded PRNG (mulberry32) so a failing random case can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(next: () => number, maxExclusive: number): number {
  return Math.floor(next() * maxExclusive);
}

/** n leaves of 0..40 random bytes each. */
export function randomLeaves(next: () => number, n: number): Buffer[] {
  return Array.from({ length: n }, () => Buffer.from(Array.from({ length: randomInt(next, 41) }, () => randomInt(next, 256))));
}
