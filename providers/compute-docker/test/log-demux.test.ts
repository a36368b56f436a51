import { describe, expect, it } from 'vitest';
import { CappedBuffer } from '@agora/core';
import { DockerLogDemuxer, isDigestPinned } from '@agora/compute-docker';

function frame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

async function demux(chunks: Buffer[], cap?: number): Promise<{ out: string; err: string }> {
  const out = new CappedBuffer(cap);
  const err = new CappedBuffer(cap);
  const d = new DockerLogDemuxer(out, err);
  for (const c of chunks) d.write(c);
  await new Promise<void>((resolve, reject) => d.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { out: out.toString(), err: err.toString() };
}

describe('DockerLogDemuxer', () => {
  const stream = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err one\n'), frame(1, ''), frame(1, 'out two'), frame(2, '\u00e9\u0000binary')]);

  it('splits frames into stdout and stderr', async () => {
    expect(await demux([stream])).toEqual({ out: 'out one\nout two', err: 'err one\n\u00e9\u0000binary' });
  });

  it('gives the same result however the bytes are chunked (headers and payloads split anywhere)', async () => {
    const expected = await demux([stream]);
    for (let size = 1; size <= 13; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      expect(await demux(chunks)).toEqual(expected);
    }
  });

  it('treats a stream that is not multiplexed (TTY) as stdout', async () => {
    expect(await demux([Buffer.from('plain tty output, no headers')])).toEqual({ out: 'plain tty output, no headers', err: '' });
  });

  it('feeds the capped buffers, so the cap and its marker apply per stream', async () => {
    const r = await demux([frame(1, 'abcdefghij'), frame(2, 'xy')], 4);
    expect(r.out).toBe('abcd\n[agora: output truncated at 4 bytes; 6 more bytes dropped]\n');
    expect(r.err).toBe('xy');
  });
});

describe('isDigestPinned', () => {
  const hex = 'a'.repeat(64);
  it.each([
    [`busybox@sha256:${hex}`, true],
    [`localhost/agora-test/busybox@sha256:${hex}`, true],
    [`registry.example.com:5000/team/img:1.2@sha256:${hex}`, true],
    ['busybox', false],
    ['busybox:latest', false],
    [`busybox@sha256:${'a'.repeat(63)}`, false],
    [`busybox@sha256:${'A'.repeat(64)}`, false],
    [`busybox@sha512:${hex}`, false],
    [`@sha256:${hex}`, false],
  ])('%s -> %s', (image, pinned) => {
    expect(isDigestPinned(image)).toBe(pinned);
  });
});
