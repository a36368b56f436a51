import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { NotFoundError, ValueError } from '@agora/core';
import { LocalStorageProvider } from '@agora/storage-local';

const root = mkdtempSync(path.join(os.tmpdir(), 'agora-storage-'));
const s = new LocalStorageProvider({ root });
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

describe('LocalStorageProvider', () => {
  it('stores content-addressed blobs and reads them back by hash URI', async () => {
    const put = await s.put('agora://ns/result/run1.a', Buffer.from('patch-1'));
    expect(put.contentHash).toBe(sha('patch-1'));
    expect(put.uri).toBe(`agora://ns/result/run1.a/${sha('patch-1')}`);
    expect(Buffer.from(await s.get(put.uri)).toString()).toBe('patch-1');
  });

  it('resolves the latest registration and lists all of them', async () => {
    await s.put('agora://ns/task/edit', Buffer.from('v1'));
    await s.put('agora://ns/task/edit', Buffer.from('v2'));
    const latest = await s.resolveLatest('agora://ns/task/edit');
    expect(latest?.contentHash).toBe(sha('v2'));
    expect(Buffer.from(await s.get('agora://ns/task/edit')).toString()).toBe('v2');
    expect((await s.list('agora://ns/task/edit')).map((e) => e.contentHash)).toEqual([sha('v1'), sha('v2')]);
  });

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

  it('resolves by hash and lists names by prefix', async () => {
    await s.put('agora://ns/task/verify', Buffer.from('vv'));
    expect(await s.resolveByHash({ namespace: 'ns', type: 'task', contentHash: sha('vv') })).toMatchObject({ name: 'verify' });
    expect(await s.resolveByHash({ namespace: 'ns', type: 'task', contentHash: sha('nope') })).toBeNull();
    expect(await s.listNames({ namespace: 'ns', type: 'task' })).toEqual(['edit', 'verify']);
    expect(await s.listNames({ namespace: 'ns', type: 'task', prefix: 've' })).toEqual(['verify']);
  });

  it('rejects a hash that does not match the bytes', async () => {
    await expect(s.put(`agora://ns/result/x/${sha('other')}`, Buffer.from('this'))).rejects.toThrow(ValueError);
  });

  it('rejects path traversal and malformed URIs', async () => {
    for (const bad of ['agora://ns/../etc/passwd', 'agora://ns/result/..', 'agora://../x/y', 'file:///etc/passwd', 'agora://ns/result/a/b/c/d', 'agora://ns/.hidden/x', 'agora://ns/result/a b']) {
      await expect(s.put(bad, Buffer.from('x')), bad).rejects.toThrow(ValueError);
      await expect(s.get(bad), bad).rejects.toThrow(ValueError);
    }
  });

  it('reports a missing artifact as NotFoundError', async () => {
    await expect(s.get(`agora://ns/result/missing/${sha('x')}`)).rejects.toThrow(NotFoundError);
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
