import { Writable } from 'node:stream';

export interface ChunkSink {
  push(chunk: Buffer): void;
}

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

/**
 * Splits the Docker Engine's multiplexed log stream (frames of an 8-byte header — stream type,
 * three zero bytes, big-endian payload length — then the payload) into stdout and stderr.
 * Payload bytes go straight to the sinks as they arrive, so a huge frame is never held whole.
 * A header with an unknown stream type means the stream is not multiplexed (a TTY container):
 * from there on every byte counts as stdout.
 */
export class DockerLogDemuxer extends Writable {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private remaining = 0;
  private target: ChunkSink;
  private raw = false;

  constructor(
    private readonly stdout: ChunkSink,
    private readonly stderr: ChunkSink,
  ) {
    super();
    this.target = stdout;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.consume(chunk);
    done();
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.raw) {
        this.stdout.push(chunk.subarray(off));
        return;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        this.target.push(chunk.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        continue;
      }
      const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - off);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      if (this.headerFill < HEADER_BYTES) return;
      this.headerFill = 0;
      const type = this.header[0];
      if (type !== 0 && type !== STDOUT && type !== STDERR) {
        this.raw = true;
        this.stdout.push(Buffer.from(this.header));
        continue;
      }
      this.target = type === STDERR ? this.stderr : this.stdout;
      this.remaining = this.header.readUInt32BE(4);
    }
  }
}
