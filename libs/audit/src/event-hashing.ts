import { hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ValueError } from '@agora/core';
import { canonicalJson, checkedEventJson } from './canonical-json.js';
import { EventValidationError, eventProblems, type AuditEvent } from './event-validation.js';
import { HASH_SIZE } from './merkle-hasher.js';
import { merkleRootInPlace } from './merkle-tree.js';

export interface EventHashingOptions {
  /**
   * Check each event with {@link eventProblems} first and throw {@link EventValidationError} on
   * the first bad one. Turn off only when the caller has validated already.
   * @default true
   */
  readonly validate?: boolean;
  /**
   * Hash on a worker thread while this thread canonicalises, for inputs of at least this many
   * events. `Infinity` keeps everything on the calling thread.
   * @default 65536
   */
  readonly parallelMinEvents?: number;
  /** Leaves per chunk handed to the worker; a power of two. @default 16384 */
  readonly chunkLeaves?: number;
}

/**
 * Leaf hashes of `events`, back to back in one Buffer (event i at bytes [32i, 32i+32)).
 * A run is never sealed with an event that could not be verified later, so events are
 * validated unless the caller says it has done so.
 */
export function eventLeafHashes(events: readonly AuditEvent[], options: EventHashingOptions = {}): Buffer {
  const validate = options.validate ?? true;
  const out = Buffer.allocUnsafe(events.length * HASH_SIZE);
  for (let i = 0; i < events.length; i++) {
    // '\u0000' is the RFC 9162 leaf prefix; hashing one string lets node encode UTF-8 once.
    hash('sha256', `\u0000${leafText(events[i], i, validate)}`, 'buffer').copy(out, i * HASH_SIZE);
  }
  return out;
}

/**
 * MTH over the canonical JSON of `events`. Large inputs are pipelined: this thread validates
 * and canonicalises chunk k+1 while a worker thread hashes chunk k and folds it to its subtree
 * root. Chunks are a power of two long, so every full chunk is a complete subtree of the RFC
 * 9162 tree and its root is the node the level-by-level construction would hold at that level;
 * folding the chunk roots the same way gives the same MTH. The call stays synchronous (the
 * thread blocks on Atomics.wait) and falls back to one thread if the worker is unavailable.
 */
export function eventsMerkleRoot(events: readonly AuditEvent[], options: EventHashingOptions = {}): Buffer {
  const min = options.parallelMinEvents ?? 65_536;
  if (events.length >= min) {
    const root = parallelRoot(events, options.validate ?? true, options.chunkLeaves ?? 16_384);
    if (root !== undefined) return root;
  }
  return merkleRootInPlace(eventLeafHashes(events, options));
}

function leafText(event: unknown, i: number, validate: boolean): string {
  if (!validate) return canonicalJson(event);
  const text = checkedEventJson(event);
  if (text === undefined) throw new EventValidationError(eventProblems(event).map((p) => `events[${i}].${p}`));
  return text;
}

const SLOTS = 3;
const WAIT_LIMIT_MS = 120_000;

function parallelRoot(events: readonly AuditEvent[], validate: boolean, chunkLeaves: number): Buffer | undefined {
  if (!Number.isSafeInteger(chunkLeaves) || chunkLeaves < 1 || (chunkLeaves & (chunkLeaves - 1)) !== 0) {
    throw new ValueError(`chunkLeaves must be a power of two, got ${chunkLeaves}`);
  }
  const worker = hashWorker();
  if (worker === undefined) return undefined;
  const n = events.length;
  const chunks = Math.ceil(n / chunkLeaves);
  const roots = new SharedArrayBuffer(chunks * HASH_SIZE);
  // [0]: chunks finished by the worker; [1]: non-zero once the worker failed.
  const control = new Int32Array(new SharedArrayBuffer(8));
  const slots: SharedArrayBuffer[] = [];
  for (let c = 0; c < chunks; c++) {
    const begin = c * chunkLeaves;
    const end = Math.min(n, begin + chunkLeaves);
    // The slot is reused SLOTS chunks later: its previous chunk must be hashed by then.
    if (c >= SLOTS && !waitFor(control, c - SLOTS + 1)) return abandon();
    let slot = slots[c % SLOTS] ?? new SharedArrayBuffer(1 << 22);
    let bytes = Buffer.from(slot);
    const ends = new Uint32Array(end - begin);
    let off = 0;
    for (let i = begin; i < end; i++) {
      // Written straight away: holding a chunk of strings until later costs more in GC
      // than the hashing saves.
      const text = leafText(events[i], i, validate);
      const need = off + 1 + 3 * text.length; // UTF-8 needs at most 3 bytes per UTF-16 unit
      if (need > slot.byteLength) {
        const grown = new SharedArrayBuffer(Math.max(need, 2 * slot.byteLength));
        const grownBytes = Buffer.from(grown);
        bytes.copy(grownBytes, 0, 0, off);
        slot = grown;
        bytes = grownBytes;
      }
      bytes[off++] = 0x00;
      off += bytes.write(text, off);
      ends[i - begin] = off;
    }
    slots[c % SLOTS] = slot;
    worker.postMessage({ control, roots, chunk: c, bytes: slot, ends }, [ends.buffer]);
  }
  if (!waitFor(control, chunks)) return abandon();
  return merkleRootInPlace(Buffer.from(Buffer.from(roots)));
}

function waitFor(control: Int32Array, chunksDone: number): boolean {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    if (Atomics.load(control, 1) !== 0) return false;
    const done = Atomics.load(control, 0);
    if (done >= chunksDone) return true;
    if (Date.now() > deadline) return false;
    Atomics.wait(control, 0, done, 1000);
  }
}

/** Drops a worker that failed or stalled; the caller recomputes on its own thread. */
function abandon(): undefined {
  const w = sharedWorker;
  sharedWorker = null;
  void w?.terminate();
  return undefined;
}

// Plain CommonJS so it runs the same from src (vitest) and dist. Mirrors merkleRootInPlace;
// the tests hold both paths equal to the reference tree.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
parentPort.on('message', (m) => {
  try {
    const bytes = Buffer.from(m.bytes);
    const count = m.ends.length;
    const level = Buffer.allocUnsafe(count * 32);
    let start = 0;
    for (let i = 0; i < count; i++) {
      const end = m.ends[i];
      hash('sha256', bytes.subarray(start, end), 'buffer').copy(level, i * 32);
      start = end;
    }
    const scratch = Buffer.allocUnsafe(65);
    scratch[0] = 1;
    let n = count;
    while (n > 1) {
      const pairs = Math.floor(n / 2);
      for (let j = 0; j < pairs; j++) {
        level.copy(scratch, 1, j * 64, j * 64 + 64);
        hash('sha256', scratch, 'buffer').copy(level, j * 32);
      }
      if (n % 2 === 1) level.copy(level, pairs * 32, (n - 1) * 32, n * 32);
      n -= pairs;
    }
    level.copy(Buffer.from(m.roots), m.chunk * 32, 0, 32);
    Atomics.store(m.control, 0, m.chunk + 1);
  } catch (err) {
    Atomics.store(m.control, 1, 1);
  }
  Atomics.notify(m.control, 0);
});
`;

// undefined: not started yet; null: unavailable (failed once), stay on one thread.
let sharedWorker: Worker | null | undefined;

function hashWorker(): Worker | undefined {
  if (sharedWorker === undefined) {
    try {
      sharedWorker = new Worker(WORKER_SOURCE, { eval: true });
      sharedWorker.unref();
      sharedWorker.on('error', () => {
        sharedWorker = null;
      });
    } catch {
      sharedWorker = null;
    }
  }
  return sharedWorker ?? undefined;
}
