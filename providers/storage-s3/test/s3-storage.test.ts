import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ValueError } from '@agora/core';
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

/** What only this provider does; the contract every compute/storage provider meets is test/conformance.test.ts. */
describe('S3StorageProvider against s3rver', () => {
  it('stores content-addressed blobs and reads them back by hash URI', async () => {
    const put = await store.put('agora://ns/result/run1.a', Buffer.from('patch-1'));
    expect(put).toEqual({ contentHash: sha('patch-1'), uri: `agora://ns/result/run1.a/${sha('patch-1')}` });
    expect(Buffer.from(await store.get(put.uri)).toString()).toBe('patch-1');
    // The same bytes under another name share one blob.
    const again = await store.put('agora://ns/result/run2.a', Buffer.from('patch-1'));
    expect(again.contentHash).toBe(put.contentHash);
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
