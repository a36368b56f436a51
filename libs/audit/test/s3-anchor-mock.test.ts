import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  S3ObjectLockAnchor,
  auditOrigin,
  buildBundle,
  generateNoteKey,
  sealEvents,
  signerFromPrivateKey,
  verifyBundle,
  type S3AnchorRecord,
} from '@agora/audit';
import { syntheticRun } from './support/events.js';

/**
 * The Object Lock part of the S3 anchor, which s3rver does not implement: the exact requests
 * (PutObject with COMPLIANCE retention, GetObject of the recorded VersionId,
 * GetObjectRetention of it, ListObjectVersions of the key) and the answers S3 can give,
 * asserted against the SDK.
 */
const RUN = 'r0mfz8k2a1s3mock';
const origin = auditOrigin('prod', RUN);
const signer = signerFromPrivateKey(generateNoteKey('agora-prod').skey);
const events = syntheticRun(RUN);
const sealed = sealEvents(events, signer, origin);
const now = new Date('2026-11-23T03:00:00.250Z');
const retainUntil = new Date('2027-11-23T03:00:01.000Z');
const objectKey = `${origin}/checkpoint-${events.length}`;

const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const s3 = mockClient(client);
const anchor = new S3ObjectLockAnchor({ client, bucket: 'audit-locked', retentionDays: 365, now: () => now });

const body = (text: string): NonNullable<GetObjectCommandOutput['Body']> =>
  ({ transformToByteArray: () => Promise.resolve(new Uint8Array(Buffer.from(text, 'utf8'))) }) as unknown as NonNullable<GetObjectCommandOutput['Body']>;
const VERSION = 'v-3HL4kqtJlcpXroDTDmJ';
const ETAG = '"5d41402abc4b2a76b9719d911017c592"';
const ownVersion = { Key: objectKey, VersionId: VERSION, ETag: ETAG, IsLatest: true, LastModified: new Date('2026-11-23T03:00:00Z') };
const s3Error = (name: string, status: number): S3ServiceException =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

async function anchored(): Promise<S3AnchorRecord> {
  s3.on(PutObjectCommand).resolves({ VersionId: VERSION, ETag: ETAG });
  return anchor.put(sealed.checkpoint, { runId: RUN, origin, treeSize: events.length });
}

/** The answers of a bucket where the anchored version is locked and alone under its key. */
function lockedBucket(): void {
  s3.on(GetObjectCommand).resolves({ Body: body(sealed.checkpoint), VersionId: VERSION });
  s3.on(GetObjectRetentionCommand).resolves({ Retention: { Mode: 'COMPLIANCE', RetainUntilDate: retainUntil } });
  s3.on(ListObjectVersionsCommand).resolves({ Versions: [ownVersion], IsTruncated: false });
}

beforeEach(() => {
  s3.reset();
});

describe('S3ObjectLockAnchor requests (aws-sdk-client-mock)', () => {
  it('PutObject writes the checkpoint with COMPLIANCE retention and an integrity header', async () => {
    const record = await anchored();
    const calls = s3.commandCalls(PutObjectCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toEqual({
      Bucket: 'audit-locked',
      Key: objectKey,
      Body: Buffer.from(sealed.checkpoint, 'utf8'),
      ContentType: 'text/plain; charset=utf-8',
      ContentMD5: createHash('md5').update(sealed.checkpoint).digest('base64'),
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: retainUntil,
    });
    expect(record).toEqual({
      kind: 's3-object-lock',
      bucket: 'audit-locked',
      key: objectKey,
      versionId: VERSION,
      mode: 'COMPLIANCE',
      retainUntil: retainUntil.toISOString(),
      checkpointSha256: createHash('sha256').update(sealed.checkpoint).digest('hex'),
      anchoredAt: now.toISOString(),
    });
  });

  it('a COMPLIANCE version still under retention is external-immutable', async () => {
    const record = await anchored();
    lockedBucket();
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, claim: 'tamper-evident', guarantee: 'external-immutable' });
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'audit-locked', Key: objectKey, VersionId: VERSION });
    expect(s3.commandCalls(GetObjectRetentionCommand)[0]?.args[0].input).toEqual({ Bucket: 'audit-locked', Key: objectKey, VersionId: VERSION });
    expect(s3.commandCalls(ListObjectVersionsCommand)[0]?.args[0].input).toEqual({ Bucket: 'audit-locked', Prefix: objectKey, KeyMarker: undefined, VersionIdMarker: undefined });

    const bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint: sealed.checkpoint });
    // Offline, the S3 record alone proves nothing about the lock.
    expect(bundle.report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    const report = await verifyBundle(JSON.parse(JSON.stringify(bundle)) as unknown, { key: signer.vkey, expectedRunId: RUN, anchor });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report).toMatchObject({ intact: true, claim: 'tamper-evident', guarantee: 'external-immutable' });
  });

  it('a retention extended beyond the record is still external-immutable', async () => {
    const record = await anchored();
    lockedBucket();
    s3.on(GetObjectRetentionCommand).resolves({ Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date('2030-01-01T00:00:00Z') } });
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, guarantee: 'external-immutable' });
    expect(v.detail).toMatch(/extended from 2027-11-23T03:00:01.000Z/);
  });

  const downgrades: [string, () => void, RegExp][] = [
    ['GOVERNANCE mode', () => s3.on(GetObjectRetentionCommand).resolves({ Retention: { Mode: 'GOVERNANCE', RetainUntilDate: retainUntil } }), /GOVERNANCE.*BypassGovernanceRetention/],
    ['missing s3:GetObjectRetention permission', () => s3.on(GetObjectRetentionCommand).rejects(s3Error('AccessDenied', 403)), /AccessDenied: the verifier lacks s3:GetObjectRetention/],
    ['no retention configured', () => s3.on(GetObjectRetentionCommand).rejects(s3Error('NoSuchObjectLockConfiguration', 404)), /no Object Lock retention could be read .*NoSuchObjectLockConfiguration/],
    ['an empty retention', () => s3.on(GetObjectRetentionCommand).resolves({}), /has no retention/],
    ['retention expired', () => s3.on(GetObjectRetentionCommand).resolves({ Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date('2026-11-23T03:00:00Z') } }), /retention ended/],
    ['versions unlistable', () => s3.on(ListObjectVersionsCommand).rejects(s3Error('AccessDenied', 403)), /versions could not be listed \(AccessDenied, HTTP 403: the verifier lacks s3:ListBucketVersions\)/],
    ['retention shorter than recorded', () => s3.on(GetObjectRetentionCommand).resolves({ Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date('2027-01-01T00:00:00Z') } }), /before the recorded/],
  ];

  for (const [name, arrange, why] of downgrades) {
    it(`${name}: the bytes are checked, the guarantee is not external-immutable, and the report says why`, async () => {
      const record = await anchored();
      lockedBucket();
      arrange();
      const v = await anchor.verify(record, sealed.checkpoint);
      expect(v).toMatchObject({ ok: true, claim: 'tamper-detecting', guarantee: 'local' });
      expect(v.detail).toMatch(why);
      const bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint: sealed.checkpoint });
      const report = await verifyBundle(bundle, { key: signer.vkey, anchor });
      expect(report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
      expect(report.checks.find((c) => c.name === 'anchor')?.detail).toMatch(why);
    });
  }

  it('a different checkpoint anchored earlier under the same key: this bundle is a re-anchored forgery', async () => {
    const record = await anchored();
    lockedBucket();
    const original = { Key: objectKey, VersionId: 'v-original', ETag: '"0cc175b9c0f1b6a831c399e269772661"', IsLatest: false, LastModified: new Date('2026-11-23T02:00:00Z') };
    s3.on(ListObjectVersionsCommand).resolves({ Versions: [{ ...ownVersion, IsLatest: true }, original], IsTruncated: false });
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: false, claim: 'none', guarantee: 'none' });
    expect(v.detail).toMatch(/a different checkpoint was anchored .* first \(version v-original\)/);
    const bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint: sealed.checkpoint });
    const report = await verifyBundle(bundle, { key: signer.vkey, anchor });
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['anchor']);
  });

  it('a later different version leaves the original verifiable and is reported; identical re-puts are ignored', async () => {
    const record = await anchored();
    lockedBucket();
    const later = { Key: objectKey, VersionId: 'v-later', ETag: '"0cc175b9c0f1b6a831c399e269772661"', LastModified: new Date('2026-11-24T00:00:00Z') };
    const retry = { ...ownVersion, VersionId: 'v-retry', LastModified: new Date('2026-11-23T03:00:02Z') };
    const neighbour = { ...later, Key: `${objectKey}0`, VersionId: 'v-neighbour', LastModified: new Date('2026-01-01T00:00:00Z') };
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({ Versions: [later, retry], IsTruncated: true, NextKeyMarker: objectKey, NextVersionIdMarker: 'v-retry' })
      .resolvesOnce({ Versions: [ownVersion, neighbour], IsTruncated: false });
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, claim: 'tamper-evident', guarantee: 'external-immutable' });
    expect(v.detail).toMatch(/1 later, different version/);
    expect(s3.commandCalls(ListObjectVersionsCommand)[1]?.args[0].input).toMatchObject({ KeyMarker: objectKey, VersionIdMarker: 'v-retry' });
  });

  it('no version id recorded (unversioned bucket) skips the retention call and stays local', async () => {
    const record = { ...(await anchored()), versionId: null };
    s3.on(GetObjectCommand).resolves({ Body: body(sealed.checkpoint) });
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v).toMatchObject({ ok: true, guarantee: 'local' });
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({ Bucket: 'audit-locked', Key: objectKey, VersionId: undefined });
    expect(s3.commandCalls(GetObjectRetentionCommand)).toHaveLength(0);
  });

  it('different bytes in the recorded version, or no such version, fail the anchor', async () => {
    const record = await anchored();
    s3.on(GetObjectCommand).resolves({ Body: body(sealed.checkpoint.replace(/\n\d+\n/, '\n1\n')) });
    expect(await anchor.verify(record, sealed.checkpoint)).toMatchObject({ ok: false, claim: 'none', guarantee: 'none' });
    expect(s3.commandCalls(GetObjectRetentionCommand)).toHaveLength(0);
    s3.on(GetObjectCommand).rejects(s3Error('NoSuchVersion', 404));
    const v = await anchor.verify(record, sealed.checkpoint);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/NoSuchVersion, HTTP 404/);
    const bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint: sealed.checkpoint });
    const report = await verifyBundle(bundle, { key: signer.vkey, anchor });
    expect(report.intact).toBe(false);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['anchor']);
  });

  it('a record for another kind of anchor is refused', async () => {
    const record = await anchored();
    expect((await anchor.verify({ ...record, kind: 'local' }, sealed.checkpoint)).ok).toBe(false);
  });

  it('refuses a non-positive retention', () => {
    expect(() => new S3ObjectLockAnchor({ client, bucket: 'b', retentionDays: 0 })).toThrow(/retentionDays/);
  });
});
