import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type ObjectVersion,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ValueError, coerceError } from '@agora/core';
import {
  anchorContextOf,
  checkpointDigest,
  failedAnchor,
  type Anchor,
  type AnchorContext,
  type AnchorRecord,
  type AnchorVerification,
} from './anchor.js';

export interface S3ObjectLockAnchorOptions {
  readonly client: S3Client;
  /** A bucket created with Object Lock enabled (which implies versioning). */
  readonly bucket: string;
  /** COMPLIANCE retention, counted from the time of anchoring. Required: it is a policy decision. */
  readonly retentionDays: number;
  /** Object key of one checkpoint. @default ctx => `${ctx.origin}/checkpoint-${ctx.treeSize}` */
  readonly objectKey?: (ctx: AnchorContext) => string;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export interface S3AnchorRecord extends AnchorRecord {
  readonly kind: 's3-object-lock';
  readonly bucket: string;
  readonly key: string;
  /** The object version written; null when the bucket is not versioned (no lock possible). */
  readonly versionId: string | null;
  readonly mode: 'COMPLIANCE';
  /** ISO time, whole seconds. */
  readonly retainUntil: string;
}

/**
 * Writes the signed checkpoint as an S3 object version under Object Lock COMPLIANCE retention:
 * until it expires nobody, the root account included, can delete or overwrite that version.
 * Verification reads that exact version back, compares the bytes, reads its retention, and
 * lists the key's versions: only a COMPLIANCE retention still in force, on the first checkpoint
 * ever written under that key, earns `external-immutable` / `tamper-evident`.
 *
 * Why the listing: the record travels inside the bundle, and whoever can anchor (PutObject
 * on the bucket, plus the signing key) can anchor a forged checkpoint as a *new version* of
 * the same key, locked just as well, and point a forged bundle at it. What they cannot do is
 * remove the original version; the listing shows it, so the forgery is evident.
 * Anything short of proof (GOVERNANCE, no retention, retention or versions unreadable, no
 * version id) keeps the bytes check but reports `local` / `tamper-detecting`, saying why.
 */
export class S3ObjectLockAnchor implements Anchor {
  readonly kind = 's3-object-lock';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly retentionMs: number;
  private readonly objectKey: (ctx: AnchorContext) => string;
  private readonly now: () => Date;

  constructor(options: S3ObjectLockAnchorOptions) {
    if (!(options.retentionDays > 0) || !Number.isFinite(options.retentionDays)) {
      throw new ValueError(`retentionDays must be a positive number, got ${options.retentionDays}`);
    }
    this.client = options.client;
    this.bucket = options.bucket;
    this.retentionMs = options.retentionDays * 86_400_000;
    this.objectKey = options.objectKey ?? ((ctx) => `${ctx.origin}/checkpoint-${ctx.treeSize}`);
    this.now = options.now ?? (() => new Date());
  }

  async put(checkpoint: string, ctx: AnchorContext): Promise<S3AnchorRecord> {
    const key = this.objectKey(ctx);
    const now = this.now();
    // S3 keeps retain-until dates to the second; rounding up keeps record and object equal.
    const retainUntil = new Date(Math.ceil((now.getTime() + this.retentionMs) / 1000) * 1000);
    const body = Buffer.from(checkpoint, 'utf8');
    const res = await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: 'text/plain; charset=utf-8',
        // S3 requires an integrity header on any write that sets Object Lock retention.
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: retainUntil,
      }),
    );
    return {
      kind: 's3-object-lock',
      bucket: this.bucket,
      key,
      versionId: res.VersionId ?? null,
      mode: 'COMPLIANCE',
      retainUntil: retainUntil.toISOString(),
      checkpointSha256: checkpointDigest(checkpoint),
      anchoredAt: now.toISOString(),
    };
  }

  async verify(record: AnchorRecord, checkpointText: string): Promise<AnchorVerification> {
    if (record.kind !== this.kind) return failedAnchor(`anchor record is of kind "${String(record.kind)}", expected "${this.kind}"`);
    let ctx: AnchorContext;
    try {
      ctx = anchorContextOf(checkpointText);
    } catch (err) {
      return failedAnchor(`checkpoint unreadable: ${coerceError(err).message}`);
    }
    // Bucket and key come from our configuration: anyone can create a locked object in a
    // bucket of their own.
    const key = this.objectKey(ctx);
    if (record['bucket'] !== this.bucket || record['key'] !== key) {
      return failedAnchor(`anchor record points at s3://${String(record['bucket'])}/${String(record['key'])}, expected s3://${this.bucket}/${key}`);
    }
    const versionId = typeof record['versionId'] === 'string' && record['versionId'] !== '' ? record['versionId'] : undefined;
    const where = `s3://${this.bucket}/${key}${versionId === undefined ? '' : `?versionId=${versionId}`}`;

    let stored: Buffer;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
      if (res.Body === undefined) return failedAnchor(`${where} has no body`);
      stored = Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      return failedAnchor(`cannot read anchored checkpoint ${where}: ${s3ErrorName(err)}`);
    }
    if (!stored.equals(Buffer.from(checkpointText, 'utf8'))) {
      return failedAnchor(
        `checkpoint anchored at ${where} differs (anchored sha256 ${createHash('sha256').update(stored).digest('hex')}, presented ${checkpointDigest(checkpointText)})`,
      );
    }
    const downgrade = (why: string): AnchorVerification => ({
      ok: true,
      claim: 'tamper-detecting',
      guarantee: 'local',
      detail: `matches ${where}, but not external-immutable: ${why}`,
    });
    if (versionId === undefined) {
      return downgrade('no version id was recorded (bucket without versioning, so Object Lock cannot hold the object)');
    }

    let mode: string | undefined;
    let until: Date | undefined;
    try {
      const res = await this.client.send(new GetObjectRetentionCommand({ Bucket: this.bucket, Key: key, VersionId: versionId }));
      mode = res.Retention?.Mode;
      until = res.Retention?.RetainUntilDate;
    } catch (err) {
      const name = s3ErrorName(err);
      if (coerceError(err).name === 'AccessDenied') return downgrade('retention unreadable (AccessDenied: the verifier lacks s3:GetObjectRetention)');
      return downgrade(`no Object Lock retention could be read for this version (${name})`);
    }
    if (mode === undefined || until === undefined) return downgrade('the version has no retention');
    if (mode !== 'COMPLIANCE') {
      return downgrade(`retention mode is ${mode}; under GOVERNANCE, principals with s3:BypassGovernanceRetention can delete the version`);
    }
    const now = this.now();
    if (until.getTime() <= now.getTime()) return downgrade(`retention ended at ${until.toISOString()}`);
    const recorded = Date.parse(String(record['retainUntil']));
    // COMPLIANCE retention can be extended, never shortened: a shorter one means the record
    // does not describe this object.
    if (!Number.isFinite(recorded)) return downgrade('the anchor record has no valid retainUntil');
    if (until.getTime() < recorded) {
      return downgrade(`retention ends ${until.toISOString()}, before the recorded ${new Date(recorded).toISOString()}`);
    }
    const extended = until.getTime() > recorded ? ` (extended from ${new Date(recorded).toISOString()})` : '';

    let versions: ObjectVersion[];
    try {
      versions = await this.listVersions(key);
    } catch (err) {
      const name = s3ErrorName(err);
      const why = coerceError(err).name === 'AccessDenied' ? `${name}: the verifier lacks s3:ListBucketVersions` : name;
      return downgrade(`the key's versions could not be listed (${why}), so an earlier checkpoint under it cannot be ruled out`);
    }
    const ours = versions.find((v) => v.VersionId === versionId);
    if (ours === undefined) return downgrade(`version ${versionId} is missing from the listing of the key's versions`);
    // Re-puts of the same bytes (retries) leave versions with the same ETag; only different
    // content is a second history.
    const others = versions.filter((v) => v.VersionId !== versionId && v.ETag !== ours.ETag);
    const time = (v: ObjectVersion): number => v.LastModified?.getTime() ?? Number.NEGATIVE_INFINITY;
    const earlier = others.filter((v) => time(v) <= time(ours));
    if (earlier.length > 0) {
      return failedAnchor(
        `a different checkpoint was anchored at s3://${this.bucket}/${key} first (version ${String(earlier[0]?.VersionId)}): this bundle is not the original history`,
      );
    }
    const later = others.length > 0 ? `; note: ${others.length} later, different version(s) exist under this key (a rewrite was attempted)` : '';
    return {
      ok: true,
      claim: 'tamper-evident',
      guarantee: 'external-immutable',
      detail: `matches ${where}, the first checkpoint under this key, under COMPLIANCE retention until ${until.toISOString()}${extended}${later}`,
    };
  }

  private async listVersions(key: string): Promise<ObjectVersion[]> {
    const out: ObjectVersion[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await this.client.send(
        new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
      );
      if (res === undefined) throw new ValueError('ListObjectVersions returned nothing');
      out.push(...(res.Versions ?? []).filter((v) => v.Key === key));
      if (res.IsTruncated !== true) return out;
      keyMarker = res.NextKeyMarker;
      versionIdMarker = res.NextVersionIdMarker;
    }
    throw new ValueError(`more than 20 pages of versions under ${key}`);
  }
}

function s3ErrorName(err: unknown): string {
  const e = coerceError(err) as Error & { $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return status === undefined ? e.name : `${e.name}, HTTP ${status}`;
}
