import type { Scrubber } from './scrub.js';

/** ADR-0014: worker stdout/stderr are capped; the cap is visible in the captured text. */
export const OUTPUT_CAP_BYTES = 10 * 1024 * 1024;

export function truncationMarker(droppedBytes: number, capBytes: number = OUTPUT_CAP_BYTES): string {
  return `\n[agora: output truncated at ${capBytes} bytes; ${droppedBytes} more bytes dropped]\n`;
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
