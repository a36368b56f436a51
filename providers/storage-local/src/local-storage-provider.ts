import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  NotFoundError,
  StorageError,
  ValueError,
  contentAddress,
  formatAgoraUri,
  parseAgoraUri,
  resolveContentHash,
  sha256Hex,
  type ProviderHealth,
  type StorageEntry,
  type StorageProvider,
} from '@agora/core';

export interface LocalStorageOptions {
  /** Root directory; every URI maps to a path strictly inside it. */
  readonly root: string;
}

interface RegistryLine {
  readonly n: string;
  readonly h: string;
  readonly at: string;
}

/** How long index lines nobody waits for are gathered into one write. */
const DEFERRED_INDEX_WINDOW_MS = 20;

/**
 * Content-addressed blob storage on the local filesystem (sha256).
 *
 * Layout per `<ns>/<type>`: `blobs/<hash>` holds the bytes once however many names point at them,
 * and `registry.jsonl` one line per registration `{ n: name, h: hash, at }`, appended with
 * O_APPEND so runner processes can share it. Names resolve by scanning the registry (seed 000:
 * an O(N) walk is acceptable), so a put costs one blob write and one append, nothing more: this
 * is on every item's hot path.
 *
 * A blob is created with O_EXCL and verified against its hash when read, so a write torn by a
 * crash is detected (and repaired by the next put of the same content), never served.
 */
export class LocalStorageProvider implements StorageProvider {
  readonly name = 'local';
  private readonly root: string;
  private readonly dirs = new Set<string>();
  /** Blobs this process wrote or verified: identical outputs (common) skip the re-check. */
  private readonly known = new Set<string>();
  private readonly registries = new Map<string, Promise<FileHandle>>();
  /** Registry lines waiting for the next group write, per registry file. */
  private readonly pending = new Map<string, { lines: string[]; done: Promise<void>; flush: () => void; timer: NodeJS.Timeout | undefined }>();

  constructor(opts: LocalStorageOptions) {
    this.root = path.resolve(opts.root);
  }

  /** Maps URI segments to a path and proves it stays inside the root. */
  private typeDir(namespace: string, type: string): string {
    const p = path.resolve(this.root, namespace, type);
    if (!p.startsWith(this.root + path.sep)) throw new ValueError(`storage path escapes the root: ${p}`);
    return p;
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.dirs.add(dir);
  }

  private registry(typeDir: string): Promise<FileHandle> {
    let fh = this.registries.get(typeDir);
    if (!fh) {
      fh = this.ensureDir(typeDir).then(() => open(path.join(typeDir, 'registry.jsonl'), 'a'));
      this.registries.set(typeDir, fh);
      fh.catch(() => this.registries.delete(typeDir));
    }
    return fh;
  }

  /**
   * Group commit: lines registered in the same tick go out in one write (one syscall for many
   * concurrent items); every caller still waits until its own line is written. Lines whose
   * callers do not wait (`deferIndex`) are gathered for up to `DEFERRED_INDEX_WINDOW_MS` first;
   * a waiting caller joining such a batch flushes it at once.
   */
  private appendRegistry(dir: string, line: string, deferred = false): Promise<void> {
    let batch = this.pending.get(dir);
    if (!batch) {
      const lines: string[] = [];
      let flush!: () => void;
      const done = new Promise<void>((resolve, reject) => {
        flush = () => {
          if (this.pending.get(dir) !== batch) return;
          this.pending.delete(dir);
          clearTimeout(batch!.timer);
          this.registry(dir)
            .then((fh) => fh.write(lines.join('')))
            .then(() => resolve(), reject);
        };
      });
      batch = { lines, done, flush, timer: undefined };
      this.pending.set(dir, batch);
      if (deferred) batch.timer = setTimeout(flush, DEFERRED_INDEX_WINDOW_MS);
      else setImmediate(flush);
    } else if (!deferred && batch.timer) {
      clearTimeout(batch.timer);
      batch.timer = undefined;
      setImmediate(batch.flush);
    }
    batch.lines.push(line);
    return batch.done;
  }

  /** Writes every pending registry line now (call before the process exits). */
  async flush(): Promise<void> {
    const batches = [...this.pending.values()];
    for (const b of batches) b.flush();
    await Promise.allSettled(batches.map((b) => b.done));
  }

  private async writeBlob(file: string, contents: Uint8Array, hash: string): Promise<void> {
    if (this.known.has(file)) return;
    try {
      await writeFile(file, contents, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Already stored; repair it if an earlier write was torn.
      if (sha256Hex(await readFile(file)) !== hash) {
        const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        await writeFile(tmp, contents);
        await rename(tmp, file);
      }
    }
    if (this.known.size > 50_000) this.known.clear();
    this.known.add(file);
  }

  async put(uri: string, contents: Uint8Array, opts: { deferIndex?: boolean } = {}): Promise<{ contentHash: string; uri: string }> {
    const { target: u, contentHash } = contentAddress(uri, contents);
    const dir = this.typeDir(u.namespace, u.type);
    try {
      await this.ensureDir(path.join(dir, 'blobs'));
      await this.writeBlob(path.join(dir, 'blobs', contentHash), contents, contentHash);
      const line: RegistryLine = { n: u.name, h: contentHash, at: new Date().toISOString() };
      const indexed = this.appendRegistry(dir, JSON.stringify(line) + '\n', opts.deferIndex === true);
      if (opts.deferIndex) indexed.catch(() => undefined);
      else await indexed;
    } catch (err) {
      throw new StorageError(`could not store ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    return { contentHash, uri: formatAgoraUri({ ...u, contentHash }) };
  }

  async get(uri: string): Promise<Uint8Array> {
    const { target: u, contentHash: hash } = await resolveContentHash(this, uri);
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(this.typeDir(u.namespace, u.type), 'blobs', hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`no artifact at ${uri}`);
      throw new StorageError(`could not read ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    if (sha256Hex(bytes) !== hash) {
      this.known.delete(path.join(this.typeDir(u.namespace, u.type), 'blobs', hash));
      throw new StorageError(`artifact ${uri} is corrupt: its bytes do not hash to ${hash}`);
    }
    return bytes;
  }

  private async readRegistry(namespace: string, type: string): Promise<RegistryLine[]> {
    try {
      const text = await readFile(path.join(this.typeDir(namespace, type), 'registry.jsonl'), 'utf8');
      const out: RegistryLine[] = [];
      for (const l of text.split('\n')) {
        if (!l) continue;
        try {
          out.push(JSON.parse(l) as RegistryLine);
        } catch {
          // a line torn by a crash mid-append; the blob it named is simply not registered
        }
      }
      return out;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private entry(namespace: string, type: string, l: RegistryLine): StorageEntry {
    return { uri: formatAgoraUri({ namespace, type, name: l.n, contentHash: l.h }), contentHash: l.h, registeredAt: l.at };
  }

  async resolveLatest(uri: string): Promise<StorageEntry | null> {
    const list = await this.list(uri);
    return list[list.length - 1] ?? null;
  }

  async list(uri: string): Promise<StorageEntry[]> {
    const u = parseAgoraUri(uri);
    return (await this.readRegistry(u.namespace, u.type)).filter((l) => l.n === u.name).map((l) => this.entry(u.namespace, u.type, l));
  }

  async resolveByHash(q: { namespace: string; type: string; contentHash: string }): Promise<(StorageEntry & { name: string }) | null> {
    parseAgoraUri(`agora://${q.namespace}/${q.type}/x/${q.contentHash}`);
    const lines = await this.readRegistry(q.namespace, q.type);
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      if (l.h === q.contentHash) return { ...this.entry(q.namespace, q.type, l), name: l.n };
    }
    return null;
  }

  async listNames(q: { namespace: string; type: string; prefix?: string }): Promise<string[]> {
    parseAgoraUri(`agora://${q.namespace}/${q.type}/x`);
    const names = new Set((await this.readRegistry(q.namespace, q.type)).map((l) => l.n));
    return [...names].filter((n) => q.prefix === undefined || n.startsWith(q.prefix)).sort();
  }

  async health(): Promise<ProviderHealth> {
    try {
      await mkdir(this.root, { recursive: true });
      return { ok: true, message: `local storage at ${this.root} is writable` };
    } catch (err) {
      return { ok: false, message: `local storage root ${this.root} is not writable: ${(err as Error).message}` };
    }
  }

  /** Closes the registry files it keeps open. */
  async close(): Promise<void> {
    for (const fh of this.registries.values()) await (await fh.catch(() => null))?.close();
    this.registries.clear();
  }
}
