import { DeleteObjectCommand, GetObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  S3ObjectLockAnchor,
  auditOrigin,
  buildBundle,
  generateNoteKey,
  sealEvents,
  signerFromPrivateKey,
  verifyBundle,
  type AuditBundle,
  type S3AnchorRecord,
} from '@agora/audit';
import { startS3rver, type S3rverHandle } from '../../../test/support/s3rver.js';
import { syntheticRun } from './support/events.js';

/**
 * Against a real S3-protocol server. s3rver implements PutObject, GetObject (it ignores
 * versionId and has no versioning), DeleteObject and SigV4; it ignores the Object Lock
 * headers, answers NotImplemented to GetObjectRetention and MethodNotAllowed to
 * ListObjectVersions (the last test pins that down). So this file covers the write, the byte
 * comparison and the honest downgrade when the store cannot prove a lock; the lock itself is
 * covered request-by-request in s3-anchor-mock.test.ts.
 */
const RUN = 'r0mfz8k2a1s3rver';
const origin = auditOrigin('prod', RUN);
const signer = signerFromPrivateKey(generateNoteKey('agora-prod').skey);
const events = syntheticRun(RUN);
const sealed = sealEvents(events, signer, origin);
const now = new Date('2026-11-23T03:00:00.250Z');
let s3: S3rverHandle;
let anchor: S3ObjectLockAnchor;
let record: S3AnchorRecord;
let bundle: AuditBundle;

const failing = (checks: readonly { name: string; ok: boolean }[]): string[] => checks.filter((c) => !c.ok).map((c) => c.name);
const objectKey = `${origin}/checkpoint-${events.length}`;

beforeAll(async () => {
  s3 = await startS3rver(['audit', 'elsewhere']);
  anchor = new S3ObjectLockAnchor({ client: s3.client, bucket: 'audit', retentionDays: 30, now: () => now });
  record = await anchor.put(sealed.checkpoint, { runId: RUN, origin, treeSize: events.length });
  bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint: sealed.checkpoint });
});

afterAll(async () => {
  await s3?.stop();
});

describe('S3ObjectLockAnchor against s3rver', () => {
  it('PutObject stores the signed checkpoint under the run origin', async () => {
    expect(record).toMatchObject({
      kind: 's3-object-lock',
      bucket: 'audit',
      key: objectKey,
      versionId: null,
      mode: 'COMPLIANCE',
      retainUntil: '2026-12-23T03:00:01.000Z',
      anchoredAt: now.toISOString(),
    });
    const res = await s3.client.send(new GetObjectCommand({ Bucket: 'audit', Key: objectKey }));
    expect(await res.Body?.transformToString()).toBe(sealed.checkpoint);
  });

  it('GetObject reads it back byte for byte, but without a version the tier stays local', async () => {
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(v.detail).toMatch(/no version id was recorded/);
    const report = await verifyBundle(bundle, { key: signer.vkey, anchor });
    expect(failing(report.checks)).toEqual([]);
    expect(report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
  });

  it('GetObjectRetention unsupported by the store: the bytes match, the guarantee is not claimed', async () => {
    const versioned = { ...record, versionId: 'v-1' };
    const v = await anchor.verify(versioned, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(v.detail).toMatch(/no Object Lock retention could be read for this version \(NotImplemented, HTTP 501\)/);
  });

  it('detects the anchored object being overwritten', async () => {
    const forged = sealEvents(events.slice(0, -1), signer, origin).checkpoint;
    await s3.client.send(new PutObjectCommand({ Bucket: 'audit', Key: objectKey, Body: forged }));
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: false, claim: 'none', guarantee: 'none' });
    expect(v.detail).toMatch(/differs/);
    const report = await verifyBundle(bundle, { key: signer.vkey, anchor });
    expect(report.intact).toBe(false);
    expect(failing(report.checks)).toEqual(['anchor']);
    await s3.client.send(new PutObjectCommand({ Bucket: 'audit', Key: objectKey, Body: sealed.checkpoint }));
    expect((await verifyBundle(bundle, { key: signer.vkey, anchor })).intact).toBe(true);
  });

  it('detects the anchored object being deleted', async () => {
    await s3.client.send(new DeleteObjectCommand({ Bucket: 'audit', Key: objectKey }));
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/cannot read anchored checkpoint .*NoSuchKey/);
    await s3.client.send(new PutObjectCommand({ Bucket: 'audit', Key: objectKey, Body: sealed.checkpoint }));
  });

  it('refuses a record that points at another bucket or key', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'elsewhere', Key: objectKey, Body: sealed.checkpoint }));
    const v = await anchor.verify({ ...record, bucket: 'elsewhere' }, sealed.checkpoint);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/points at s3:\/\/elsewhere\/.*expected s3:\/\/audit\//);
    expect((await anchor.verify({ ...record, key: 'other' }, sealed.checkpoint)).ok).toBe(false);
  });

  it('s3rver does not implement the Object Lock and versioning reads (why the mock tests exist)', async () => {
    await expect(s3.client.send(new GetObjectRetentionCommand({ Bucket: 'audit', Key: objectKey }))).rejects.toMatchObject({ name: 'NotImplemented' });
    await expect(s3.client.send(new ListObjectVersionsCommand({ Bucket: 'audit', Prefix: objectKey }))).rejects.toMatchObject({ name: 'MethodNotAllowed' });
  });
});
