import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateNoteKey, signNote, signerFromPrivateKey, parseNote, verifyBundle, type VerificationReport } from '@agora/audit';
import { verifyEvidence, type EvidenceBundle } from '@agora/evidence';
import { cliEnv } from '../support/cli.js';

/**
 * The verifier checks every signature in a bundle: the seal's and every periodic checkpoint's,
 * against the pinned key when one is given and against the bundle's own key otherwise. Bundles
 * come from a real run (scheduler and runner processes, periodic checkpoints every 4 events).
 */
const env = cliEnv({ queues: { default: { concurrency: 4 } }, audit: { checkpointEveryEvents: 4, checkpointEveryMs: 1000 } });
let runId: string;
let bundle: EvidenceBundle;
let bundleFile: string;
let vkey: string;

const plan = {
  id: 'verifier',
  queue: 'default',
  items: [
    { id: 'a', executor: 'noop', inputs: { sleepMs: 700 }, depends_on: [], resourceLocks: ['res/a'] },
    { id: 'b', executor: 'noop', inputs: { sleepMs: 700 }, depends_on: ['a'], resourceLocks: ['res/b'] },
    { id: 'c', executor: 'noop', inputs: { sleepMs: 1500 }, depends_on: ['a'], resourceLocks: [] },
    { id: 'd', executor: 'noop', inputs: { sleepMs: 700 }, depends_on: ['b', 'c'], resourceLocks: [] },
  ],
};

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  runId = env.agora(['submit', env.writeJson('plan.json', plan)]).stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
  bundleFile = path.join(env.dir, 'bundle.json');
  const r = env.agora(['audit', runId, '--out', bundleFile]);
  expect(r.code, r.stderr).toBe(0);
  bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as EvidenceBundle;
  vkey = env.agora(['audit', 'pubkey']).stdout.trim();
  // The point of the file: a bundle that carries periodic checkpoints besides the seal.
  expect(bundle.checkpoints.length).toBeGreaterThanOrEqual(2);
}, 120_000);
afterAll(() => env.close());

const clone = (): EvidenceBundle => JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
const failed = (r: VerificationReport): VerificationReport['checks'] => r.checks.filter((c) => !c.ok);
type MutableCheckpoint = { size: number; checkpoint: string; consistency: string[] };
const periodic = (b: EvidenceBundle, i: number): MutableCheckpoint => b.checkpoints[i] as unknown as MutableCheckpoint;

/** Flips the lowest bit of the last byte of the note's (only) Ed25519 signature. */
function flipSignatureBit(note: string): string {
  const lines = note.split('\n');
  const i = lines.findIndex((l) => l.startsWith('\u2014 '));
  const parts = lines[i]!.split(' ');
  const sig = Buffer.from(parts[2]!, 'base64');
  sig[sig.length - 1]! ^= 1;
  parts[2] = sig.toString('base64');
  lines[i] = parts.join(' ');
  return lines.join('\n');
}

/** The report must be broken by `checkpoints.signature`, naming checkpoint `index` and only it. */
function expectNamesCheckpoint(report: VerificationReport, index: number, size: number): void {
  expect(report.intact, JSON.stringify(report.checks, null, 1)).toBe(false);
  expect(report.claim).toBe('none');
  const sig = report.checks.find((c) => c.name === 'checkpoints.signature');
  expect(sig, JSON.stringify(report.checks, null, 1)).toBeDefined();
  expect(sig!.ok).toBe(false);
  expect(sig!.detail).toContain(`checkpoints[${index}] (size ${size})`);
  for (let j = 0; j < bundle.checkpoints.length; j++) if (j !== index) expect(sig!.detail).not.toContain(`checkpoints[${j}] `);
}

function writeBundle(name: string, b: EvidenceBundle): string {
  const f = path.join(env.dir, name);
  writeFileSync(f, JSON.stringify(b, null, 2));
  return f;
}

describe('the verifier checks every periodic checkpoint signature', () => {
  it('control: the untouched bundle verifies, with and without a pinned key (library and CLI)', async () => {
    for (const options of [{}, { key: vkey }]) {
      const lib = await verifyBundle(clone(), options);
      expect(failed(lib)).toEqual([]);
      expect(lib.checks.find((c) => c.name === 'checkpoints.signature')).toMatchObject({ ok: true });
      const ev = await verifyEvidence(clone(), options);
      expect(failed(ev)).toEqual([]);
      expect(ev.intact).toBe(true);
    }
    const bare = env.agora(['audit', 'verify', bundleFile]);
    expect(bare.code, bare.stdout).toBe(0);
    expect((JSON.parse(bare.stdout) as VerificationReport).intact).toBe(true);
    const pinned = env.agora(['audit', 'verify', bundleFile, '--key', vkey]);
    expect(pinned.code, pinned.stdout).toBe(0);
  });

  it('one flipped bit in a periodic checkpoint signature fails without a pinned key (library and CLI)', async () => {
    for (const index of [0, bundle.checkpoints.length - 1]) {
      const b = clone();
      const cp = periodic(b, index);
      cp.checkpoint = flipSignatureBit(cp.checkpoint);
      // The seal itself is untouched: only the periodic checkpoint is broken.
      expectNamesCheckpoint(await verifyBundle(b), index, cp.size);
      expectNamesCheckpoint(await verifyEvidence(b), index, cp.size);
      const r = env.agora(['audit', 'verify', writeBundle(`flipped-${index}.json`, b)]);
      expect(r.code, r.stdout).toBe(1);
      expectNamesCheckpoint(JSON.parse(r.stdout) as VerificationReport, index, cp.size);
    }
  });

  it('one flipped bit in a periodic checkpoint signature fails with a pinned key (library and CLI)', async () => {
    const index = Math.floor(bundle.checkpoints.length / 2);
    const b = clone();
    const cp = periodic(b, index);
    cp.checkpoint = flipSignatureBit(cp.checkpoint);
    expectNamesCheckpoint(await verifyBundle(b, { key: vkey }), index, cp.size);
    expectNamesCheckpoint(await verifyEvidence(b, { key: vkey, expectedRunId: runId }), index, cp.size);
    const r = env.agora(['audit', 'verify', writeBundle('flipped-pinned.json', b), '--key', vkey]);
    expect(r.code, r.stdout).toBe(1);
    expectNamesCheckpoint(JSON.parse(r.stdout) as VerificationReport, index, cp.size);
  });

  it('a periodic checkpoint re-signed by another key fails without a pinned key', async () => {
    const b = clone();
    const cp = periodic(b, 0);
    const mallory = signerFromPrivateKey(generateNoteKey('agora-mallory').skey);
    cp.checkpoint = signNote(parseNote(cp.checkpoint).text, mallory);
    expectNamesCheckpoint(await verifyBundle(b), 0, cp.size);
    const r = env.agora(['audit', 'verify', writeBundle('resigned.json', b)]);
    expect(r.code, r.stdout).toBe(1);
    expectNamesCheckpoint(JSON.parse(r.stdout) as VerificationReport, 0, cp.size);
  });

  it('a checkpoints list that is not a list of signed checkpoints is refused, not skipped', async () => {
    for (const [name, value] of [['an object', { size: 4 }], ['an entry without a checkpoint', [{ size: 4, consistency: [] }]]] as const) {
      const b = clone() as unknown as Record<string, unknown>;
      b['checkpoints'] = value;
      const report = await verifyBundle(b);
      expect(report.intact, name).toBe(false);
      expect(failed(report).map((c) => c.name), name).toEqual(['schema']);
      const r = env.agora(['audit', 'verify', writeBundle('bad-list.json', b as unknown as EvidenceBundle)]);
      expect(r.code, name).toBe(1);
    }
  });
});
