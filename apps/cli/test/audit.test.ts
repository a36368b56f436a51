import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateNoteKey, signerFromPrivateKey, sealEvents, auditOrigin, type VerificationReport } from '@agora/audit';
import { verifyEvidence, type EvidenceBundle } from '@agora/evidence';
import { cliEnv } from '../../../test/support/cli.js';

/** Audit bundles of real runs (serve + runner processes), verified and tampered with through the CLI. */
const env = cliEnv({ queues: { default: { concurrency: 4 } }, audit: { checkpointEveryEvents: 8, checkpointEveryMs: 1000 } });
let runId: string;
let otherRunId: string;
let bundleFile: string;
let bundle: EvidenceBundle;
let vkey: string;

const plan = (id: string) => ({
  id,
  queue: 'default',
  items: [
    { id: 'a', executor: 'noop', inputs: { sleepMs: 400 }, depends_on: [], resourceLocks: ['res/a'] },
    { id: 'b', executor: 'noop', inputs: { sleepMs: 400 }, depends_on: ['a'], resourceLocks: ['res/b'] },
    { id: 'c', executor: 'noop', inputs: { sleepMs: 1200 }, depends_on: ['a'], resourceLocks: [] },
    { id: 'd', executor: 'noop', inputs: {}, depends_on: ['b', 'c'], resourceLocks: [] },
  ],
});

beforeAll(async () => {
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  runId = env.agora(['submit', env.writeJson('p1.json', plan('audited'))]).stdout.trim();
  otherRunId = env.agora(['submit', env.writeJson('p2.json', plan('other'))]).stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
  expect(env.agora(['watch', otherRunId]).code).toBe(0);
  bundleFile = path.join(env.dir, 'bundle.json');
  const r = env.agora(['audit', runId, '--out', bundleFile]);
  expect(r.code, r.stderr).toBe(0);
  bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as EvidenceBundle;
  vkey = env.agora(['audit', 'pubkey']).stdout.trim();
}, 120_000);
afterAll(() => env.close());

const failing = (r: VerificationReport): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);
const clone = (): EvidenceBundle => JSON.parse(JSON.stringify(bundle)) as EvidenceBundle;
type Mutable = { events: Array<Record<string, unknown>>; checkpoint: string; runId: string; signer: { vkey: string } };
const m = (b: EvidenceBundle): Mutable => b as unknown as Mutable;

/** Replaces one line of the signed checkpoint (2: tree size, 3: root) keeping the signature. */
function editCheckpointLine(b: EvidenceBundle, line: number, value: string): void {
  const lines = b.checkpoint.split('\n');
  lines[line - 1] = value;
  m(b).checkpoint = lines.join('\n');
}

describe('agora audit on a real run', () => {
  it('prints an intact, tamper-detecting report, and the bundle holds the exact events', () => {
    expect(bundle.report).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(bundle.runId).toBe(runId);
    expect(bundle.events.map((e) => e.seq)).toEqual(bundle.events.map((_, i) => i));
    expect(bundle.events.some((e) => e.type === 'lock' && e['action'] === 'acquired' && typeof e['token'] === 'number')).toBe(true);
    expect(bundle.signer.vkey).toBe(vkey);
    expect(bundle.anchor).toMatchObject({ kind: 'local' });
    // A run of ~30 events checkpointed every 8: periodic checkpoints, each proven a prefix.
    expect(bundle.checkpoints.length).toBeGreaterThan(0);
    expect(bundle.report.checks.find((c) => c.name === 'checkpoints.consistent')).toMatchObject({ ok: true });
  });

  it('agora audit verify accepts the bundle offline, pinned to our key, and refuses another key', () => {
    expect(env.agora(['audit', 'verify', bundleFile]).code).toBe(0);
    expect(env.agora(['audit', 'verify', bundleFile, '--key', vkey]).code).toBe(0);
    const other = generateNoteKey('agora-someone-else').vkey;
    const r = env.agora(['audit', 'verify', bundleFile, '--key', other]);
    expect(r.code).toBe(1);
    expect(failing(JSON.parse(r.stdout) as VerificationReport)).toContain('signer.pinned');
  });

  it('fails after a one-byte edit of any event, with a non-zero exit', () => {
    const text = readFileSync(bundleFile, 'utf8');
    for (const seq of [0, Math.floor(bundle.events.length / 2), bundle.events.length - 1]) {
      const ev = JSON.stringify(bundle.events[seq]);
      const b = clone();
      const e = m(b).events[seq]!;
      e['at'] = String(e['at']).replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10));
      const f = path.join(env.dir, `edited-${seq}.json`);
      writeFileSync(f, JSON.stringify(b));
      const r = env.agora(['audit', 'verify', f, '--key', vkey]);
      expect(r.code, `edit of event ${seq} (${ev}) verified`).toBe(1);
      expect(failing(JSON.parse(r.stdout) as VerificationReport)).toContain('checkpoint.root');
    }
    expect(readFileSync(bundleFile, 'utf8')).toBe(text);
  });

  it('proves one event offline: agora audit prove, then verify-proof', () => {
    const r = env.agora(['audit', 'prove', runId, '5']);
    expect(r.code, r.stderr).toBe(0);
    const f = env.writeJson('proof.json', r.stdout);
    expect(env.agora(['audit', 'verify-proof', f, '--key', vkey]).code).toBe(0);
    const proof = JSON.parse(r.stdout) as { event: Record<string, unknown>; proof: string[] };
    proof.event['state'] = 'forged';
    expect(env.agora(['audit', 'verify-proof', env.writeJson('proof-bad.json', proof), '--key', vkey]).code).toBe(1);
    // An interior node of the tree presented as a leaf does not verify either.
    const interior = JSON.parse(r.stdout) as { leafIndex: number; treeSize: number; proof: string[]; event: unknown };
    interior.proof = interior.proof.slice(1);
    interior.leafIndex = Math.floor(interior.leafIndex / 2);
    expect(env.agora(['audit', 'verify-proof', env.writeJson('proof-interior.json', interior), '--key', vkey]).code).toBe(1);
  });

  const cases: Array<[string, (b: EvidenceBundle) => void, string]> = [
    ['a byte changed in one event', (b) => (m(b).events[3]!['itemId'] = 'x'), 'checkpoint.root'],
    ['an event deleted (middle)', (b) => m(b).events.splice(5, 1), 'events.seq-contiguous'],
    ['an event deleted (last)', (b) => m(b).events.pop(), 'checkpoint.size'],
    ['two events swapped', (b) => { const e = m(b).events; [e[2], e[3]] = [e[3]!, e[2]!]; }, 'events.seq-contiguous'],
    ['an event duplicated', (b) => m(b).events.splice(4, 0, { ...m(b).events[4]! }), 'events.seq-contiguous'],
    ['a forged event appended', (b) => m(b).events.push({ ...m(b).events[1]!, seq: m(b).events.length }), 'checkpoint.size'],
    ['tree size changed', (b) => editCheckpointLine(b, 2, String(bundle.events.length + 1)), 'signature'],
    ['root swapped', (b) => editCheckpointLine(b, 3, Buffer.alloc(32, 7).toString('base64')), 'signature'],
    ['a signature bit flipped', (b) => {
      const lines = m(b).checkpoint.split('\n');
      const i = lines.findIndex((l) => l.startsWith('\u2014 '));
      const parts = lines[i]!.split(' ');
      const sig = Buffer.from(parts[2]!, 'base64');
      sig[sig.length - 1]! ^= 1;
      parts[2] = sig.toString('base64');
      lines[i] = parts.join(' ');
      m(b).checkpoint = lines.join('\n');
    }, 'signature'],
  ];
  it.each(cases)('detects %s', async (_name, tamper, check) => {
    const b = clone();
    tamper(b);
    const report = await verifyEvidence(b, { expectedRunId: runId, key: vkey });
    expect(report.intact).toBe(false);
    expect(failing(report)).toContain(check);
  });

  it('detects a forged event appended and re-signed by another key', async () => {
    const b = clone();
    m(b).events.push({ ...m(b).events[1]!, seq: m(b).events.length });
    const mallory = signerFromPrivateKey(generateNoteKey('agora-mallory').skey);
    m(b).checkpoint = sealEvents(b.events, mallory, auditOrigin(env.namespace, runId)).checkpoint;
    m(b).signer.vkey = mallory.vkey;
    const report = await verifyEvidence(b, { expectedRunId: runId, key: vkey });
    expect(report.intact).toBe(false);
    expect(failing(report)).toContain('signer.pinned');
  });

  it('refuses a bundle of another run presented for this run', async () => {
    const other = JSON.parse(env.agora(['audit', otherRunId]).stdout) as EvidenceBundle;
    const report = await verifyEvidence(other, { expectedRunId: runId, key: vkey });
    expect(report.intact).toBe(false);
    expect(failing(report)).toContain('run-id');
  });

  it('still verifies when the keys of one event are reordered (canonical JSON)', async () => {
    const b = clone();
    const e = m(b).events[2]!;
    m(b).events[2] = Object.fromEntries(Object.entries(e).reverse());
    const report = await verifyEvidence(b, { expectedRunId: runId, key: vkey });
    expect(report.intact).toBe(true);
  });

  it('detects a rewritten history behind an earlier periodic checkpoint', async () => {
    const b = clone();
    const first = b.checkpoints[0]!;
    (first as unknown as { consistency: string[] }).consistency = first.consistency.map(() => Buffer.alloc(32, 1).toString('base64'));
    const report = await verifyEvidence(b, { expectedRunId: runId, key: vkey });
    expect(report.intact).toBe(false);
    expect(failing(report)).toContain('checkpoints.consistent');
  });
});

describe('audit findings: claims, malformed bundles, periodic sizes, --json', () => {
  const failed = (r: VerificationReport): VerificationReport['checks'] => r.checks.filter((c) => !c.ok);

  it('verify without --key is intact but claims no tier (accidental corruption only); with --key tamper-detecting (CLI and library)', async () => {
    const bare = env.agora(['audit', 'verify', bundleFile]);
    expect(bare.code, bare.stdout).toBe(0);
    const report = JSON.parse(bare.stdout) as VerificationReport;
    expect(report).toMatchObject({ intact: true, claim: 'none', guarantee: 'none' });
    expect(report.warnings.join('\n')).toMatch(/signer not pinned/);
    expect(report.warnings.join('\n')).toMatch(/accidental corruption only/);
    // The anchor warning says how a CLI user gets the anchor consulted (no flag of verify passes one).
    expect(report.warnings.join('\n')).toMatch(/anchor not consulted: .*agora audit <run> reads it from the deployment's Redis; an offline agora audit verify cannot/);
    expect(await verifyEvidence(clone())).toMatchObject({ intact: true, claim: 'none', guarantee: 'none' });
    const pinned = env.agora(['audit', 'verify', bundleFile, '--key', vkey]);
    expect(pinned.code, pinned.stdout).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
    expect(await verifyEvidence(clone(), { key: vkey })).toMatchObject({ intact: true, claim: 'tamper-detecting', guarantee: 'local' });
  });

  it('null, a null periodic checkpoint, [], 5 and "x" all get a schema report and exit 1, never a TypeError', async () => {
    const withNullCheckpoint = { ...clone(), checkpoints: [null] };
    for (const [name, value] of [['null', null], ['checkpoints: [null]', withNullCheckpoint], ['[]', []], ['5', 5], ['"x"', 'x']] as const) {
      const lib = await verifyEvidence(value, { key: vkey });
      expect(lib.intact, name).toBe(false);
      expect(failed(lib).map((c) => c.name), name).toEqual(['schema']);
      const f = env.writeJson(`malformed-${name.replace(/\W/g, '_')}.json`, JSON.stringify(value));
      for (const args of [['audit', 'verify', f], ['audit', 'verify', f, '--key', vkey]]) {
        const r = env.agora(args);
        expect(r.stderr, name).not.toMatch(/Cannot read properties/);
        expect(r.code, `${name}: ${r.stderr}`).toBe(1);
        const report = JSON.parse(r.stdout) as VerificationReport;
        expect(report, name).toMatchObject({ intact: false, claim: 'none', guarantee: 'none' });
        expect(failed(report).map((c) => c.name), name).toEqual(['schema']);
      }
      // replay runs nothing and does not crash (exit 1): a value that is not even an object is bad
      // input (exit 2); an object that fails the schema does not verify (exit 4).
      const rp = env.agora(['replay', f]);
      expect(rp.stderr, name).not.toMatch(/Cannot read properties/);
      const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
      expect(rp.code, `${name}: ${rp.stderr}`).toBe(isObject ? 4 : 2);
      expect(rp.stderr, name).toMatch(isObject ? /does not verify, nothing was replayed: schema: / : /is not an evidence bundle: a JSON object is expected/);
    }
  });

  it('a bundle or proof that is not valid UTF-8 is refused (exit 2) naming the byte, never verified as U+FFFD', () => {
    // Latin-1's é (0xe9) inside a string of the first event: read loosely it is U+FFFD, the JSON
    // still parses and the verifier would hash a text the file does not hold.
    const withLatin1 = (text: string, at: string): { bytes: Buffer; offset: number; line: number } => {
      const i = text.indexOf(at) + at.length;
      expect(i, at).toBeGreaterThanOrEqual(at.length);
      const before = Buffer.from(text.slice(0, i));
      return { bytes: Buffer.concat([before, Buffer.from([0xe9]), Buffer.from(text.slice(i))]), offset: before.length, line: text.slice(0, i).split('\n').length };
    };
    const b = withLatin1(readFileSync(bundleFile, 'utf8'), '"runId": "');
    const bad = path.join(env.dir, 'bundle-latin1.json');
    writeFileSync(bad, b.bytes);
    const want = `bundle-latin1.json:${b.line}: not valid UTF-8: byte 0xe9 at offset ${b.offset} (save the file as UTF-8)`;
    for (const args of [['audit', 'verify', bad], ['audit', 'verify', bad, '--key', vkey], ['replay', bad], ['replay', bad, '--json']]) {
      const r = env.agora(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout} ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(want);
      expect(r.stdout, args.join(' ')).not.toMatch(/intact/);
    }
    const proof = env.agora(['audit', 'prove', runId, '2']);
    expect(proof.code, proof.stderr).toBe(0);
    const p = withLatin1(proof.stdout, '"runId": "');
    const badProof = path.join(env.dir, 'proof-latin1.json');
    writeFileSync(badProof, p.bytes);
    const r = env.agora(['audit', 'verify-proof', badProof, '--key', vkey]);
    expect(r.code, `${r.stdout} ${r.stderr}`).toBe(2);
    expect(r.stderr).toContain(`proof-latin1.json:${p.line}: not valid UTF-8: byte 0xe9 at offset ${p.offset} (save the file as UTF-8)`);
  });

  it('a bundle or proof that is not JSON is bad input (exit 2) named by line and column, as agora replay and plan files name it', () => {
    const bad = env.writeJson('bundle-not-json.json', '{\n  "version": 1,\n  x\n}\n');
    for (const args of [['audit', 'verify', bad], ['audit', 'verify', bad, '--key', vkey], ['audit', 'verify-proof', bad], ['replay', bad]]) {
      const r = env.agora(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout} ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('bundle-not-json.json:3:3: invalid JSON: InvalidSymbol');
    }
  });

  it('a flag the form does not take, or a mistyped subcommand, exits 2 naming it instead of being ignored', () => {
    const out = path.join(env.dir, 'ignored-out.json');
    const cases: Array<[string[], string]> = [
      [['audit', runId, '--key', vkey], '--key is for audit verify and verify-proof'],
      [['audit', 'verify', bundleFile, '--out', out], '--out is for agora audit <run>'],
      [['audit', 'pubkey', '--out', out], '--out is for agora audit <run>'],
      [['audit', 'prove', runId, '1', '--key', vkey], '--key is for audit verify and verify-proof'],
      [['audit', 'verfy', bundleFile], 'agora audit <run> takes one run id; "verfy" is not a subcommand (verify, prove, verify-proof, pubkey)'],
    ];
    for (const [args, want] of cases) {
      const r = env.agora(args);
      expect(r.code, `${args.join(' ')}: ${r.stdout} ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(want);
    }
    expect(() => readFileSync(out)).toThrow();
  });

  it('a periodic checkpoint whose size disagrees with its signed tree size fails checkpoints.size (exit 1)', async () => {
    const b = clone();
    const index = Math.min(1, b.checkpoints.length - 1);
    const entry = b.checkpoints[index] as unknown as { size: number };
    const signedSize = entry.size;
    entry.size = signedSize === 3 ? 4 : 3;
    const f = env.writeJson('periodic-size.json', b);
    const r = env.agora(['audit', 'verify', f, '--key', vkey]);
    expect(r.code, r.stdout).toBe(1);
    const report = JSON.parse(r.stdout) as VerificationReport;
    expect(report.intact).toBe(false);
    const size = report.checks.find((c) => c.name === 'checkpoints.size');
    expect(size, JSON.stringify(report.checks, null, 1)).toMatchObject({ ok: false });
    expect(size!.detail).toContain(`checkpoints[${index}] (size ${entry.size}): its signed tree size is ${signedSize}`);
    const lib = await verifyEvidence(b, { expectedRunId: runId, key: vkey });
    expect(failed(lib).map((c) => c.name)).toContain('checkpoints.size');
    // The untouched bundle passes the same check.
    expect((await verifyEvidence(clone(), { key: vkey })).checks.find((c) => c.name === 'checkpoints.size')).toMatchObject({ ok: true });
  });

  it('every audit verb that prints takes --json, with the same JSON output', () => {
    const same = (args: string[]): string => {
      const plain = env.agora(args);
      const json = env.agora([...args, '--json']);
      expect(json.stderr, args.join(' ')).not.toMatch(/unknown option/);
      expect(json.code, `${args.join(' ')} --json: ${json.stderr}`).toBe(plain.code);
      expect(json.stdout, args.join(' ')).toBe(plain.stdout);
      return json.stdout;
    };
    const audited = JSON.parse(same(['audit', runId])) as EvidenceBundle;
    expect(audited.runId).toBe(runId);
    expect(JSON.parse(same(['audit', 'verify', bundleFile, '--key', vkey]))).toMatchObject({ intact: true });
    const proof = same(['audit', 'prove', runId, '2']);
    expect(JSON.parse(same(['audit', 'verify-proof', env.writeJson('proof-json.json', proof), '--key', vkey]))).toMatchObject({ ok: true });
    // pubkey prints the bare key; with --json, one JSON value.
    const pub = env.agora(['audit', 'pubkey', '--json']);
    expect(pub.code, pub.stderr).toBe(0);
    expect(JSON.parse(pub.stdout)).toEqual({ vkey });
    const outFile = path.join(env.dir, 'bundle-json.json');
    const out = env.agora(['audit', runId, '--out', outFile, '--json']);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ intact: true, claim: 'tamper-detecting' });
  });
});
