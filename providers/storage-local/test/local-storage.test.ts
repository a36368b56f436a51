import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { LocalStorageProvider } from '@agora/storage-local';

const root = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-'));
const s = new LocalStorageProvider({ root });
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

/** What only local storage does; the storage contract itself is test/conformance.test.ts. */
describe('LocalStorageProvider', () => {
  it('deferred index entries are readable by hash at once, indexed after a window or a flush', async () => {
    const root2 = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-'));
    try {
      const d = new LocalStorageProvider({ root: root2 });
      const reader = new LocalStorageProvider({ root: root2 });
      const a = await d.put('agora://ns/result/r.a', Buffer.from('A'), { deferIndex: true });
      expect(Buffer.from(await reader.get(a.uri)).toString()).toBe('A');
      expect(await reader.resolveLatest('agora://ns/result/r.a')).toBeNull();
      await d.flush();
      expect((await reader.resolveLatest('agora://ns/result/r.a'))?.contentHash).toBe(sha('A'));
      // A caller that waits for its index entry takes pending deferred lines along at once.
      await d.put('agora://ns/result/r.b', Buffer.from('B'), { deferIndex: true });
      await d.put('agora://ns/result/r.c', Buffer.from('C'));
      expect((await reader.resolveLatest('agora://ns/result/r.b'))?.contentHash).toBe(sha('B'));
      await d.put('agora://ns/result/r.d', Buffer.from('D'), { deferIndex: true });
      await new Promise((r) => setTimeout(r, 100));
      expect((await reader.resolveLatest('agora://ns/result/r.d'))?.contentHash).toBe(sha('D'));
    } finally {
      rmSync(root2, { recursive: true, force: true });
    }
  });
});

describe('LocalStorageProvider integrity', () => {
  it('detects a corrupted blob instead of serving it, and a later put repairs it', async () => {
    const { writeFileSync } = await import('node:fs');
    const put = await s.put('agora://ns/result/corrupt', Buffer.from('good bytes'));
    writeFileSync(path.join(root, 'ns', 'result', 'blobs', put.contentHash), 'torn');
    await expect(s.get(put.uri)).rejects.toThrow(/is corrupt/);
    await s.put('agora://ns/result/corrupt', Buffer.from('good bytes'));
    expect(Buffer.from(await s.get(put.uri)).toString()).toBe('good bytes');
  });

});

describe('LocalStorageProvider file modes', () => {
  /** Every file and directory under `dir` (itself included), with its permission bits. */
  const modes = (dir: string): Array<[string, string]> => {
    const out: Array<[string, string]> = [[dir, (statSync(dir).mode & 0o777).toString(8)]];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) out.push(...modes(p));
      else out.push([p, (statSync(p).mode & 0o777).toString(8)]);
    }
    return out;
  };

  it('writes artifacts 0600 in 0700 directories whatever the umask, a repaired blob too', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-'));
    const old = process.umask(0);
    try {
      const root3 = path.join(base, 'created', 'root');
      const d = new LocalStorageProvider({ root: root3 });
      const put = await d.put('agora://ns/result/r.a', Buffer.from('secret result'));
      await d.put('agora://ns/log/r.a', Buffer.from('secret log'), { deferIndex: true });
      await d.flush();
      // A blob torn (and loosened) behind its back is repaired through a temp file and a rename.
      const blob = path.join(root3, 'ns', 'result', 'blobs', put.contentHash);
      writeFileSync(blob, 'torn', { mode: 0o644 });
      chmodSync(blob, 0o644);
      await new LocalStorageProvider({ root: root3 }).put('agora://ns/result/r.a', Buffer.from('secret result'));
      await d.close();
      const all = modes(root3);
      expect(all.length).toBeGreaterThan(6);
      expect(all.filter(([p, m]) => m !== (statSync(p).isDirectory() ? '700' : '600'))).toEqual([]);
    } finally {
      process.umask(old);
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('warns once about an existing root that group or others may enter, and leaves its mode alone', async () => {
    const root4 = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-'));
    chmodSync(root4, 0o755);
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const d = new LocalStorageProvider({ root: root4 });
      await d.put('agora://ns/result/r.a', Buffer.from('A'));
      await d.put('agora://ns/result/r.b', Buffer.from('B'));
      await new Promise((r) => setTimeout(r, 20));
      await d.close();
      expect((statSync(root4).mode & 0o777).toString(8)).toBe('755');
    } finally {
      process.stderr.write = write;
      rmSync(root4, { recursive: true, force: true });
    }
    const warned = lines.join('').split('\n').filter((l) => l.includes('accessible by group or others'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain('mode 755');
    expect(warned[0]).toContain('chmod 700');
  });
});
