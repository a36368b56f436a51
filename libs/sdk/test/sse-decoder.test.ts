import { describe, expect, it } from 'vitest';
import { ValueError } from '@agora/core';
import { SseDecoder } from '../src/sse-decoder.js';

/** The HTTP transport's event-stream reader (WHATWG event stream interpretation). */

const STREAM = 'id: 0\nevent: run\ndata: {"seq":0}\n\n: a comment\r\nid: 1\r\nevent: item\r\ndata: {"seq":\r\ndata:1}\r\n\r\nretry: 10\rdata:x\r\r';
const MESSAGES = [
  { id: '0', event: 'run', data: '{"seq":0}' },
  { id: '1', event: 'item', data: '{"seq":\n1}' },
  { id: '1', data: 'x' },
];

describe('SseDecoder', () => {
  it('reads LF, CRLF and CR lines, joins data lines, drops comments, retry and one leading space', () => {
    expect(new SseDecoder(1024).push(STREAM)).toEqual(MESSAGES);
  });

  it('gives the same messages whatever the chunk boundaries, a CRLF split across two chunks included', () => {
    for (let size = 1; size <= STREAM.length; size++) {
      const d = new SseDecoder(1024);
      const out = [];
      for (let i = 0; i < STREAM.length; i += size) out.push(...d.push(STREAM.slice(i, i + size)), ...d.push(''));
      expect(out, `chunks of ${size}`).toEqual(MESSAGES);
    }
  });

  it('does not dispatch a message without data, nor one whose blank line has not come', () => {
    const d = new SseDecoder(1024);
    expect(d.push('event: ping\n\ndata: half')).toEqual([]);
    expect(d.push('\n\n')).toEqual([{ data: 'half' }]);
  });

  it('refuses a message over its bound, in one line or over many', () => {
    expect(() => new SseDecoder(64).push(`data: ${'x'.repeat(100)}`)).toThrow(ValueError);
    const d = new SseDecoder(64);
    expect(() => {
      for (let i = 0; i < 20; i++) d.push('data: 0123456789\n');
    }).toThrow('an event is over 64 characters');
  });
});
