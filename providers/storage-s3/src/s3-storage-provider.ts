import { randomBytes } from 'node:crypto';
import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import {
  NotFoundError,
  StorageError,
  URI_SEGMENT_MAX,
  ValueError,
  checkListNamesQuery,
  contentAddress,
  formatAgoraUri,
  isSafeName,
  pageOfNames,
  parseAgoraUri,
  resolveContentHash,
  sha256Hex,
  type ListNamesQuery,
  type Logger,
  type ProviderHealth,
  type StorageEntry,
  type StorageProvider,
} from '@agora/core';

export interface S3StorageOptions {
  /** Bucket holding the blobs and the name index. */
  readonly bucket: string;
  /** Key prefix for everything this provider writes (e.g. "agora/"). @default "" */
  readonly prefix?: string;
  /** A ready client (tests, custom credentials). Otherwise one is built from the fields below. */
  readonly client?: S3Client;
  /** @default AWS_REGION from the environment */
  readonly region?: string;
  /** S3-compatible endpoint (MinIO, s3rver); path-style addressing is then used. */
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly logger?: Logger;
}

const sha256 = sha256Hex;
const PREFIX_RE = /^(?:[A-Za-z0-9._-]+\/)*$/;
/** Index keys sort by registration time: 15-digit milliseconds, then a tie-breaker. */
const INDEX_KEY_RE = /^(\d{15})-([0-9a-f]{12})-([0-9a-f]{64})$/;
/**
 * Names one `listNames` call may gather before it sorts them: a bound on the memory a listing
 * takes whatever the bucket holds.
 */
export const LIST_NAMES_SCAN_MAX = 100_000;

/**
 * Content-addressed blob storage in an S3 bucket (sha256), for deployments whose workers do not
 * share a filesystem (seed 000: Fargate).
 *
 * Layout per `<prefix><ns>/<type>/`: `blobs/<hash>` holds the bytes once however many names
 * point at them; `names/<name>/<ms>-<nonce>-<hash>` is an empty object per registration, so a
 * name's registrations list in time order (S3 lists keys in UTF-8 order) and nothing is ever
 * rewritten: concurrent writers on different machines cannot lose each other's entries. Blobs
 * are verified against their hash when read.
 */
export class S3StorageProvider implements StorageProvider {
  readonly name = 's3';
  private readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly bucket: string;
  private readonly prefix: string;
  /** Index writes callers did not wait for (`deferIndex`); `flush()` waits for them. */
  private readonly deferred = new Set<Promise<void>>();
  /** Milliseconds of the last index key this provider wrote. */
  private lastStampMs = 0;

  constructor(private readonly opts: S3StorageOptions) {
    if (typeof opts.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) {
      throw new ValueError(`s3 storage: "bucket" must be an S3 bucket name, got ${JSON.stringify(opts.bucket)}`);
    }
    const prefix = opts.prefix ?? '';
    if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
      throw new ValueError(`s3 storage: "prefix" must be empty or segments of [A-Za-z0-9._-] each ending in "/", got ${JSON.stringify(prefix)}`);
    }
    this.bucket = opts.bucket;
    this.prefix = prefix;
    this.ownsClient = opts.client === undefined;
    this.client =
      opts.client ??
      new S3Client({
        ...(opts.region !== undefined ? { region: opts.region } : {}),
        ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint, forcePathStyle: opts.forcePathStyle ?? true } : {}),
      });
  }

  private base(namespace: string, type: string): string {
    return `${this.prefix}${namespace}/${type}/`;
  }

  async put(uri: string, contents: Uint8Array, opts: { deferIndex?: boolean } = {}): Promise<{ contentHash: string; uri: string }> {
    const { target: u, contentHash } = contentAddress(uri, contents);
    const base = this.base(u.namespace, u.type);
    await this.send(`store ${uri}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${base}blobs/${contentHash}`, Body: contents, ContentType: 'application/octet-stream' })),
    );
    // Strictly increasing within this process: two puts of one name in the same millisecond
    // would otherwise order by their random tie-breakers, and resolveLatest could name the older.
    this.lastStampMs = Math.max(Date.now(), this.lastStampMs + 1);
    const stamp = String(this.lastStampMs).padStart(15, '0');
    const indexKey = `${base}names/${u.name}/${stamp}-${randomBytes(6).toString('hex')}-${contentHash}`;
    const indexed = this.send(`index ${uri}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: indexKey, Body: '' }))).then(() => undefined);
    if (opts.deferIndex) {
      const p = indexed.catch((err: unknown) => this.opts.logger?.warn({ uri, err: (err as Error).message }, 'could not index a stored artifact'));
      this.deferred.add(p);
      void p.finally(() => this.deferred.delete(p));
    } else {
      await indexed;
    }
    return { contentHash, uri: formatAgoraUri({ ...u, contentHash }) };
  }

  async get(uri: string): Promise<Uint8Array> {
    const { target: u, contentHash: hash } = await resolveContentHash(this, uri);
    const key = `${this.base(u.namespace, u.type)}blobs/${hash}`;
    const bytes = await this.send(`read ${uri}`, async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return await out.Body!.transformToByteArray();
      } catch (err) {
        if (isNotFound(err)) throw new NotFoundError(`no artifact at ${uri}`);
        throw err;
      }
    });
    if (sha256(bytes) !== hash) throw new StorageError(`artifact ${uri} is corrupt: its bytes do not hash to ${hash}`);
    return bytes;
  }

  async resolveLatest(uri: string): Promise<StorageEntry | null> {
    const list = await this.list(uri);
    return list[list.length - 1] ?? null;
  }

  async list(uri: string): Promise<StorageEntry[]> {
    const u = parseAgoraUri(uri);
    const dir = `${this.base(u.namespace, u.type)}names/${u.name}/`;
    const out: StorageEntry[] = [];
    for (const key of await this.listKeys(dir)) {
      const m = INDEX_KEY_RE.exec(key.slice(dir.length));
      if (!m) continue;
      out.push({
        uri: formatAgoraUri({ namespace: u.namespace, type: u.type, name: u.name, contentHash: m[3]! }),
        contentHash: m[3]!,
        registeredAt: new Date(Number(m[1])).toISOString(),
      });
    }
    return out;
  }

  async resolveByHash(q: { namespace: string; type: string; contentHash: string }): Promise<(StorageEntry & { name: string }) | null> {
    parseAgoraUri(`agora://${q.namespace}/${q.type}/x/${q.contentHash}`);
    const dir = `${this.base(q.namespace, q.type)}names/`;
    let best: { stamp: string; name: string } | null = null;
    for (const key of await this.listKeys(dir)) {
      const rest = key.slice(dir.length);
      const slash = rest.indexOf('/');
      const m = INDEX_KEY_RE.exec(rest.slice(slash + 1));
      if (slash <= 0 || !m || m[3] !== q.contentHash) continue;
      const stamp = `${m[1]}-${m[2]}`;
      if (!best || stamp > best.stamp) best = { stamp, name: rest.slice(0, slash) };
    }
    if (!best) return null;
    return {
      name: best.name,
      uri: formatAgoraUri({ namespace: q.namespace, type: q.type, name: best.name, contentHash: q.contentHash }),
      contentHash: q.contentHash,
      registeredAt: new Date(Number(best.stamp.slice(0, 15))).toISOString(),
    };
  }

  async listNames(query: ListNamesQuery): Promise<string[]> {
    const q = checkListNamesQuery(query);
    const dir = `${this.base(q.namespace, q.type)}names/`;
    // One common prefix per name (Delimiter "/"), not one key per registration. Keys order a name
    // by `<name>/`, so "a-b/" lists before "a/" while "a" < "a-b": the page is cut only after
    // every name under the prefix has been seen (at most LIST_NAMES_SCAN_MAX), then sorted.
    // StartAfter `<startAfter>,` (',' sorts just below every name character) skips every key of
    // a name sorting before `startAfter` and keeps those it is a prefix of.
    const startAfter = q.startAfter !== undefined && q.startAfter.startsWith(q.prefix) ? `${dir}${q.startAfter},` : undefined;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.send(`list names under ${dir}${q.prefix}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: dir + q.prefix,
            Delimiter: '/',
            ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
          }),
        ),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const name = p.Prefix?.slice(dir.length, -1);
        // Keys this provider did not write (a name outside the grammar) are not names.
        if (name !== undefined && isSafeName(name, URI_SEGMENT_MAX)) names.push(name);
      }
      if (names.length > LIST_NAMES_SCAN_MAX) {
        throw new StorageError(`s3 storage: more than ${LIST_NAMES_SCAN_MAX} names under ${dir}${q.prefix} (bucket "${this.bucket}"); list with a longer prefix`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return pageOfNames(names, q);
  }

  async health(): Promise<ProviderHealth> {
    const where = `bucket "${this.bucket}"${this.opts.endpoint ? ` at ${this.opts.endpoint}` : ''}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return { ok: true, message: `s3 storage: ${where} is reachable` };
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const why =
        status === 404 ? 'does not exist' :
        status === 403 ? 'is not accessible with these credentials (403)' :
        `cannot be reached: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
      return { ok: false, message: `s3 storage: ${where} ${why}; check the bucket name, region/endpoint and AWS credentials` };
    }
  }

  /** Waits for index writes nobody waited for. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.deferred]);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.ownsClient) this.client.destroy();
  }

  private async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.send(`list ${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) })),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /** Runs one S3 call; anything but our own errors becomes a retryable StorageError naming the action. */
  private async send<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof StorageError || err instanceof ValueError) throw err;
      throw new StorageError(`s3 storage: could not ${action} (bucket "${this.bucket}"): ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}
