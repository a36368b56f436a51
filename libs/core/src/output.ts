import { z } from 'zod';
import type { Scrubber } from './scrub.js';

/** ADR-0014: worker stdout/stderr are capped; the cap is visible in the captured text. */
export const OUTPUT_CAP_BYTES = 10 * 1024 * 1024;

export function truncationMarker(droppedBytes: number, capBytes: number = OUTPUT_CAP_BYTES): string {
  return `\n[agora: output truncated at ${capBytes} bytes; ${droppedBytes} more bytes dropped]\n`;
}

/** A truncation marker of any cap, as bytes (latin1 keeps byte offsets). */
const MARKER_RE = /\n\[agora: output truncated at \d+ bytes; \d+ more bytes dropped\]\n/g;
/** What a provider may append after its own marker (e.g. `[agora: worker killed by SIGKILL]`). */
const AFTER_MARKER_SLACK = 256;

/**
 * Whether `bytes` was capped at `capBytes` or less already (by the provider, with its marker):
 * at most `capBytes` before its last marker, and little after it.
 */
function cappedAlready(bytes: Buffer, capBytes: number): boolean {
  const text = bytes.toString('latin1');
  let last: RegExpExecArray | null = null;
  for (const m of text.matchAll(MARKER_RE)) last = m as RegExpExecArray;
  if (!last) return false;
  const after = bytes.length - (last.index + last[0].length);
  return last.index <= capBytes && after <= AFTER_MARKER_SLACK;
}

/**
 * `bytes` cut at `capBytes` with the truncation marker, as CappedBuffer does, for output a
 * provider returns (a package provider may not cap it). Unchanged when at most `capBytes`, or
 * capped already by the provider (at most `capBytes` before its marker). `scrubber` redacts the
 * beginning of a secret the cut may leave at the end.
 */
export function capOutputBytes(bytes: Uint8Array, capBytes: number = OUTPUT_CAP_BYTES, scrubber?: Scrubber): { bytes: Uint8Array; truncated: boolean } {
  if (bytes.length <= capBytes) return { bytes, truncated: false };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (cappedAlready(buf, capBytes)) return { bytes, truncated: false };
  const kept = buf.subarray(0, capBytes);
  const scrubbed = scrubber ? scrubber.bytes(kept, { cut: true }) : kept;
  return { bytes: Buffer.concat([scrubbed, Buffer.from(truncationMarker(buf.length - capBytes, capBytes))]), truncated: true };
}

/** `capOutputBytes` for text (stderr): capped at `capBytes` of its UTF-8 encoding. */
export function capOutputText(text: string, capBytes: number = OUTPUT_CAP_BYTES, scrubber?: Scrubber): string {
  // A UTF-8 encoding is at most 3 bytes per UTF-16 unit: most text needs no encoding at all.
  if (text.length * 3 <= capBytes) return text;
  const encoded = Buffer.from(text, 'utf8');
  const capped = capOutputBytes(encoded, capBytes, scrubber);
  return capped.truncated ? Buffer.from(capped.bytes).toString('utf8') : text;
}

const taskExitSchema = z.object({
  exitCode: z.number().int().nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
  stdout: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes (a Uint8Array or Buffer)'),
  stderr: z.string(),
  providerFailureReason: z.string().optional(),
  cancelled: z.boolean().optional(),
});

/**
 * What is wrong with what a compute provider's `awaitExit` returned, as one line (`stdout:
 * expected bytes …; exitCode: …`), or null when it is a TaskExit (libs/core providers.ts).
 */
export function taskExitProblems(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `expected an object (a TaskExit), got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  }
  const parsed = taskExitSchema.safeParse(value);
  if (parsed.success) return null;
  return parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(exit)'}: ${i.message}`).join('; ');
}

/**
 * Accumulates a stream's chunks up to `capBytes`, counting what it drops, so a runaway worker
 * cannot exhaust the runner's memory.
 */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly capBytes: number = OUTPUT_CAP_BYTES) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const room = this.capBytes - this.kept;
    if (room >= buf.length) {
      this.chunks.push(buf);
      this.kept += buf.length;
    } else {
      if (room > 0) {
        this.chunks.push(buf.subarray(0, room));
        this.kept += room;
      }
      this.dropped += buf.length - Math.max(room, 0);
    }
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  get droppedBytes(): number {
    return this.dropped;
  }

  /**
   * The kept bytes exactly as the worker wrote them (scrubbed of secrets when a scrubber is
   * given), then the truncation marker if anything was dropped.
   */
  contents(scrubber?: Scrubber): Buffer {
    const kept = Buffer.concat(this.chunks);
    const bytes = scrubber ? scrubber.bytes(kept, { cut: this.dropped > 0 }) : kept;
    return this.dropped > 0 ? Buffer.concat([bytes, Buffer.from(truncationMarker(this.dropped, this.capBytes))]) : bytes;
  }

  /** `contents` decoded as UTF-8: for text shown in messages (stderr), never for artifacts. */
  text(scrubber?: Scrubber): string {
    return this.contents(scrubber).toString('utf8');
  }

  toString(): string {
    return this.text();
  }
}
