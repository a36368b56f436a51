import { ValueError } from '@agora/core';

/** One Server-Sent Event: its `event:` name (absent: a plain message), `id:` and joined `data:` lines. */
export interface SseMessage {
  readonly event?: string;
  readonly id?: string;
  readonly data: string;
}

/**
 * Text of an event stream in, messages out, following the WHATWG "event stream interpretation"
 * rules: lines end in CRLF, LF or CR; a blank line dispatches; `data:` lines join with "\n"; one
 * space after the colon is dropped; lines starting with ":" are comments; `retry:` and unknown
 * fields are ignored; a message without data is not dispatched. Chunks may split anywhere (a CRLF
 * split between two chunks is one line end). Holds at most `maxChars` characters of one
 * unfinished message: a stream that never ends its message is refused with `ValueError`, not buffered.
 *
 * Written here rather than taken from a library: eventsource-parser, the usual one, publishes
 * its TypeScript sources under the `source` export condition this repo compiles with, and those
 * do not compile under our settings.
 */
export class SseDecoder {
  private pending = '';
  private data: string[] = [];
  private dataBytes = 0;
  private event: string | undefined;
  private id: string | undefined;
  private afterCr = false;

  constructor(private readonly maxChars: number) {}

  /** Feeds a chunk; returns the messages it completed, in order. */
  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    if (chunk === '') return out; // would forget a CR that ended the last chunk
    // A CR that ended the last chunk ended its line; an LF opening this one is the rest of that CRLF.
    const rest = this.afterCr && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
    const text = this.pending + rest;
    this.afterCr = text.endsWith('\r');
    const lines = text.split(/\r\n|\r|\n/);
    this.pending = lines.pop() ?? '';
    if (this.pending.length + this.dataBytes > this.maxChars) throw new ValueError(`an event is over ${this.maxChars} characters`);
    for (const line of lines) {
      if (line === '') {
        if (this.data.length > 0) out.push({ data: this.data.join('\n'), ...(this.event !== undefined ? { event: this.event } : {}), ...(this.id !== undefined ? { id: this.id } : {}) });
        this.data = [];
        this.dataBytes = 0;
        this.event = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') {
        this.data.push(value);
        this.dataBytes += value.length + 1;
        if (this.dataBytes > this.maxChars) throw new ValueError(`an event is over ${this.maxChars} characters`);
      } else if (field === 'event') {
        this.event = value;
      } else if (field === 'id' && !value.includes('\0')) {
        // The last event id persists across messages until the stream sets another.
        this.id = value;
      }
    }
    return out;
  }
}
