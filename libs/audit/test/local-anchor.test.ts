import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError } from '@agora/core';
import {
  LocalAnchor,
  auditOrigin,
  buildBundle,
  checkpointDigest,
  generateNoteKey,
  sealEvents,
  signerFromPrivateKey,
  verifyBundle,
  type AnchorContext,
  type AuditBundle,
} from '@agora/audit';
import { testRedisUrl, uniqueNamespace } from '../../../test/support/index.js';
import { syntheticRun } from './support/events.js';

const ns = uniqueNamespace('audit');
/** The anchor hash of a run: any key works here (the state library names the real one). */
const auditKey = (runId: string): string => `${ns}:anchor-test:${runId}`;
const RUN = 'r0mfz8k2a1local';
const origin = auditOrigin(ns, RUN);
const signer = signerFromPrivateKey(generateNoteKey('agora-local').skey);
const attacker = signerFromPrivateKey(generateNoteKey('agora-local').skey);
const events = syntheticRun(RUN);
let redis: Redis;
let anchor: LocalAnchor;

const ctx = (treeSize: number): AnchorContext => ({ runId: RUN, origin, treeSize });
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const failing = (checks: readonly { name: string; ok: boolean }[]): string[] => checks.filter((c) => !c.ok).map((c) => c.name);

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  anchor = new LocalAnchor({ redis, key: (c) => auditKey(c.runId) });
});

afterAll(async () => {
  const found = await redis.keys(`${ns}:*`);
  if (found.length > 0) await redis.del(...found);
  redis.disconnect();
});

describe('LocalAnchor (real Redis)', () => {
  let bundle: AuditBundle;

  it('stores the signed checkpoint in the run hash and verifies it', async () => {
    const { checkpoint } = sealEvents(events, signer, origin);
    const record = await anchor.put(checkpoint, ctx(events.length));
    expect(record).toMatchObject({ kind: 'local', key: auditKey(RUN), field: `checkpoint:${events.length}` });
    expect(await redis.hget(auditKey(RUN), `checkpoint:${events.length}`)).toBe(checkpoint);
    // Anchoring the same checkpoint again is idempotent.
    await expect(anchor.put(checkpoint, ctx(events.length))).resolves.toMatchObject({ checkpointSha256: record.checkpointSha256 });

    bundle = buildBundle({ runId: RUN, origin, events, signer, anchorRecord: record, checkpoint });
    const report = await verifyBundle(copy(bundle), { key: signer.vkey, expectedRunId: RUN, anchor });
    expect(failing(report.checks)).toEqual([]);
    expect(report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(report.checks.find((c) => c.name === 'anchor')?.detail).toMatch(/matches the checkpoint anchored in Redis/);
  });

  it('is write-once: a different checkpoint for the same field is refused', async () => {
    const other = sealEvents(events.slice(0, -1).concat([{ ...events.at(-1), state: 'failed' } as (typeof events)[number]]), signer, origin).checkpoint;
    await expect(anchor.put(other, ctx(events.length))).rejects.toThrow(IllegalStateError);
  });

  it('catches a history rewritten and re-signed by another key, even without a pinned key', async () => {
    const forged = events.map((e, i) => (i === 6 ? { ...e, exitCode: 1 } : e));
    const sealed = sealEvents(forged, attacker, origin);
    const t = { ...copy(bundle), events: forged, checkpoint: sealed.checkpoint, signer: { vkey: attacker.vkey } };
    // The attacker also fixes up the record inside the bundle.
    t.anchor = { ...t.anchor, checkpointSha256: checkpointDigest(sealed.checkpoint) } as AuditBundle['anchor'];
    expect((await verifyBundle(copy(t))).intact).toBe(true);
    const report = await verifyBundle(copy(t), { anchor });
    expect(report.intact).toBe(false);
    expect(failing(report.checks)).toEqual(['anchor']);
    expect(report.checks.find((c) => c.name === 'anchor')?.detail).toMatch(/differs/);
  });

  it('fails when the record is for another checkpoint, points elsewhere, or is missing', async () => {
    const t = copy(bundle);
    const wrongDigest = { ...t, anchor: { ...t.anchor, checkpointSha256: '0'.repeat(64) } };
    expect(failing((await verifyBundle(wrongDigest, { anchor })).checks)).toEqual(['anchor']);
    expect(failing((await verifyBundle(wrongDigest)).checks)).toEqual(['anchor']);
    const elsewhere = { ...t, anchor: { ...t.anchor, field: 'checkpoint:1' } };
    const r = await verifyBundle(elsewhere, { anchor });
    expect(failing(r.checks)).toEqual(['anchor']);
    expect(r.checks.find((c) => c.name === 'anchor')?.detail).toMatch(/points at/);
    expect(failing((await verifyBundle({ ...t, anchor: null }, { anchor })).checks)).toEqual(['anchor']);
  });

  it('fails when the anchored checkpoint was overwritten or deleted in Redis', async () => {
    const key = auditKey(RUN);
    const field = `checkpoint:${events.length}`;
    const original = (await redis.hget(key, field)) as string;
    await redis.hset(key, field, original.replace(/\n\d+\n/, '\n1\n'));
    expect(failing((await verifyBundle(copy(bundle), { anchor })).checks)).toEqual(['anchor']);
    await redis.hdel(key, field);
    const r = await verifyBundle(copy(bundle), { anchor });
    expect(r.checks.find((c) => c.name === 'anchor')?.detail).toMatch(/no checkpoint anchored/);
    await redis.hset(key, field, original);
    expect((await verifyBundle(copy(bundle), { anchor })).intact).toBe(true);
  });

  it('reports an unreachable Redis as a failed anchor check', async () => {
    const down = new LocalAnchor({
      redis: { hsetnx: () => Promise.reject(new Error('connection refused')), hget: () => Promise.reject(new Error('connection refused')) },
      key: (c) => auditKey(c.runId),
    });
    const r = await verifyBundle(copy(bundle), { anchor: down });
    expect(r.intact).toBe(false);
    expect(r.checks.find((c) => c.name === 'anchor')?.detail).toMatch(/unavailable: connection refused/);
  });
});
