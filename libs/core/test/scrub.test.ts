import { describe, expect, it } from 'vitest';
import { CappedBuffer, MIN_SCRUB_LENGTH, REDACTED, createScrubber, secretForms, staticSecretValues, truncationMarker } from '@agora/core';

const SECRET = 'hunter2-sup3r/s3cret+key?';

describe('createScrubber', () => {
  it('replaces the value and its base64, url-safe base64, URL-encoded, JSON-escaped and hex (either case) forms', () => {
    const s = createScrubber([SECRET]);
    const b = Buffer.from(SECRET);
    for (const form of [SECRET, b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), encodeURIComponent(SECRET), b.toString('hex'), b.toString('hex').toUpperCase()]) {
      expect(s.text(`before ${form} after`)).toBe(`before ${REDACTED} after`);
    }
    expect(s.text(JSON.stringify({ k: `a"${SECRET}` }))).not.toContain(SECRET);
  });

  it('replaces a value with non-ASCII characters JSON-escaped as \\uXXXX (either case) and escaped twice', () => {
    const secret = 'ünïcödé-sëcret\u20ac"x\ny';
    const s = createScrubber([secret]);
    const escaped = JSON.stringify(secret).slice(1, -1);
    const ascii = escaped.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    // What Python's json.dumps prints by default: \u00fcn\u00efc...
    expect(ascii).toContain('\\u00fcn\\u00efc');
    for (const form of [ascii, ascii.replace(/\\u([0-9a-f]{4})/g, (_, h: string) => `\\u${h.toUpperCase()}`), JSON.stringify(escaped).slice(1, -1)]) {
      expect(s.text(`{"k":"${form}"}`), form).toBe(`{"k":"${REDACTED}"}`);
    }
  });

  it('finds the value inside a longer base64 text at any alignment (echo "$SECRET" | base64, a base64 JSON document)', () => {
    const s = createScrubber([SECRET]);
    for (const wrapped of [`${SECRET}\n`, `x${SECRET}`, `{"token":"${SECRET}"}`]) {
      const b64 = Buffer.from(wrapped).toString('base64');
      const out = s.text(b64);
      expect(out).toContain(REDACTED);
      // No 8 characters in a row that encode only secret bytes survive, at any alignment.
      for (const shift of [0, 1, 2]) {
        const pure = Buffer.concat([Buffer.alloc(shift), Buffer.from(SECRET)]).toString('base64').slice(4, -4);
        for (let i = 0; i + 8 <= pure.length; i++) expect(out).not.toContain(pure.slice(i, i + 8));
      }
    }
  });

  it('merges overlapping matches into one marker, in strings and in bytes, and leaves other bytes exactly as they were', () => {
    const s = createScrubber(['abcdef', 'defghi']);
    expect(s.text('xxabcdefghixx')).toBe(`xx${REDACTED}xx`);
    const bytes = Buffer.from([0xff, 0x00, ...Buffer.from('abcdefghi'), 0x80, 0xfe]);
    expect(s.bytes(bytes)).toEqual(Buffer.concat([Buffer.from([0xff, 0x00]), Buffer.from(REDACTED), Buffer.from([0x80, 0xfe])]));
    const clean = Buffer.from([0, 1, 2, 0xff]);
    expect(s.bytes(clean)).toBe(clean);
  });

  it(`skips values shorter than ${MIN_SCRUB_LENGTH} characters (they would redact half of any output)`, () => {
    const s = createScrubber(['abc', '']);
    expect(s.active).toBe(false);
    expect(s.text('abcabc')).toBe('abcabc');
    expect(secretForms('abcd')).toContain('abcd');
  });

  it('redacts the beginning of a secret cut in two by the output cap', () => {
    const s = createScrubber([SECRET]);
    const buf = new CappedBuffer(10);
    buf.push(`ok:${SECRET}`);
    const out = buf.contents(s).toString();
    expect(out).toBe(`ok:${REDACTED}${truncationMarker(SECRET.length - 7, 10)}`);
    expect(out).not.toContain(SECRET.slice(0, 7));
  });

  it('scrubs error messages, stacks and causes in place', () => {
    const s = createScrubber([SECRET]);
    const err = new Error(`outer ${SECRET}`, { cause: new Error(`inner ${SECRET}`) });
    expect(s.error(err)).toBe(err);
    expect(err.message).toBe(`outer ${REDACTED}`);
    expect(err.stack).not.toContain(SECRET);
    expect((err.cause as Error).message).toBe(`inner ${REDACTED}`);
  });

  it('staticSecretValues picks the values of the refs a task names from static-secrets credentials', () => {
    const creds = { kind: 'static-secrets', secrets: { 'env:A': 'value-a', 'env:B': 'value-b' } };
    expect(staticSecretValues({ X: 'env:A', Y: 'env:missing' }, creds)).toEqual(['value-a']);
    expect(staticSecretValues({ X: 'env:A' }, { kind: 'none' })).toEqual([]);
    expect(staticSecretValues(undefined, creds)).toEqual([]);
  });
});
