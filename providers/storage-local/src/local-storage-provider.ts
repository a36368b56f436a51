import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  NotFoundError,
  StorageError,
  checkListNamesQuery,
  createLogger,
  contentAddress,
  formatAgoraUri,
  pageOfNames,
  parseAgoraUri,
  resolveContentHash,
  resolveInside,
  sha256Hex,
  type ListNamesQuery,
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
 * Files are opened without following a symlink in their last component (ELOOP instead): this
 * provider never creates one, so one found there was planted, and following it would read or
 * append a file anywhere the runner may (e.g. a registry.jsonl pointing at ~/.bashrc).
 */
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
const APPEND_NOFOLLOW = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/**
 * Artifacts hold results, logs, plans and task definitions, any of which may be sensitive: every
 * file is created 0600 and every directory 0700, given as the mode of the create call (a umask
 * can only take bits away from it, never add any, so the mode holds under umask 000 too).
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException).code === code;
}

async function readNoFollow(file: string): Promise<Buffer> {
  const fh = await open(file, READ_NOFOLLOW);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function symlinkRefused(file: string, err: unknown): StorageError {
  return new StorageError(`${file} is a symlink; local storage never creates one, so it is refused`, { cause: err });
}
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
  /** The root with symlinks resolved: every directory used must resolve inside it. */
  private realRoot: Promise<string> | undefined;
  /** Directories proven to exist inside the real root (checked once per process). */
  private readonly dirs = new Set<string>();
  /** Blobs this process wrote or verified: identical outputs (common) skip the re-check. */
  private readonly known = new Set<string>();
  private readonly registries = new Map<string, Promise<FileHandle>>();
  /** Registry lines waiting for the next group write, per registry file. */
  private readonly pending = new Map<string, { lines: string[]; done: Promise<void>; flush: () => void; timer: NodeJS.Timeout | undefined }>();

  constructor(opts: LocalStorageOptions) {
    this.root = path.resolve(opts.root);
  }

  /** Maps URI segments to a path and proves it stays inside the root (lexically). */
  private typeDir(namespace: string, type: string): string {
    return resolveInside(this.root, namespace, type);
  }

  private resolvedRoot(): Promise<string> {
    this.realRoot ??= mkdir(this.root, { recursive: true, mode: DIR_MODE })
      .then(() => this.warnIfRootOpen())
      .then(() => realpath(this.root))
      .catch((err: unknown) => {
        this.realRoot = undefined;
        throw err;
      });
    return this.realRoot;
  }

  /**
   * A root that already existed is the operator's (a mount, a folder shared on purpose): it is
   * not chmod'ed behind their back, but one group or others may enter is warned about once, as
   * they can list (not read: files are 0600) what it holds. `agora dev` tightens its own.
   */
  private async warnIfRootOpen(): Promise<void> {
    const mode = (await stat(this.root)).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    createLogger({ component: 'storage-local' }).warn(
      { root: this.root, mode: mode.toString(8) },
      `local storage root ${this.root} is accessible by group or others (mode ${mode.toString(8)}); artifacts may hold sensitive data: chmod 700 it`,
    );
  }

  /**
   * Walks from the root to `dir` one component at a time, creating missing ones when `create`,
   * and refuses a component that is a symlink resolving outside the real root, before anything
   * is created through it. Returns false when `dir` does not exist (and `create` is off).
   */
  private async checkedDir(dir: string, create: boolean): Promise<boolean> {
    if (this.dirs.has(dir)) return true;
    const root = await this.resolvedRoot();
    let cur = this.root;
    for (const segment of path.relative(this.root, dir).split(path.sep).filter(Boolean)) {
      cur = resolveInside(cur, segment);
      let st;
      try {
        st = await lstat(cur);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
        if (!create) return false;
        await mkdir(cur, DIR_MODE).catch((e: unknown) => {
          if (!isCode(e, 'EEXIST')) throw e;
        });
        st = await lstat(cur);
      }
      if (st.isSymbolicLink()) {
        const real = await realpath(cur);
        if (real !== root && !real.startsWith(root + path.sep)) {
          throw new StorageError(`${cur} is a symlink leading outside the storage root ${root} (to ${real}); refused`);
        }
      }
    }
    this.dirs.add(dir);
    return true;
  }

  private async ensureDir(dir: string): Promise<void> {
    await this.checkedDir(dir, true);
  }

  private registry(typeDir: string): Promise<FileHandle> {
    let fh = this.registries.get(typeDir);
    if (!fh) {
      const file = path.join(typeDir, 'registry.jsonl');
      fh = this.ensureDir(typeDir).then(() =>
        open(file, APPEND_NOFOLLOW, FILE_MODE).catch((err: unknown) => {
          throw isCode(err, 'ELOOP') ? symlinkRefused(file, err) : err;
        }),
      );
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
      // O_EXCL: a symlink planted at this path is never followed (EEXIST, then ELOOP below).
      await writeFile(file, contents, { flag: 'wx', mode: FILE_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = await readNoFollow(file).catch((e: unknown) => {
        throw isCode(e, 'ELOOP') ? symlinkRefused(file, e) : e;
      });
      // Already stored; repair it if an earlier write was torn.
      if (sha256Hex(existing) !== hash) {
        const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        // Created 0600 and exclusive (a planted symlink at the temp name is not followed); the
        // rename keeps that mode, and a repaired blob written 0644 by an older version leaves as 0600.
        try {
          await writeFile(tmp, contents, { flag: 'wx', mode: FILE_MODE });
          await rename(tmp, file);
        } catch (e) {
          await unlink(tmp).catch(() => undefined);
          throw e;
        }
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
      if (err instanceof StorageError) throw err;
      throw new StorageError(`could not store ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    return { contentHash, uri: formatAgoraUri({ ...u, contentHash }) };
  }

  async get(uri: string): Promise<Uint8Array> {
    const { target: u, contentHash: hash } = await resolveContentHash(this, uri);
    let bytes: Buffer;
    const blobs = path.join(this.typeDir(u.namespace, u.type), 'blobs');
    const file = path.join(blobs, hash);
    try {
      if (!(await this.checkedDir(blobs, false))) throw Object.assign(new Error('no blobs directory'), { code: 'ENOENT' });
      bytes = await readNoFollow(file);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isCode(err, 'ENOENT')) {
        // Deleted behind our back: a later put of the same bytes must write the blob again.
        this.known.delete(file);
        throw new NotFoundError(`no artifact at ${uri}`);
      }
      if (isCode(err, 'ELOOP')) throw symlinkRefused(file, err);
      throw new StorageError(`could not read ${uri}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    if (sha256Hex(bytes) !== hash) {
      this.known.delete(path.join(this.typeDir(u.namespace, u.type), 'blobs', hash));
      throw new StorageError(`artifact ${uri} is corrupt: its bytes do not hash to ${hash}`);
    }
    return bytes;
  }

  private async readRegistry(namespace: string, type: string): Promise<RegistryLine[]> {
    const dir = this.typeDir(namespace, type);
    const file = path.join(dir, 'registry.jsonl');
    try {
      if (!(await this.checkedDir(dir, false))) return [];
      const text = (await readNoFollow(file)).toString('utf8');
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
      if (isCode(err, 'ENOENT')) return [];
      if (isCode(err, 'ELOOP')) throw symlinkRefused(file, err);
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

  async listNames(query: ListNamesQuery): Promise<string[]> {
    const q = checkListNamesQuery(query);
    // The registry is read whole anyway (the O(N) walk); the page is cut from it.
    return pageOfNames((await this.readRegistry(q.namespace, q.type)).map((l) => l.n), q);
  }

  async health(): Promise<ProviderHealth> {
    try {
      await mkdir(this.root, { recursive: true, mode: DIR_MODE });
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
