import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile, appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  NotFoundError,
  StorageError,
  ValueError,
  formatAgoraUri,
  parseAgoraUri,
  type ProviderHealth,
  type StorageEntry,
  type StorageProvider,
} from '@agora/core';

export interface LocalStorageOptions {
  /** Root directory; every URI maps to a path strictly inside it. */
  readonly root: string;
}

interface IndexLine {
  readonly hash: string;
  readonly at: string;
}

/**
 * Content-addressed blob storage on the local filesystem (sha256).
 *
 * Layout: `<root>/<ns>/<type>/<name>/<hash>` holds the bytes, `<root>/<ns>/<type>/<name>/.index`
 * one JSON line per registration (latest last), and `<root>/<ns>/<type>/.by-hash/<hash>` the name
 * of the latest blob with that hash, so `resolveByHash` is O(1) rather than a walk.
 * Writes go to a temp file and are renamed into place, so a crash never leaves a torn blob.
 */
export class LocalStorageProvider implements StorageProvider {
  readonly name = 'local';
  private readonly root: string;

  constructor(opts: LocalStorageOptions) {
    this.root = path.resolve(opts.root);
  }

  /** Maps URI segments to a path and proves it stays inside the root. */
  private dirOf(namespace: string, type: string, name?: string): string {
    const p = path.resolve(this.root, namespace, type, ...(name === undefined ? [] : [name]));
    if (p !== this.root && !p.startsWith(this.root + path.sep)) throw new ValueError(`storage path escapes the root: ${p}`);
    return p;
  }

  async put(uri: string, contents: Uint8Array): Promise<{ contentHash: string; uri: string }> {
    const u = parseAgoraUri(uri);
    const contentHash = createHash('sha256').update(contents).digest('hex');
    if (u.contentHash !== undefined && u.contentHash !== contentHash) {
      throw new ValueError(`content hash mismatch for ${uri}: bytes hash to ${contentHash}`);
    }
    const dir = this.dirOf(u.namespace, u.type, u.name);
    const file = path.join(dir, contentHash);
    try {
      await mkdir(dir, { recursive: true });
      const exists = await stat(file).then(() => true, () => false);
      if (!exists) {
        const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        await writeFile(tmp, contents);
        await rename(tmp, file);
      }
      const at = new Date().toISOString();
      await appendFile(path.join(dir, '.index'), JSON.stringify({ hash: contentHash, at } satisfies IndexLine) + '\n');
      const byHash = this.dirOf(u.namespace, u.type, '.by-hash');
      await mkdir(byHash, { recursive: true });
      await writeFile(path.join(byHash, contentHash), JSON.stringify({ name: u.name, at }));
    } catch (err) {
      throw new StorageError(`could not store ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    return { contentHash, uri: formatAgoraUri({ ...u, contentHash }) };
  }

  async get(uri: string): Promise<Uint8Array> {
    const u = parseAgoraUri(uri);
    let hash = u.contentHash;
    if (hash === undefined) {
      const latest = await this.resolveLatest(uri);
      if (!latest) throw new NotFoundError(`no artifact at ${uri}`);
      hash = latest.contentHash;
    }
    try {
      return await readFile(path.join(this.dirOf(u.namespace, u.type, u.name), hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no artifact at ${uri}`);
      throw new StorageError(`could not read ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  private async readIndex(namespace: string, type: string, name: string): Promise<IndexLine[]> {
    try {
      const text = await readFile(path.join(this.dirOf(namespace, type, name), '.index'), 'utf8');
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as IndexLine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async resolveLatest(uri: string): Promise<StorageEntry | null> {
    const u = parseAgoraUri(uri);
    const lines = await this.readIndex(u.namespace, u.type, u.name);
    const last = lines[lines.length - 1];
    return last ? { uri: formatAgoraUri({ ...u, contentHash: last.hash }), contentHash: last.hash, registeredAt: last.at } : null;
  }

  async list(uri: string): Promise<StorageEntry[]> {
    const u = parseAgoraUri(uri);
    const lines = await this.readIndex(u.namespace, u.type, u.name);
    return lines.map((l) => ({ uri: formatAgoraUri({ ...u, contentHash: l.hash }), contentHash: l.hash, registeredAt: l.at }));
  }

  async resolveByHash(q: { namespace: string; type: string; contentHash: string }): Promise<(StorageEntry & { name: string }) | null> {
    parseAgoraUri(`agora://${q.namespace}/${q.type}/x/${q.contentHash}`);
    try {
      const rec = JSON.parse(await readFile(path.join(this.dirOf(q.namespace, q.type, '.by-hash'), q.contentHash), 'utf8')) as { name: string; at: string };
      const uri = formatAgoraUri({ namespace: q.namespace, type: q.type, name: rec.name, contentHash: q.contentHash });
      return { uri, name: rec.name, contentHash: q.contentHash, registeredAt: rec.at };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async listNames(q: { namespace: string; type: string; prefix?: string }): Promise<string[]> {
    parseAgoraUri(`agora://${q.namespace}/${q.type}/x`);
    try {
      const names = await readdir(this.dirOf(q.namespace, q.type));
      return names.filter((n) => !n.startsWith('.') && (q.prefix === undefined || n.startsWith(q.prefix))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async health(): Promise<ProviderHealth> {
    try {
      await mkdir(this.root, { recursive: true });
      return { ok: true, message: `local storage at ${this.root} is writable` };
    } catch (err) {
      return { ok: false, message: `local storage root ${this.root} is not writable: ${(err as Error).message}` };
    }
  }
}
