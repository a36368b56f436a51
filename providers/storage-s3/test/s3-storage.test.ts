import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StorageError, ValueError } from '@agora/core';
import { defaultRegistry } from '@agora/registry';
import { S3StorageProvider } from '@agora/storage-s3';
import { startS3rver, type S3rverHandle } from '../../../test/support/s3rver.js';

/** Against a real S3-protocol server (s3rver): PutObject, GetObject, ListObjectsV2, HeadBucket. */
let s3: S3rverHandle;
let store: S3StorageProvider;
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  s3 = await startS3rver(['artifacts']);
  store = new S3StorageProvider({ bucket: 'artifacts', prefix: 'agora/', client: s3.client });
});
afterAll(async () => {
  await store?.close();
  await s3?.stop();
});

describe('S3StorageProvider against s3rver', () => {
  it('stores content-addressed blobs and reads them back by hash URI', async () => {
    const put = await store.put('agora://ns/result/run1.a', Buffer.from('patch-1'));
    expect(put).toEqual({ contentHash: sha('patch-1'), uri: `agora://ns/result/run1.a/${sha('patch-1')}` });
    expect(Buffer.from(await store.get(put.uri)).toString()).toBe('patch-1');
    // The same bytes under another name share one blob.
    const again = await store.put('agora://ns/result/run2.a', Buffer.from('patch-1'));
    expect(again.contentHash).toBe(put.contentHash);
  });

  it('keeps every registration of a name in order; the latest wins', async () => {
    await store.put('agora://ns/task/edit', Buffer.from('v1'));
    await new Promise((r) => setTimeout(r, 5));
    await store.put('agora://ns/task/edit', Buffer.from('v2'));
    expect((await store.resolveLatest('agora://ns/task/edit'))?.contentHash).toBe(sha('v2'));
    expect(Buffer.from(await store.get('agora://ns/task/edit')).toString()).toBe('v2');
    const list = await store.list('agora://ns/task/edit');
    expect(list.map((e) => e.contentHash)).toEqual([sha('v1'), sha('v2')]);
    expect(Date.parse(list[0]!.registeredAt)).toBeLessThanOrEqual(Date.parse(list[1]!.registeredAt));
    expect(await store.resolveLatest('agora://ns/task/missing')).toBeNull();
  });

  it('resolves by hash to the newest name holding it, and lists names by prefix', async () => {
    await store.put('agora://ns/task/alpha', Buffer.from('shared'));
    await new Promise((r) => setTimeout(r, 5));
    await store.put('agora://ns/task/beta', Buffer.from('shared'));
    const found = await store.resolveByHash({ namespace: 'ns', type: 'task', contentHash: sha('shared') });
    expect(found).toMatchObject({ name: 'beta', uri: `agora://ns/task/beta/${sha('shared')}`, contentHash: sha('shared') });
    expect(await store.resolveByHash({ namespace: 'ns', type: 'task', contentHash: sha('nothing') })).toBeNull();
    expect(await store.listNames({ namespace: 'ns', type: 'task' })).toEqual(['alpha', 'beta', 'edit']);
    expect(await store.listNames({ namespace: 'ns', type: 'task', prefix: 'al' })).toEqual(['alpha']);
  });

  it('deferred index entries: the blob is readable at once, the name after flush()', async () => {
    const put = await store.put('agora://ns/result/deferred', Buffer.from('later'), { deferIndex: true });
    expect(Buffer.from(await store.get(put.uri)).toString()).toBe('later');
    await store.flush();
    expect((await store.resolveLatest('agora://ns/result/deferred'))?.contentHash).toBe(sha('later'));
  });

  it('detects a corrupted blob instead of serving it', async () => {
    const put = await store.put('agora://ns/result/fragile', Buffer.from('original'));
    await s3.client.send(new PutObjectCommand({ Bucket: 'artifacts', Key: `agora/ns/result/blobs/${put.contentHash}`, Body: 'tampered' }));
    await expect(store.get(put.uri)).rejects.toThrow(StorageError);
    await expect(store.get(put.uri)).rejects.toThrow(/corrupt/);
  });

  it('reports a missing artifact as NotFoundError and rejects bad input', async () => {
    await expect(store.get(`agora://ns/result/none/${sha('none')}`)).rejects.toThrow(NotFoundError);
    await expect(store.get('agora://ns/result/none')).rejects.toThrow(NotFoundError);
    await expect(store.put(`agora://ns/result/x/${sha('other')}`, Buffer.from('bytes'))).rejects.toThrow(/content hash mismatch/);
    await expect(store.put('agora://ns/../etc', Buffer.from('x'))).rejects.toThrow(ValueError);
    expect(() => new S3StorageProvider({ bucket: 'Bad_Bucket' })).toThrow(/bucket/);
    expect(() => new S3StorageProvider({ bucket: 'ok-bucket', prefix: '../x/' })).toThrow(/prefix/);
  });

  it('health says whether the bucket is reachable, naming what to check', async () => {
    expect(await store.health()).toMatchObject({ ok: true });
    const missing = new S3StorageProvider({ bucket: 'no-such-bucket', client: s3.client });
    const h = await missing.health();
    expect(h.ok).toBe(false);
    expect(h.message).toMatch(/no-such-bucket.*does not exist/);
  });

  it('is what the registry builds for `storage: { provider: "s3" }`, from endpoint options', async () => {
    const prev = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
    try {
      const p = await defaultRegistry().create('storage', 's3', { bucket: 'artifacts', prefix: 'agora/', endpoint: s3.endpoint, region: 'us-east-1' }, { configDir: '/nonexistent', dataDir: '/nonexistent', namespace: 'ns' });
      expect(p.name).toBe('s3');
      expect(Buffer.from(await p.get(`agora://ns/result/run1.a/${sha('patch-1')}`)).toString()).toBe('patch-1');
      await (p as S3StorageProvider).close();
    } finally {
      if (prev.id === undefined) delete process.env['AWS_ACCESS_KEY_ID'];
      else process.env['AWS_ACCESS_KEY_ID'] = prev.id;
      if (prev.secret === undefined) delete process.env['AWS_SECRET_ACCESS_KEY'];
      else process.env['AWS_SECRET_ACCESS_KEY'] = prev.secret;
    }
  });
});
