import { S3Client } from '@aws-sdk/client-s3';
import {
  IllegalStateError,
  NotFoundError,
  ValueError,
  isTerminalRunState,
  type AgoraConfig,
  type StreamEvent,
  type Logger,
} from '@agora/core';
import {
  LocalAnchor,
  S3ObjectLockAnchor,
  anchorContextOf,
  auditOrigin,
  buildBundle,
  checkConsistency,
  eventLeafHashes,
  formatCheckpoint,
  loadOrCreateSigner,
  merkleRoot,
  signNote,
  proveConsistency,
  proveEvent,
  sealEvents,
  verifyBundle,
  type Anchor,
  type AnchorRecord,
  type AuditBundle,
  type EventProof,
  type NoteSigner,
  type VerificationReport,
} from '@agora/audit';
import { RunStore, type RedisClient } from '@agora/state';

/** A checkpoint of a run, signed and anchored: the final seal, or a periodic one of a running run. */
export interface CheckpointRecord {
  readonly size: number;
  /** Verifier key of the signer (the sealer may be another process, with its own data dir). */
  readonly vkey: string;
  readonly checkpoint: string;
  readonly anchor: AnchorRecord;
  readonly at: string;
}

/** The evidence bundle plus the run's periodic checkpoints, each proven consistent with the seal. */
export type EvidenceBundle = AuditBundle & {
  readonly checkpoints: ReadonlyArray<{ readonly size: number; readonly checkpoint: string; readonly consistency: readonly string[] }>;
};

export interface Evidence {
  readonly anchor: Anchor;
  signer(): Promise<NoteSigner>;
  /** Seals a finished run once (idempotent): checkpoint over all its events, signed, anchored. */
  sealRun(runId: string): Promise<CheckpointRecord>;
  /** `sealRun`, saying whether this call wrote the seal (`wrote: false`: it was sealed already, or another sealer won). */
  sealRunOnce(runId: string): Promise<{ readonly seal: CheckpointRecord; readonly wrote: boolean }>;
  /** Checkpoints a running run if enough happened since its last checkpoint. */
  checkpointRun(runId: string, opts?: { force?: boolean }): Promise<CheckpointRecord | null>;
  /** The run's bundle; its report is computed now, against the anchor store and our key. */
  bundle(runId: string): Promise<EvidenceBundle>;
  /** One event with its inclusion proof against the run's seal. */
  prove(runId: string, seq: number): Promise<EventProof>;
}

export interface EvidenceOptions {
  readonly config: AgoraConfig;
  readonly redis: RedisClient;
  readonly logger?: Logger;
  /** Anchor to use instead of the configured one (tests). */
  readonly anchor?: Anchor;
}

/** The configured anchor: `local` (Redis, beside the run) or `s3` (Object Lock, COMPLIANCE). */
export function createAnchor(config: AgoraConfig, redis: RedisClient): Anchor {
  const ref = config.audit.anchor;
  const store = new RunStore(redis, config.namespace);
  if (ref.provider === 'local') return new LocalAnchor({ redis, key: (ctx) => store.auditKey(ctx.runId) });
  if (ref.provider === 's3') {
    const o = ref.options as { bucket?: string; retentionDays?: number; region?: string; endpoint?: string; forcePathStyle?: boolean };
    if (!o.bucket) throw new ValueError('audit.anchor.options.bucket is required for the s3 anchor');
    const client = new S3Client({
      ...(o.region ? { region: o.region } : {}),
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.forcePathStyle !== undefined ? { forcePathStyle: o.forcePathStyle } : {}),
    });
    return new S3ObjectLockAnchor({ client, bucket: o.bucket, retentionDays: o.retentionDays ?? 365 });
  }
  throw new ValueError(`unknown audit anchor "${ref.provider}" (known: local, s3)`);
}

/**
 * Seals runs into signed, anchored Merkle checkpoints and assembles evidence bundles. The
 * stream is the single source of truth: a checkpoint covers events 0..size-1 exactly as stored.
 */
export function createEvidence(opts: EvidenceOptions): Evidence {
  const { config, redis } = opts;
  const store = new RunStore(redis, config.namespace);
  const anchor = opts.anchor ?? createAnchor(config, redis);
  const keyName = config.audit.keyName ?? `agora-${config.namespace}`;
  let signerP: Promise<NoteSigner> | undefined;
  const signer = (): Promise<NoteSigner> => 
    // A refusal is not kept: once the operator fixes the key's mode, the next call loads it.
    (signerP ??= loadOrCreateSigner(config.dataDir, keyName, opts.logger ? { logger: opts.logger } : {}).catch((err: unknown) => {
      signerP = undefined;
      throw err;
    }));
  
  async function record(runId: string, events: readonly StreamEvent[]): Promise<CheckpointRecord> {
    const origin = auditOrigin(config.namespace, runId);
    const s = await signer();
    const sealed = sealEvents(events, s, origin);
    const anchorRecord = await anchor.put(sealed.checkpoint, anchorContextOf(sealed.checkpoint));
    return { size: events.length, vkey: s.vkey, checkpoint: sealed.checkpoint, anchor: anchorRecord, at: new Date().toISOString() };
  }

  /**
   * Leaf hashes of running runs, kept between periodic checkpoints so each one only hashes the
   * events since the last (a long run must not be re-read from the start every time).
   */
  const leafCache = new Map<string, { count: number; leaves: Buffer }>();

  async function incrementalRecord(runId: string, size: number): Promise<CheckpointRecord> {
    let c = leafCache.get(runId) ?? { count: 0, leaves: Buffer.alloc(0) };
    while (c.count < size) {
      const batch = await store.readEvents(runId, c.count, { count: Math.min(10_000, size - c.count) });
      if (batch.length === 0) break;
      c = { count: c.count + batch.length, leaves: Buffer.concat([c.leaves, eventLeafHashes(batch)]) };
    }
    if (c.count < size) throw new IllegalStateError(`run ${runId}: stream has ${c.count} events, expected ${size}`);
    leafCache.set(runId, c);
    if (leafCache.size > 200) leafCache.delete(leafCache.keys().next().value!);
    const s = await signer();
    const origin = auditOrigin(config.namespace, runId);
    const checkpoint = signNote(formatCheckpoint({ origin, size, root: merkleRoot(c.leaves.subarray(0, size * 32)) }), s);
    const anchorRecord = await anchor.put(checkpoint, anchorContextOf(checkpoint));
    return { size, vkey: s.vkey, checkpoint, anchor: anchorRecord, at: new Date().toISOString() };
  }

  async function readSeal(runId: string): Promise<CheckpointRecord | null> {
    const raw = await store.auditRecord(runId, 'sealed');
    return raw ? (JSON.parse(raw) as CheckpointRecord) : null;
  }

  async function periodic(runId: string): Promise<CheckpointRecord[]> {
    const raw = await store.auditRecord(runId, 'periodic');
    return raw ? (JSON.parse(raw) as CheckpointRecord[]) : [];
  }

  async function sealRunOnce(runId: string): Promise<{ readonly seal: CheckpointRecord; readonly wrote: boolean }> {
    const existing = await readSeal(runId);
    if (existing) return { seal: existing, wrote: false };
    const state = await store.runState(runId);
    if (state === null) throw new NotFoundError(`no run "${runId}"`);
    if (!isTerminalRunState(state)) throw new IllegalStateError(`run "${runId}" is ${state}; it is sealed when it ends`);
    // The stream of a finished run is closed (appendEvent refuses), so this is all of it.
    const events = await store.allEvents(runId);
    const rec = await record(runId, events);
    leafCache.delete(runId);
    // Write-once: concurrent sealers (scheduler, CLI) produce the same checkpoint (Ed25519 is
    // deterministic) and the first one stays.
    const wrote = await store.recordSeal(runId, JSON.stringify(rec));
    if (wrote) opts.logger?.info({ runId, events: rec.size, anchor: rec.anchor.kind }, 'run sealed');
    return { seal: (await readSeal(runId))!, wrote };
  }

  return {
    anchor,
    signer,
    async sealRun(runId) {
      return (await sealRunOnce(runId)).seal;
    },
    sealRunOnce,
    async checkpointRun(runId, o = {}) {
      const { state, events: size } = await store.runProgress(runId);
      if (state === null || isTerminalRunState(state)) return null;
      const history = await periodic(runId);
      const last = history[history.length - 1];
      const lastSize = last?.size ?? 0;
      const due =
        size > lastSize &&
        (o.force || size - lastSize >= config.audit.checkpointEveryEvents || Date.now() - Date.parse(last?.at ?? '1970-01-01') >= config.audit.checkpointEveryMs);
      if (!due) return null;
      const rec = await incrementalRecord(runId, size);
      await store.recordCheckpoints(runId, JSON.stringify([...history, rec]));
      return rec;
    },
    async bundle(runId) {
      const seal = await this.sealRun(runId);
      const events = (await store.allEvents(runId)).slice(0, seal.size);
      // The seal's own key: whoever sealed it (the scheduler) signed it, whatever our key is.
      const sealer = { ...(await signer()), vkey: seal.vkey };
      const base = buildBundle({ runId, origin: auditOrigin(config.namespace, runId), events, signer: sealer, anchorRecord: seal.anchor, checkpoint: seal.checkpoint });
      const checkpoints = (await periodic(runId))
        .filter((c) => c.size < seal.size)
        .map((c) => ({ size: c.size, checkpoint: c.checkpoint, consistency: proveConsistency(events, c.size) }));
      const bundle: EvidenceBundle = { ...base, checkpoints };
      return { ...bundle, report: await verifyEvidence(bundle, { expectedRunId: runId, key: seal.vkey, anchor }) };
    },
    async prove(runId, seq) {
      const seal = await this.sealRun(runId);
      const events = (await store.allEvents(runId)).slice(0, seal.size);
      return proveEvent({ runId, events, checkpoint: seal.checkpoint, signer: { vkey: seal.vkey } }, seq);
    },
  };
}

/**
 * Verifies an evidence bundle: the audit library's checks, plus every periodic checkpoint
 * proven consistent with the seal (an earlier checkpoint that the final history does not
 * extend means history was rewritten after it was anchored).
 */
export async function verifyEvidence(
  bundle: unknown,
  opts: { expectedRunId?: string; key?: string; anchor?: Anchor } = {},
): Promise<VerificationReport> {
  // The schema check comes first: the bundle is read only once verifyBundle found it well
  // formed (`null`, or `checkpoints: [null]`, get a schema report, not a TypeError).
  const report = await verifyBundle(bundle, opts);
  if (report.checks.some((c) => c.name === 'schema' && !c.ok)) return report;
  const b = bundle as EvidenceBundle;
  const history = b.checkpoints as EvidenceBundle['checkpoints'] | undefined;
  if (history === undefined || history.length === 0) return report;
  const problems: string[] = [];
  for (const c of history) {
    const v = checkConsistency(c.checkpoint, b.checkpoint, c.consistency, opts.key ? { key: opts.key } : {});
    if (!v.ok) problems.push(`checkpoint of size ${c.size}: ${v.checks.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`).join('; ')}`);
  }
  const ok = problems.length === 0;
  const checks = [...report.checks, { name: 'checkpoints.consistent', ok, detail: ok ? `${history.length} periodic checkpoint(s) are prefixes of the sealed history` : problems.join(' | ') }];
  return ok ? { ...report, checks } : { ...report, checks, intact: false, claim: 'none', guarantee: 'none' };
}
