import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStorageProvider } from '@agora/storage-local';
import { startCluster, type TestCluster } from '../support/cluster.js';

/**
 * Item 9 of the trust-boundary issue: a worker's stdout is stored exactly. Only text shown in
 * messages (stderr in a failure reason) is decoded.
 */
let cluster: TestCluster | undefined;
afterAll(async () => cluster?.close());

describe('bytes stay bytes', () => {
  it('a process worker writing every byte 0..255 (and invalid UTF-8 sequences) gives a byte-identical artifact', async () => {
    // Every byte value, then sequences that are not UTF-8: a lone continuation byte, a truncated
    // 3-byte sequence, an overlong encoding, a UTF-16 surrogate encoded as UTF-8.
    const expected = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0x80, 0xe2, 0x82, 0xc0, 0xaf, 0xed, 0xa0, 0x80])]);
    const script = `process.stdout.write(Buffer.from(${JSON.stringify(expected.toString('hex'))}, 'hex'))`;
    cluster = await startCluster({
      config: {
        compute: { local: { provider: 'process' } },
        targets: { local: { compute: 'local' } },
        tasks: { bytes: { command: [process.execPath, '-e', script] } },
      },
      runners: 1,
    });
    const runId = await cluster.client.submit({
      id: 'bytes',
      queue: 'default',
      items: [{ id: 'all-bytes', executor: 'dispatch', inputs: { task: 'bytes' }, depends_on: [], resourceLocks: [] }],
    });
    const status = await cluster.client.wait(runId);
    const events = await cluster.client.events(runId);
    expect(status.state, JSON.stringify(events.filter((e) => e.state === 'failed'))).toBe('succeeded');
    const ref = status.items.find((i) => i.id === 'all-bytes')?.resultRef;
    expect(ref).toBeDefined();
    const stored = Buffer.from(await new LocalStorageProvider({ root: path.join(cluster.dataDir, 'storage') }).get(ref!));
    expect(stored.length).toBe(expected.length);
    expect(stored.equals(expected)).toBe(true);
  });
});
