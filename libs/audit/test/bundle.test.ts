import { describe, expect, it } from 'vitest';
import {
  MerkleTree,
  auditOrigin,
  buildBundle,
  checkConsistency,
  eventLeafHash,
  eventsMerkleRoot,
  formatCheckpoint,
  generateNoteKey,
  parseCheckpoint,
  parseNote,
  proveConsistency,
  proveEvent,
  sealEvents,
  signNote,
  signerFromPrivateKey,
  verifyBundle,
  verifyBundleOffline,
  verifyEventProof,
  type AuditBundle,
  type AuditEvent,
  type EventProof,
  type VerificationReport,
} from '@agora/audit';
import { refRoot } from './support/reference-merkle.js';
import { manyEvents, syntheticRun } from './support/events.js';

const RUN = 'r0mfz8k2a1c0ffee';
const origin = auditOrigin('prod', RUN);
const signer = signerFromPrivateKey(generateNoteKey('agora-prod').skey);
const attacker = signerFromPrivateKey(generateNoteKey('agora-prod').skey);
const events = syntheticRun(RUN);
const bundle = buildBundle({ runId: RUN, origin, events, signer });

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** A deep copy, as a bundle read back from a file would be (and free to tamper with). */
const copy = <T>(v: T): Mutable<T> => JSON.parse(JSON.stringify(v)) as Mutable<T>;
const failing = (r: VerificationReport): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);

/** Re-seals tampered events as the attacker would (their own key), keeping everything else. */
function resigned(b: AuditBundle, evs: AuditEvent[], key = attacker): AuditBundle {
  return { ...b, events: evs, checkpoint: sealEvents(evs, key, origin).checkpoint, signer: { vkey: key.vkey } };
}

async function expectBroken(b: unknown, names: string[], options: Parameters<typeof verifyBundle>[1] = { key: signer.vkey }): Promise<VerificationReport> {
  const report = await verifyBundle(copy(b), options);
  expect(report.intact, JSON.stringify(report.checks, null, 1)).toBe(false);
  expect(report.claim).toBe('none');
  expect(report.guarantee).toBe('none');
  for (const name of names) expect(failing(report), `expected ${name} to fail`).toContain(name);
  return report;
}

describe('buildBundle', () => {
  it('produces a JSON-serialisable bundle of version 1 that verifies', async () => {
    expect(events.length).toBe(25);
    expect(Object.keys(bundle).sort()).toEqual(['anchor', 'checkpoint', 'events', 'report', 'runId', 'signer', 'version']);
    expect(bundle.version).toBe(1);
    expect(bundle.events).toEqual(events);
    expect(bundle.signer).toEqual({ vkey: signer.vkey });
    expect(bundle.anchor).toBeNull();
    expect(bundle.report.intact).toBe(true);
    const report = await verifyBundle(copy(bundle), { key: signer.vkey, expectedRunId: RUN });
    expect(failing(report)).toEqual([]);
    expect(report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(report.checks.map((c) => c.name)).toEqual([
      'schema', 'run-id', 'events.valid', 'events.seq-contiguous', 'events.run-id', 'checkpoint.format',
      'checkpoint.origin', 'checkpoint.size', 'checkpoint.root', 'signature', 'signer.pinned', 'anchor',
    ]);
  });

  it('signs a C2SP checkpoint naming the run, the event count and the Merkle root', () => {
    const note = parseNote(bundle.checkpoint);
    expect(note.signatures.map((s) => s.name)).toEqual(['agora-prod']);
    const cp = parseCheckpoint(note.text);
    expect(cp.origin).toBe(`agora/prod/${RUN}`);
    expect(cp.size).toBe(events.length);
    const leaves = events.map((e) => Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : 1))))));
    expect(cp.root.equals(refRoot(leaves))).toBe(true);
  });

  it('refuses events it could not vouch for', () => {
    const withSecret = events.map((e, i) => (i === 3 ? { ...e, apiKey: 'sk-live-123' } : e));
    expect(() => buildBundle({ runId: RUN, origin, events: withSecret, signer })).toThrow(/events\[3\]\.apiKey: "apiKey" looks like a secret/);
    expect(() => buildBundle({ runId: RUN, origin, events: events.slice(1), signer })).toThrow(/seq is 1, expected 0/);
    expect(() => buildBundle({ runId: RUN, origin: auditOrigin('prod', 'r0other'), events, signer })).toThrow(/does not name run/);
    const foreign = sealEvents(events.slice(0, -1), signer, origin).checkpoint;
    expect(() => buildBundle({ runId: RUN, origin, events, signer, checkpoint: foreign })).toThrow(/checkpoint.size/);
  });

  it('ignores the report a bundle carries about itself', async () => {
    const tampered = copy(bundle);
    (tampered.events[4] as Record<string, unknown>)['state'] = 'failed';
    expect(tampered.report.intact).toBe(true);
    await expectBroken(tampered, ['checkpoint.root']);
  });
});

describe('tampering is detected and named', () => {
  it('a byte changed in one event', async () => {
    const t = copy(bundle);
    const e = t.events[7] as Record<string, unknown>;
    e['resultRef'] = String(e['resultRef']).replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const r = await expectBroken(t, ['checkpoint.root']);
    expect(failing(r)).toEqual(['checkpoint.root']);
  });

  it('an event deleted from the middle', async () => {
    const t = copy(bundle);
    t.events = t.events.filter((_, i) => i !== 10);
    await expectBroken(t, ['events.seq-contiguous', 'checkpoint.size', 'checkpoint.root']);
  });

  it('the last event deleted', async () => {
    const t = copy(bundle);
    t.events = t.events.slice(0, -1);
    const r = await expectBroken(t, ['checkpoint.size', 'checkpoint.root']);
    expect(failing(r)).not.toContain('events.seq-contiguous');
  });

  it('two events swapped', async () => {
    const t = copy(bundle);
    const evs = [...t.events];
    [evs[5], evs[6]] = [evs[6] as AuditEvent, evs[5] as AuditEvent];
    t.events = evs;
    await expectBroken(t, ['events.seq-contiguous', 'checkpoint.root']);
  });

  it('two events swapped with their seq renumbered', async () => {
    const t = copy(bundle);
    const evs = t.events.map((e) => ({ ...e }));
    const a = evs[5] as Record<string, unknown>;
    const b = evs[6] as Record<string, unknown>;
    [evs[5], evs[6]] = [{ ...b, seq: 5 } as AuditEvent, { ...a, seq: 6 } as AuditEvent];
    t.events = evs;
    const r = await expectBroken(t, ['checkpoint.root']);
    expect(failing(r)).toEqual(['checkpoint.root']);
  });

  it('an event duplicated', async () => {
    const t = copy(bundle);
    t.events = [...t.events.slice(0, 9), t.events[8] as AuditEvent, ...t.events.slice(9)];
    await expectBroken(t, ['events.seq-contiguous', 'checkpoint.size']);
  });

  it('a forged event appended, not re-signed', async () => {
    const t = copy(bundle);
    t.events = [...t.events, { seq: t.events.length, runId: RUN, at: '2026-11-23T04:00:00.000Z', type: 'item', itemId: 'exfil', state: 'done' }];
    await expectBroken(t, ['checkpoint.size', 'checkpoint.root']);
  });

  it('a forged event appended and re-signed with another key: caught by the pinned key', async () => {
    const forged = [...events, { seq: events.length, runId: RUN, at: '2026-11-23T04:00:00.000Z', type: 'item', itemId: 'exfil', state: 'done' }];
    const t = resigned(bundle, forged);
    const r = await expectBroken(t, ['signer.pinned']);
    expect(failing(r)).toEqual(['signer.pinned']);
    // Without a pinned key (or an anchor) nothing inside the bundle can tell: the report says so.
    const unpinned = await verifyBundle(copy(t));
    expect(unpinned.intact).toBe(true);
    expect(unpinned.warnings.join('\n')).toMatch(/signer not pinned/);
  });

  it('a forged event appended and re-signed with another key that keeps the original vkey', async () => {
    const forged = [...events, { seq: events.length, runId: RUN, at: '2026-11-23T04:00:00.000Z', type: 'item', itemId: 'exfil', state: 'done' }];
    const t = { ...resigned(bundle, forged), signer: bundle.signer };
    const r = await expectBroken(t, ['signature'], {});
    expect(r.checks.find((c) => c.name === 'signature')?.detail).toMatch(/invalid signature|no signature by a known key/);
  });

  it('the tree size changed in the checkpoint', async () => {
    const t = copy(bundle);
    t.checkpoint = t.checkpoint.replace(`\n${events.length}\n`, `\n${events.length - 1}\n`);
    await expectBroken(t, ['signature', 'checkpoint.size']);
  });

  it('the tree size changed and re-signed, events truncated to match', async () => {
    const t = resigned(bundle, events.slice(0, -3));
    const r = await expectBroken(t, ['signer.pinned']);
    expect(failing(r)).toEqual(['signer.pinned']);
  });

  it('the root swapped for the root of another run', async () => {
    const other = buildBundle({ runId: RUN, origin, events: syntheticRun(RUN, ['a', 'b', 'c', 'd']), signer });
    const otherRoot = parseCheckpoint(parseNote(other.checkpoint).text).root.toString('base64');
    const ownRoot = parseCheckpoint(parseNote(bundle.checkpoint).text).root.toString('base64');
    const t = copy(bundle);
    t.checkpoint = t.checkpoint.replace(ownRoot, otherRoot);
    await expectBroken(t, ['checkpoint.root', 'signature']);
  });

  it('a signature bit flipped', async () => {
    const t = copy(bundle);
    const lines = t.checkpoint.split('\n');
    const sigLine = lines.at(-2) as string;
    const [dash, name, b64] = sigLine.split(' ') as [string, string, string];
    const raw = Buffer.from(b64, 'base64');
    raw[40] = (raw[40] as number) ^ 0x10;
    lines[lines.length - 2] = `${dash} ${name} ${raw.toString('base64')}`;
    t.checkpoint = lines.join('\n');
    const r = await expectBroken(t, ['signature', 'signer.pinned']);
    expect(failing(r)).toEqual(['signature', 'signer.pinned']);
  });

  it('a bundle of another run presented for this run', async () => {
    const otherRun = 'r0mfz8k2a1deadbeef';
    const other = buildBundle({ runId: otherRun, origin: auditOrigin('prod', otherRun), events: syntheticRun(otherRun), signer });
    await expectBroken(other, ['run-id', 'events.run-id', 'checkpoint.origin'], { key: signer.vkey, expectedRunId: RUN });
    // Relabelled as this run, its events and checkpoint still name the other one.
    const relabelled = { ...copy(other), runId: RUN };
    const r = await expectBroken(relabelled, ['events.run-id', 'checkpoint.origin'], { key: signer.vkey, expectedRunId: RUN });
    expect(failing(r)).not.toContain('run-id');
  });

  it('a secret smuggled into an event', async () => {
    const t = copy(bundle);
    (t.events[3] as Record<string, unknown>)['password'] = 'hunter2';
    const r = await expectBroken(t, ['events.valid', 'checkpoint.root']);
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });

  it('a damaged bundle fails the schema check only', async () => {
    for (const bad of [null, [], 'x', { ...copy(bundle), version: 2 }, { ...copy(bundle), events: 'x' }, { ...copy(bundle), signer: {} }]) {
      const r = await expectBroken(bad, ['schema'], {});
      expect(r.checks.map((c) => c.name)).toEqual(['schema']);
    }
  });

  it('negative control: reordering the keys of an event still verifies', async () => {
    const t = copy(bundle);
    const e = t.events[7] as Record<string, unknown>;
    t.events = t.events.map((x, i) => (i === 7 ? (Object.fromEntries(Object.entries(e).reverse()) as AuditEvent) : x));
    expect(Object.keys(t.events[7] as object)[0]).not.toBe(Object.keys(bundle.events[7] as object)[0]);
    const r = await verifyBundle(t, { key: signer.vkey, expectedRunId: RUN });
    expect(failing(r)).toEqual([]);
    expect(r.intact).toBe(true);
  });
});

describe('event inclusion proofs', () => {
  it('prove every event of the bundle on their own', () => {
    for (let seq = 0; seq < events.length; seq++) {
      const p = copy(proveEvent(bundle, seq));
      expect(p).toMatchObject({ runId: RUN, leafIndex: seq, treeSize: events.length, checkpoint: bundle.checkpoint, signer: bundle.signer });
      expect(p.event).toEqual(events[seq]);
      const v = verifyEventProof(p, { key: signer.vkey, expectedRunId: RUN });
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      expect(v.ok).toBe(true);
    }
    // From events plus checkpoint, without a bundle.
    expect(verifyEventProof(proveEvent({ runId: RUN, events, checkpoint: bundle.checkpoint, signer }, 3)).ok).toBe(true);
  });

  const proof = proveEvent(bundle, 9);
  const broken = (p: unknown, names: string[], options: Parameters<typeof verifyEventProof>[1] = { key: signer.vkey }): void => {
    const v = verifyEventProof(copy(p), options);
    expect(v.ok).toBe(false);
    const failed = v.checks.filter((c) => !c.ok).map((c) => c.name);
    for (const n of names) expect(failed, JSON.stringify(v.checks, null, 1)).toContain(n);
  };

  it('rejects a changed event', () => {
    broken({ ...proof, event: { ...proof.event, state: 'failed' } }, ['inclusion']);
  });

  it('rejects another event at the proven index', () => {
    broken({ ...proof, event: events[10] }, ['event.seq', 'inclusion']);
  });

  it('rejects a shifted leaf index', () => {
    broken({ ...proof, leafIndex: 10 }, ['event.seq', 'inclusion']);
  });

  it('rejects a flipped proof hash and a dropped component', () => {
    const flipped = Buffer.from(proof.proof[1] as string, 'base64');
    flipped[0] = (flipped[0] as number) ^ 1;
    broken({ ...proof, proof: [proof.proof[0], flipped.toString('base64'), ...proof.proof.slice(2)] }, ['inclusion']);
    broken({ ...proof, proof: proof.proof.slice(1) }, ['inclusion']);
  });

  it('rejects an interior hash presented as a leaf', () => {
    // Leaves 8 and 9 hash to a node N at level 1; with the size halved, N sits at index 4 of
    // a tree of level-1 nodes and the rest of the path proves it. The signed size forbids it.
    const upper: EventProof = { ...proof, leafIndex: 4, treeSize: Math.ceil(events.length / 2), proof: proof.proof.slice(1) };
    broken(upper, ['checkpoint.size', 'inclusion', 'event.seq']);
    const tree = MerkleTree.fromLeafHashes(events.map((e) => eventLeafHash(e)));
    const node = tree.inclusionProof(9); // sibling of 9 is leaf 8
    expect(node[0]?.equals(eventLeafHash(events[8] as AuditEvent))).toBe(true);
  });

  it('rejects a re-signed checkpoint when the key is pinned, and a proof for another run', () => {
    const forged = { ...proof, checkpoint: signNote(parseNote(proof.checkpoint).text, attacker), signer: { vkey: attacker.vkey } };
    broken(forged, ['signer.pinned']);
    expect(verifyEventProof(copy(forged)).ok).toBe(true);
    broken(proof, ['run-id', 'event.run-id', 'checkpoint.origin'], { key: signer.vkey, expectedRunId: 'r0other' });
  });

  it('refuses to prove against a checkpoint that does not commit to the events', () => {
    expect(() => proveEvent({ ...bundle, events: events.slice(0, -1) }, 2)).toThrow(/another number of events/);
    const changed = events.map((e, i) => (i === 2 ? { ...e, state: 'x' } : e));
    expect(() => proveEvent({ ...bundle, events: changed }, 2)).toThrow(/does not commit to these events/);
  });
});

describe('periodic checkpoints', () => {
  const all = manyEvents(RUN, 300);
  const at = (n: number, key = signer): string => sealEvents(all.slice(0, n), key, origin).checkpoint;

  it('a later checkpoint extends an earlier one', () => {
    for (const [a, b] of [[1, 2], [5, 12], [12, 300], [64, 65], [0, 7], [40, 40]] as const) {
      const r = checkConsistency(at(a), at(b), proveConsistency(all.slice(0, b), a), { key: signer.vkey });
      expect(r.checks.filter((c) => !c.ok), `${a}->${b}`).toEqual([]);
      expect(r.ok).toBe(true);
    }
  });

  it('a rewritten history does not extend the earlier checkpoint', () => {
    const rewritten = all.slice(0, 120).map((e, i) => (i === 17 ? { ...e, itemId: 'other' } : e));
    const later = sealEvents(rewritten, signer, origin).checkpoint;
    const r = checkConsistency(at(50), later, proveConsistency(rewritten, 50), { key: signer.vkey });
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => !c.ok)?.name).toBe('consistency');
  });

  it('rejects checkpoints in the wrong order, of another log, or signed by another key', () => {
    const proof = proveConsistency(all.slice(0, 90), 30);
    expect(checkConsistency(at(90), at(30), proof).checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['consistency']);
    const otherLog = sealEvents(all.slice(0, 90), signer, auditOrigin('prod', 'r0other')).checkpoint;
    expect(checkConsistency(at(30), otherLog, proof).checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['checkpoint.origin']);
    const r = checkConsistency(at(30), at(90, attacker), proof, { key: signer.vkey });
    expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['signature']);
  });
});

describe('the claim follows the documented tiers', () => {
  it('intact with no key pinned claims nothing (accidental corruption only) and warns; pinned, tamper-detecting', async () => {
    for (const unpinned of [await verifyBundle(copy(bundle)), verifyBundleOffline(copy(bundle)), await verifyBundle(copy(bundle), { expectedRunId: RUN })]) {
      expect(failing(unpinned)).toEqual([]);
      expect(unpinned).toMatchObject({ intact: true, claim: 'none', guarantee: 'none' });
      expect(unpinned.warnings.join('\n')).toMatch(/signer not pinned/);
      expect(unpinned.warnings.join('\n')).toMatch(/accidental corruption only/);
    }
    for (const pinned of [await verifyBundle(copy(bundle), { key: signer.vkey }), verifyBundleOffline(copy(bundle), { key: signer.vkey })]) {
      expect(pinned).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
      expect(pinned.warnings.join('\n')).not.toMatch(/accidental corruption only/);
    }
  });
});

describe('periodic checkpoints in a bundle: checkpoints.size', () => {
  const at = (n: number, key = signer): string => sealEvents(events.slice(0, n), key, origin).checkpoint;
  const withPeriodic = (): Mutable<AuditBundle> & { checkpoints: Array<{ size: number; checkpoint: string; consistency: string[] }> } => ({
    ...copy(bundle),
    checkpoints: [8, 16].map((size) => ({ size, checkpoint: at(size), consistency: proveConsistency(events, size) })),
  });

  it('control: sizes that match their signed tree sizes pass', async () => {
    const report = await verifyBundle(withPeriodic(), { key: signer.vkey });
    expect(failing(report)).toEqual([]);
    expect(report.checks.find((c) => c.name === 'checkpoints.size')).toMatchObject({ ok: true });
  });

  it('a size edited away from its signed tree size fails checkpoints.size, naming the entry', async () => {
    const t = withPeriodic();
    t.checkpoints[1]!.size = 3;
    for (const options of [{ key: signer.vkey }, {}]) {
      const r = await expectBroken(t, ['checkpoints.size'], options);
      expect(failing(r)).toEqual(['checkpoints.size']);
      expect(r.checks.find((c) => c.name === 'checkpoints.size')?.detail).toBe('checkpoints[1] (size 3): its signed tree size is 16');
    }
  });

  it('a signed periodic tree larger than the bundle\'s events fails checkpoints.size', async () => {
    const t = withPeriodic();
    const longer = [...events, { seq: events.length, runId: RUN, at: '2026-11-23T04:00:00.000Z', type: 'item', itemId: 'later', state: 'done' }];
    t.checkpoints[1] = { size: longer.length, checkpoint: sealEvents(longer, signer, origin).checkpoint, consistency: [] };
    const r = await expectBroken(t, ['checkpoints.size']);
    expect(failing(r)).toEqual(['checkpoints.size']);
    expect(r.checks.find((c) => c.name === 'checkpoints.size')?.detail).toMatch(/checkpoints\[1\] \(size 26\): tree size 26 exceeds the bundle's 25 events/);
  });
});

describe('sealing large runs', () => {
  it('the pipelined root equals the single-threaded root and the reference, at every chunk boundary', () => {
    const evs = manyEvents(RUN, 41);
    for (let n = 0; n <= evs.length; n++) {
      const slice = evs.slice(0, n);
      const single = eventsMerkleRoot(slice, { parallelMinEvents: Infinity });
      const piped = eventsMerkleRoot(slice, { parallelMinEvents: 0, chunkLeaves: 4 });
      expect(piped.toString('hex'), `n=${n}`).toBe(single.toString('hex'));
      const leaves = slice.map((e) => Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : 1))))));
      expect(single.equals(refRoot(leaves)), `n=${n}`).toBe(true);
    }
  });

  it('seals 100k events with the default pipeline to the single-threaded root', () => {
    const evs = manyEvents(RUN, 100_003);
    const sealed = sealEvents(evs, signer, origin);
    expect(sealed.size).toBe(100_003);
    expect(sealed.root.equals(eventsMerkleRoot(evs, { parallelMinEvents: Infinity }))).toBe(true);
    expect(parseCheckpoint(parseNote(sealed.checkpoint).text)).toMatchObject({ origin, size: 100_003, root: sealed.root });
    expect(formatCheckpoint({ origin, size: sealed.size, root: sealed.root })).toBe(parseNote(sealed.checkpoint).text);
  });

  it('names the bad event when validation fails inside the pipeline', () => {
    const evs = manyEvents(RUN, 50);
    (evs[37] as Record<string, unknown>)['token'] = 'literal';
    expect(() => eventsMerkleRoot(evs, { parallelMinEvents: 0, chunkLeaves: 8 })).toThrow(/events\[37\]\.token/);
    // The worker keeps serving later calls.
    expect(eventsMerkleRoot(manyEvents(RUN, 50), { parallelMinEvents: 0, chunkLeaves: 8 }).equals(eventsMerkleRoot(manyEvents(RUN, 50)))).toBe(true);
  });
});
