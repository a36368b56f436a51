import { StorageError, ValueError, parseAgoraUri, sha256Hex, type StorageProvider } from '@agora/core';

/**
 * What a reader outside the fleet may download: items' results and their output logs (stored
 * scrubbed). Task definitions and other
 * stored types stay server-side (a task names images, commands and secret references).
 */
export const DOWNLOADABLE_ARTIFACT_TYPES: ReadonlySet<string> = new Set(['result', 'stdout', 'stderr']);

export interface Artifact {
  readonly uri: string;
  /** The artifact's name segment (`<runId>.<itemId>` for a result): a download's file name. */
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Lowercase hex sha256 of `bytes`, checked equal to the URI's hash. */
  readonly sha256: string;
}

/**
 * Reads a result by its pinned URI (a `resultRef`: `agora://<ns>/result/<name>/<sha256>`) for
 * `GET /api/artifacts` and `agora get`. The URI is input from outside: it must parse, name this
 * deployment's namespace and a downloadable type, and carry its hash; the bytes are hashed again
 * here, whatever the storage provider did, so a download is what the record names or nothing.
 */
export async function readArtifact(storage: StorageProvider, uri: string, namespace: string): Promise<Artifact> {
  if (uri.length > 1024) throw new ValueError('artifact URI longer than 1024 characters');
  const u = parseAgoraUri(uri);
  if (u.namespace !== namespace) throw new ValueError(`artifact ${uri} is not in this deployment's namespace "${namespace}"`);
  if (!DOWNLOADABLE_ARTIFACT_TYPES.has(u.type)) throw new ValueError(`only result, stdout and stderr artifacts can be downloaded, not "${u.type}"`);
  if (u.contentHash === undefined) throw new ValueError(`artifact URI ${uri} names no content hash: pass a resultRef as agora status prints it (agora://<ns>/result/<name>/<sha256>)`);
  const bytes = await storage.get(uri);
  const sha256 = sha256Hex(bytes);
  if (sha256 !== u.contentHash) throw new StorageError(`artifact ${uri} is corrupt: its bytes hash to ${sha256}`);
  return { uri, name: u.name, bytes, sha256 };
}

/** Most bytes of each stream `readItemLogs` returns: the last ones. */
export const ITEM_LOG_RESPONSE_MAX_BYTES = 256 * 1024;

/** One output stream of an item, as stored. */
export interface ItemLogStream {
  /** The artifact it was read from (a `stdout`/`stderr` log, or a dispatch item's result). */
  readonly ref: string;
  /** UTF-8 text of its last bytes (at most ITEM_LOG_RESPONSE_MAX_BYTES). */
  readonly text: string;
  readonly bytes: number;
  readonly truncated: boolean;
}

export interface ItemLogs {
  readonly stdout?: ItemLogStream;
  readonly stderr?: ItemLogStream;
}

/**
 * An item's output streams as the runner stored them (`logRefs` of its end event), hash checked.
 * A `dispatch` item that ended `done` stored no stdout log: its stdout is its result, read from its
 * resultRef. Items of other executors (noop) have no streams.
 */
export async function readItemLogs(
  storage: StorageProvider,
  namespace: string,
  item: { readonly state: string; readonly executor?: string | undefined; readonly resultRef?: string | undefined; readonly logRefs?: { stdout?: string | undefined; stderr?: string | undefined } | undefined },
): Promise<ItemLogs> {
  const refs = { ...item.logRefs };
  if (refs.stdout === undefined && item.state === 'done' && item.executor === 'dispatch' && item.resultRef !== undefined) refs.stdout = item.resultRef;
  const out: { stdout?: ItemLogStream; stderr?: ItemLogStream } = {};
  for (const stream of ['stdout', 'stderr'] as const) {
    const ref = refs[stream];
    if (ref === undefined) continue;
    const a = await readArtifact(storage, ref, namespace);
    const b = Buffer.from(a.bytes);
    const kept = b.length > ITEM_LOG_RESPONSE_MAX_BYTES ? b.subarray(b.length - ITEM_LOG_RESPONSE_MAX_BYTES) : b;
    out[stream] = { ref, text: kept.toString('utf8'), bytes: b.length, truncated: kept.length < b.length };
  }
  return out;
}
