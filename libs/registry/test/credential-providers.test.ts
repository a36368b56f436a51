import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError, compileConfig } from '@agora/core';
import { FileCredentialProvider, ProviderSet, StaticCredentialProvider, checkProviders } from '@agora/registry';

/**
 * The `static` and `file` credential providers on real files: the file's mode and owner checks,
 * both formats, re-reading on every resolve, and health messages that name what is missing and
 * never a value.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-creds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretsFile(name: string, text: string, mode: number): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode); // explicit: the umask must not decide what the test checks
  return p;
}

const fileProvider = (options: Record<string, unknown>): FileCredentialProvider => new FileCredentialProvider(options, { configDir: dir });

describe('the file credential provider', () => {
  it('refuses a file that gives group or others any access, naming its mode; accepts 0600', async () => {
    secretsFile('open.json', JSON.stringify({ API_KEY: 'open-file-secret-value' }), 0o644);
    const open = fileProvider({ path: 'open.json' });
    const err = await open.resolve({ refs: ['secret:API_KEY'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toBe(`file credentials: ${path.join(dir, 'open.json')} has mode 0644, which gives group or others access; run chmod 600 ${path.join(dir, 'open.json')}`);
    expect(await open.health()).toMatchObject({ ok: false, message: expect.stringContaining('has mode 0644') });
    // Group read alone is refused too (mode & 0o077).
    chmodSync(path.join(dir, 'open.json'), 0o640);
    expect((await open.health()).message).toContain('has mode 0640');

    chmodSync(path.join(dir, 'open.json'), 0o600);
    expect(await open.resolve({ refs: ['secret:API_KEY'] })).toEqual({ kind: 'static-secrets', secrets: { 'secret:API_KEY': 'open-file-secret-value' } });
    const h = await open.health();
    expect(h).toMatchObject({ ok: true, message: `file credentials: ${path.join(dir, 'open.json')} (mode 0600, json) holds 1 value(s)` });
    expect(JSON.stringify(h)).not.toContain('open-file-secret-value');
  });

  it('parses dotenv (quotes, comments, export-less lines) and JSON; the format follows the extension or options.format', async () => {
    secretsFile('app.env', '# the app\nDB_PASSWORD=hunter2-db-pass\nTOKEN="quoted token value"\nEMPTY=\n', 0o600);
    const env = await fileProvider({ path: 'app.env' }).resolve({ refs: ['secret:DB_PASSWORD', 'secret:TOKEN', 'secret:EMPTY'] });
    expect(env).toEqual({ kind: 'static-secrets', secrets: { 'secret:DB_PASSWORD': 'hunter2-db-pass', 'secret:TOKEN': 'quoted token value', 'secret:EMPTY': '' } });
    secretsFile('secrets.txt', JSON.stringify({ 'svc.token': 'json-by-option' }), 0o400);
    expect(await fileProvider({ path: 'secrets.txt', format: 'json' }).resolve({ refs: ['secret:svc.token'] })).toEqual({ kind: 'static-secrets', secrets: { 'secret:svc.token': 'json-by-option' } });
  });

  it('refuses bad contents without quoting them: invalid JSON, a non-string value, an unknown ref', async () => {
    secretsFile('broken.json', '{"A": not-json-secret-text}', 0o600);
    const broken = await fileProvider({ path: 'broken.json' }).health();
    expect(broken).toMatchObject({ ok: false, message: `file credentials: ${path.join(dir, 'broken.json')} is not valid JSON` });
    expect(JSON.stringify(broken)).not.toContain('not-json-secret-text');
    secretsFile('nested.json', JSON.stringify({ A: { nested: 'x' } }), 0o600);
    expect((await fileProvider({ path: 'nested.json' }).health()).message).toBe(`file credentials: ${path.join(dir, 'nested.json')} "A" is not a string (object)`);
    secretsFile('ok.json', JSON.stringify({ A: 'value-of-a-secret' }), 0o600);
    const unknown = await fileProvider({ path: 'ok.json' }).resolve({ refs: ['secret:B'] }).catch((e: unknown) => e);
    expect((unknown as Error).message).toBe('file credentials: "secret:B" names no value (holds: A)');
    const wrongForm = await fileProvider({ path: 'ok.json' }).resolve({ refs: ['env:A'] }).catch((e: unknown) => e);
    expect((wrongForm as Error).message).toBe('file credentials: "env:A" is not a secret:NAME reference');
  });

  it('health names a missing file and a missing required value', async () => {
    expect(await fileProvider({ path: 'nope.env' }).health()).toMatchObject({ ok: false, message: `file credentials: ${path.join(dir, 'nope.env')} does not exist` });
    secretsFile('partial.env', 'A=aaaa\n', 0o600);
    expect(await fileProvider({ path: 'partial.env', required: ['A', 'B', 'C'] }).health()).toMatchObject({ ok: false, message: `file credentials: ${path.join(dir, 'partial.env')} lacks required value(s): B, C` });
  });

  it('reads the file on every resolve: a rotated value is used next time, a loosened mode is refused next time', async () => {
    const p = secretsFile('rotate.env', 'KEY=first-value\n', 0o600);
    const provider = fileProvider({ path: p });
    expect((await provider.resolve({ refs: ['secret:KEY'] }))['secrets']).toEqual({ 'secret:KEY': 'first-value' });
    writeFileSync(p, 'KEY=second-value\n');
    expect((await provider.resolve({ refs: ['secret:KEY'] }))['secrets']).toEqual({ 'secret:KEY': 'second-value' });
    chmodSync(p, 0o604);
    await expect(provider.resolve({ refs: ['secret:KEY'] })).rejects.toThrow(/has mode 0604/);
  });

  it('refuses a file owned by another user, naming both uids', async () => {
    const me = process.getuid!();
    // Root gives a file away; any other user meets a file root owns (the owner check comes first).
    const p = me === 0 ? secretsFile('foreign.env', 'KEY=foreign-value\n', 0o600) : '/etc/passwd';
    if (me === 0) chownSync(p, 65534, 65534);
    const owner = statSync(p).uid;
    expect(owner).not.toBe(me);
    expect((await fileProvider({ path: p }).health()).message).toBe(`file credentials: ${p} is owned by uid ${owner}, not by this process's uid ${me}; chown it to the user Agora runs as`);
  });
});

describe('the static credential provider', () => {
  it('resolves secret:NAME from options.values; health counts them and names no value', async () => {
    const p = new StaticCredentialProvider({ values: { API_KEY: 'static-dev-value', OTHER: 'other-dev-value' } }, {});
    expect(await p.resolve({ refs: ['secret:API_KEY'] })).toEqual({ kind: 'static-secrets', secrets: { 'secret:API_KEY': 'static-dev-value' } });
    const h = await p.health();
    expect(h).toMatchObject({ ok: true, message: 'static credentials: 2 value(s) (clear text in the config file: development only)' });
    expect(JSON.stringify(h)).not.toMatch(/static-dev-value|other-dev-value/);
    await expect(p.resolve({ refs: ['secret:NOPE'] })).rejects.toThrow('static credentials: "secret:NOPE" names no value (holds: API_KEY, OTHER)');
  });

  it('refuses to load under NODE_ENV=production unless allowInProduction, which health then says', async () => {
    expect(() => new StaticCredentialProvider({ values: { A: 'aaaa' } }, { NODE_ENV: 'production' })).toThrow(
      'static credentials: refused because NODE_ENV is "production": values written in the config file are for development. Use the file, env or aws credential provider, or set options.allowInProduction: true',
    );
    const allowed = new StaticCredentialProvider({ values: { A: 'aaaa' }, allowInProduction: true }, { NODE_ENV: 'production' });
    expect((await allowed.health()).message).toBe('static credentials: 1 value(s) (allowed in production by options.allowInProduction: prefer the file, env or aws provider)');
  });

  it('refuses a non-string value naming its key only', () => {
    expect(() => new StaticCredentialProvider({ values: { PORT: 5432 } }, {})).toThrow('static credentials: options.values "PORT" is not a string (number)');
  });
});

describe('through the registry and checkProviders (what agora doctor and /readyz print)', () => {
  it('each provider is a row; the file row fails naming the mode', async () => {
    secretsFile('doctor.env', 'X=doctor-value\n', 0o644);
    const config = compileConfig(
      {
        credentials: {
          dev: { provider: 'static', options: { values: { X: 'doctor-dev-value' } } },
          files: { provider: 'file', options: { path: 'doctor.env' } },
          keys: { provider: 'env', options: { required: ['AGORA_TEST_UNSET_VAR'] } },
        },
      },
      'test',
      dir,
      {},
    );
    const rows = await checkProviders(config, new ProviderSet(config));
    const by = (n: string) => rows.find((r) => r.name === n);
    expect(by('dev')).toMatchObject({ kind: 'credentials', provider: 'static', ok: true });
    expect(by('files')).toMatchObject({ kind: 'credentials', provider: 'file', ok: false, message: expect.stringContaining('has mode 0644') });
    expect(by('keys')).toMatchObject({ ok: false, message: 'missing environment variable(s): AGORA_TEST_UNSET_VAR' });
    expect(JSON.stringify(rows)).not.toMatch(/doctor-value|doctor-dev-value/);
  });
});
