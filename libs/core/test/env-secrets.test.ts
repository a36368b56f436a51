import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError, envRedisUrl, envSecret, loadFileSecrets, parseRedisClusterUrl } from '../src/index.js';

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
    // Bytes that are not UTF-8 (a binary key): before, read with U+FFFD in their place, a different secret in silence.
    const binary = file('binary', Buffer.from([0x73, 0x65, 0x63, 0xff, 0xfe, 0x72, 0x65, 0x74]));
    expect(() => envSecret('X', { X_FILE: binary })).toThrow(new ValueError(`X_FILE: ${binary} is not UTF-8 text; a secret file holds the secret as UTF-8 text`));
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
    // Applied once: a child given this environment must not find both NAME and NAME_FILE.
    expect(env['REDIS_URL_FILE']).toBeUndefined();
    expect(env['AGORA_API_KEY_FILE']).toBeUndefined();
    expect(env['OTHER_FILE']).toBeDefined();
  });

  it('refuses an empty API key file (a secret that was not written), naming the variable and path', () => {
    const empty = file('empty-key', '\n');
    expect(() => loadFileSecrets({ AGORA_API_KEY_FILE: empty })).toThrow(new ValueError(`AGORA_API_KEY_FILE: ${empty} is empty; it must hold the key`));
    expect(() => loadFileSecrets({ AGORA_ADMIN_KEY_FILE: empty })).toThrow(`AGORA_ADMIN_KEY_FILE: ${empty} is empty`);
  });
});

describe('REDIS_PASSWORD', () => {
  it('is put into REDIS_URL (user and host from the URL), percent-encoded, from the variable or its file', () => {
    const env: NodeJS.ProcessEnv = { REDIS_URL: 'redis://runner@redis:6379/0', REDIS_PASSWORD_FILE: file('pw', 'p@ss:w/rd%\n') };
    loadFileSecrets(env);
    expect(env['REDIS_URL']).toBe('redis://runner:p%40ss%3Aw%2Frd%25@redis:6379/0');
    expect(decodeURIComponent(new URL(env['REDIS_URL']!).password)).toBe('p@ss:w/rd%');
    expect(env['REDIS_PASSWORD']).toBeUndefined();
    expect(env['REDIS_PASSWORD_FILE']).toBeUndefined();
    // Applied once: loading again (another reader in the same process) changes nothing.
    loadFileSecrets(env);
    expect(env['REDIS_URL']).toBe('redis://runner:p%40ss%3Aw%2Frd%25@redis:6379/0');
    const direct: NodeJS.ProcessEnv = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD: 'plain' };
    loadFileSecrets(direct);
    expect(direct['REDIS_URL']).toBe('redis://:plain@127.0.0.1:6379');
    // What an SDK client reads when no URL is passed to it (the environment is left as it is).
    const sdkEnv: NodeJS.ProcessEnv = { REDIS_URL: 'redis://submitter@h:6379', REDIS_PASSWORD: 'pw' };
    expect(envRedisUrl(sdkEnv)).toBe('redis://submitter:pw@h:6379');
    expect(sdkEnv['REDIS_PASSWORD']).toBe('pw');
    expect(envRedisUrl({})).toBeUndefined();
  });

  it('is put into every URL form REDIS_URL takes: a cluster URL of several seeds, host:port, //host, a bare port', () => {
    const pw = file('cluster-pw', 'p@ss:w/rd%\n');
    const cluster: NodeJS.ProcessEnv = { REDIS_URL: 'redis+cluster://runner@10.0.0.1:7000,10.0.0.2:7000', REDIS_PASSWORD_FILE: pw };
    loadFileSecrets(cluster);
    expect(cluster['REDIS_URL']).toBe('redis+cluster://runner:p%40ss%3Aw%2Frd%25@10.0.0.1:7000,10.0.0.2:7000');
    expect(parseRedisClusterUrl(cluster['REDIS_URL']!)).toMatchObject({ tls: false, username: 'runner', password: 'p@ss:w/rd%', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }] });
    expect(envRedisUrl({ REDIS_URL: 'rediss+cluster://r1:6380,r2:6380/0', REDIS_PASSWORD: 'pw' })).toBe('rediss+cluster://:pw@r1:6380,r2:6380/0');
    expect(envRedisUrl({ REDIS_URL: 'redis+cluster://runner:@r1:7000', REDIS_PASSWORD: 'pw' })).toBe('redis+cluster://runner:pw@r1:7000');
    expect(() => envRedisUrl({ REDIS_URL: 'redis+cluster://runner:other@r1:7000,r2:7000', REDIS_PASSWORD: 'x-secret' })).toThrow('both REDIS_PASSWORD and a password in REDIS_URL are given; give one');
    // Scheme-less forms ioredis reads as redis://: the password must not be dropped silently.
    expect(envRedisUrl({ REDIS_URL: 'redis:6379', REDIS_PASSWORD: 'pw' })).toBe('redis://:pw@redis:6379');
    expect(envRedisUrl({ REDIS_URL: 'runner@10.0.0.1:6379', REDIS_PASSWORD: 'pw' })).toBe('redis://runner:pw@10.0.0.1:6379');
    expect(envRedisUrl({ REDIS_URL: '//h:6379/2', REDIS_PASSWORD: 'pw' })).toBe('redis://:pw@h:6379/2');
    expect(envRedisUrl({ REDIS_URL: '6380', REDIS_PASSWORD: 'pw' })).toBe('redis://:pw@localhost:6380');
    expect(() => envRedisUrl({ REDIS_URL: '/run/redis.sock', REDIS_PASSWORD: 'x-secret' })).toThrow('REDIS_URL is a unix socket path');
  });

  it('refuses it without a REDIS_URL, with a URL that has a password already, or empty; never naming the password', () => {
    expect(() => loadFileSecrets({ REDIS_PASSWORD: 'x-secret' })).toThrow('REDIS_PASSWORD is set but REDIS_URL is not');
    expect(() => loadFileSecrets({ REDIS_URL: 'redis://:other@h:6379', REDIS_PASSWORD: 'x-secret' })).toThrow('both REDIS_PASSWORD and a password in REDIS_URL are given; give one');
    // A password as a query parameter (ioredis reads it) is one too: which one would win?
    expect(() => loadFileSecrets({ REDIS_URL: 'redis://h:6379?password=other', REDIS_PASSWORD: 'x-secret' })).toThrow('both REDIS_PASSWORD and a password in REDIS_URL are given; give one');
    expect(() => loadFileSecrets({ REDIS_URL: 'not a url', REDIS_PASSWORD: 'x-secret' })).toThrow('REDIS_URL is not a URL');
    expect(() => loadFileSecrets({ REDIS_URL: 'redis://h:6379', REDIS_PASSWORD_FILE: file('empty', '\n') })).toThrow('REDIS_PASSWORD is empty');
    try {
      loadFileSecrets({ REDIS_URL: 'redis://:other@h:6379', REDIS_PASSWORD: 'x-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('x-secret');
    }
  });
});
