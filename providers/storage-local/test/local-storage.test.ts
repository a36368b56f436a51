import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
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
