import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError, sha256Hex } from '@agora/core';
import { LocalStorageProvider } from '@agora/storage-local';

/**
 * Item 13 of the trust-boundary issue: local storage refuses symlinks that lead outside its root.
 * Whoever can write under the storage root (a worker sharing the data dir) must not be able to
 * make the runner read or write files elsewhere by planting a symlink.
 */
let dir: string;
let root: string;
let outside: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-sec-'));
  root = path.join(dir, 'storage');
  outside = path.join(dir, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('local storage and symlinks', () => {
  it('refuses to read a blob that is a symlink to a file outside the root', async () => {
    const secret = Buffer.from('ssh-private-key of someone else\n');
    const target = path.join(outside, 'id_ed25519');
    writeFileSync(target, secret);
    const hash = sha256Hex(secret);
    const typeDir = path.join(root, 'ns', 'result');
    mkdirSync(path.join(typeDir, 'blobs'), { recursive: true });
    symlinkSync(target, path.join(typeDir, 'blobs', hash));
    appendFileSync(path.join(typeDir, 'registry.jsonl'), JSON.stringify({ n: 'stolen', h: hash, at: new Date().toISOString() }) + '\n');
    const s = new LocalStorageProvider({ root });
    const err = await s.get(`agora://ns/result/stolen/${hash}`).then(
      (b) => `read ${Buffer.from(b).toString()}`,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/symlink/);
  });

  it('refuses to append the name index through a symlinked registry.jsonl', async () => {
    const target = path.join(outside, 'bashrc');
    writeFileSync(target, 'original\n');
    const typeDir = path.join(root, 'ns', 'result');
    mkdirSync(typeDir, { recursive: true });
    symlinkSync(target, path.join(typeDir, 'registry.jsonl'));
    const s = new LocalStorageProvider({ root });
    const err = await s.put('agora://ns/result/x', Buffer.from('payload')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/symlink/);
    expect(readFileSync(target, 'utf8')).toBe('original\n');
    await s.close();
  });

  it('refuses a namespace or type directory that is a symlink leading outside the root (no write, no read)', async () => {
    // A root reached through a symlink is fine: only what leads outside the resolved root is refused.
    const link = path.join(dir, 'root-link');
    symlinkSync(root, link);
    const s = new LocalStorageProvider({ root: link });
    const ok = await s.put('agora://fine/result/ok', Buffer.from('fine'));
    expect(Buffer.from(await s.get(ok.uri)).toString()).toBe('fine');

    symlinkSync(outside, path.join(root, 'ns'));
    const put = await s.put('agora://ns/result/x', Buffer.from('payload')).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(StorageError);
    expect((put as Error).message).toMatch(/outside the storage root/);
    expect(readdirSync(outside)).toEqual([]);

    mkdirSync(path.join(root, 'ns2'));
    mkdirSync(path.join(outside, 'task', 'blobs'), { recursive: true });
    writeFileSync(path.join(outside, 'task', 'registry.jsonl'), JSON.stringify({ n: 'evil', h: 'a'.repeat(64), at: new Date().toISOString() }) + '\n');
    symlinkSync(path.join(outside, 'task'), path.join(root, 'ns2', 'task'));
    const list = await s.list('agora://ns2/task/evil').catch((e: unknown) => e);
    expect(list).toBeInstanceOf(StorageError);
    expect((list as Error).message).toMatch(/outside the storage root/);
    await s.close();
  });
});
