/**
 * The audit scenario's measurement, run in a process of its own so the harness's heap (earlier
 * scenarios' plans and events) does not weigh on it: node bench/dist/audit-child.js <events>.
 * Prints one JSON line: { sealSec, proofRate, rssMb }.
 */
import { randomBytes } from 'node:crypto';
import { MerkleTree, eventLeafHashes, generateNoteKey, signerFromPrivateKey, sealEvents, verifyInclusion, type AuditEvent } from '@agora/audit';

const n = Number(process.argv[2]);
if (!Number.isSafeInteger(n) || n < 1) {
  process.stderr.write('usage: audit-child <events>\n');
  process.exit(2);
}
const runId = 'rbench';
const t = Date.now();
const events: AuditEvent[] = Array.from({ length: n }, (_, i) => ({
  seq: i,
  runId,
  at: new Date(t + i).toISOString(),
  type: 'item',
  itemId: `item-${i % 10_000}`,
  state: i % 3 === 0 ? 'running' : 'done',
  ...(i % 3 === 0 ? { attempt: 1, runner: 'host:1234' } : { resultRef: `agora://agora/result/${runId}.item-${i}/${randomBytes(32).toString('hex')}` }),
}));
const signer = signerFromPrivateKey(generateNoteKey('bench').skey);
const t0 = performance.now();
sealEvents(events, signer, `agora/bench/${runId}`);
const sealSec = (performance.now() - t0) / 1000;
// Inclusion proofs: generated from the tree and verified against its root.
const tree = MerkleTree.fromLeafHashes(eventLeafHashes(events));
const root = tree.root();
const proofs = Math.min(20_000, n);
const t1 = performance.now();
for (let k = 0; k < proofs; k++) {
  const idx = (k * 7919) % n;
  verifyInclusion(idx, n, tree.leafHash(idx), tree.inclusionProof(idx), root);
}
const proofRate = proofs / ((performance.now() - t1) / 1000);
process.stdout.write(JSON.stringify({ sealSec, proofRate, rssMb: Math.round(process.memoryUsage().rss / 1048576) }) + '\n');
