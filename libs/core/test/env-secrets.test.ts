import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError, envSecret, loadFileSecrets } from '../src/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, contents: string | Buffer): string => {
  const p = path.join(dir, name);
  writeFileSync(p, contents, { mode: 0o600 });
  return p;
};

describe('envSecret', () => {
  it('reads NAME, else the file NAME_FILE names, dropping one trailing newline', () => {
    expect(envSecret('X', { X: 'direct' })).toBe('direct');
    expect(envSecret('X', { X_FILE: file('x', 'from-file\n') })).toBe('from-file');
    expect(envSecret('X', { X_FILE: file('crlf', 'two-lines\nkept\r\n') })).toBe('two-lines\nkept');
    expect(envSecret('X', {})).toBeUndefined();
    // An empty NAME_FILE is no file: NAME (or nothing) as before.
    expect(envSecret('X', { X: 'direct', X_FILE: '' })).toBe('direct');
  });

  it('refuses both set, an unreadable file and an oversized one, naming the variable and path, never the contents', () => {
    expect(() => envSecret('X', { X: 'a', X_FILE: file('both', 'b') })).toThrow(new ValueError('both X and X_FILE are set; give one'));
    const missing = path.join(dir, 'nope');
    expect(() => envSecret('X', { X_FILE: missing })).toThrow(`X_FILE: cannot read ${missing} (ENOENT)`);
    const big = file('big', Buffer.alloc(70_000, 'a'));
    expect(() => envSecret('X', { X_FILE: big })).toThrow(`X_FILE: ${big} is 70000 bytes; a secret file holds at most 65536`);
  });
});

describe('loadFileSecrets', () => {
  it('sets REDIS_URL and the API keys from their _FILE variables, leaves other names alone', () => {
    const env: NodeJS.ProcessEnv = {
      REDIS_URL_FILE: file('redis', 'redis://:s3cret@127.0.0.1:6379\n'),
      AGORA_API_KEY_FILE: file('api', 'api-key-0123456789abcdef'),
      OTHER_FILE: file('other', 'not a secret of ours'),
    };
    loadFileSecrets(env);
    expect(env['REDIS_URL']).toBe('redis://:s3cret@127.0.0.1:6379');
    expect(env['AGORA_API_KEY']).toBe('api-key-0123456789abcdef');
    expect(env['AGORA_ADMIN_KEY']).toBeUndefined();
    expect(env['OTHER']).toBeUndefined();
  });
});
