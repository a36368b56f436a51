import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeStorageConformance } from '@agora/conformance';
import { LocalStorageProvider } from '@agora/storage-local';

/** The storage contract on the local disk; a second instance over the same root is the peer (another runner process). */
describeStorageConformance('local', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'agora-conformance-local-'));
  const provider = new LocalStorageProvider({ root });
  const peers: LocalStorageProvider[] = [];
  return {
    provider,
    peer: () => {
      const p = new LocalStorageProvider({ root });
      peers.push(p);
      return p;
    },
    corruptBlob: async ({ namespace, type, contentHash }, bytes) => writeFile(path.join(root, namespace, type, 'blobs', contentHash), bytes),
    close: async () => {
      for (const p of [provider, ...peers]) await p.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
});
