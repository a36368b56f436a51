import { StorageError, ValueError, parseAgoraUri, sha256Hex, type StorageProvider } from '@agora/core';

/**
 * What a reader outside the fleet may download: items' results. Task definitions and other
 * stored types stay server-side (a task names images, commands and secret references).
 */
export const DOWNLOADABLE_ARTIFACT_TYPES: ReadonlySet<string> = new Set(['result']);

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
  if (!DOWNLOADABLE_ARTIFACT_TYPES.has(u.type)) throw new ValueError(`only result artifacts can be downloaded, not "${u.type}"`);
  if (u.contentHash === undefined) throw new ValueError(`artifact URI ${uri} names no content hash: pass a resultRef as agora status prints it (agora://<ns>/result/<name>/<sha256>)`);
  const bytes = await storage.get(uri);
  const sha256 = sha256Hex(bytes);
  if (sha256 !== u.contentHash) throw new StorageError(`artifact ${uri} is corrupt: its bytes hash to ${sha256}`);
  return { uri, name: u.name, bytes, sha256 };
}
