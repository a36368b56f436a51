import { createHash } from 'node:crypto';
import { NotFoundError, ValueError } from './errors.js';
import { URI_SEGMENT_MAX, isSafeName } from './ids.js';
import type { StorageProvider } from './providers.js';

/** A parsed `agora://<namespace>/<type>/<name>[/<hash>]` URI. */
export interface AgoraUri {
  readonly namespace: string;
  readonly type: string;
  readonly name: string;
  readonly contentHash?: string;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/**
 * Parses and validates a storage URI. Every segment is a plain name: no '/', no '..', no
 * leading dot, so a URI can be mapped onto a filesystem path or object key without traversal.
 */
export function parseAgoraUri(uri: string): AgoraUri {
  if (typeof uri !== 'string' || !uri.startsWith('agora://')) {
    throw new ValueError(`invalid storage URI "${String(uri)}": must start with agora://`);
  }
  const parts = uri.slice('agora://'.length).split('/');
  if (parts.length !== 3 && parts.length !== 4) {
    throw new ValueError(`invalid storage URI "${uri}": expected agora://<namespace>/<type>/<name>[/<sha256>]`);
  }
  const [namespace, type, name, contentHash] = parts as [string, string, string, string | undefined];
  for (const [label, seg] of [['namespace', namespace], ['type', type], ['name', name]] as const) {
    if (!isSafeName(seg, URI_SEGMENT_MAX)) {
      throw new ValueError(`invalid storage URI "${uri}": bad ${label} segment "${seg}"`);
    }
  }
  if (contentHash !== undefined && !HASH_RE.test(contentHash)) {
    throw new ValueError(`invalid storage URI "${uri}": hash must be 64 lowercase hex chars (sha256)`);
  }
  return contentHash === undefined ? { namespace, type, name } : { namespace, type, name, contentHash };
}

export function formatAgoraUri(u: AgoraUri): string {
  const base = `agora://${u.namespace}/${u.type}/${u.name}`;
  return u.contentHash === undefined ? base : `${base}/${u.contentHash}`;
}

/** The sha256 of bytes, lowercase hex: the content address every storage provider uses. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Parses the target of a `put` and computes the content hash; throws a `ValueError` when the URI
 * pins a hash the bytes do not have.
 */
export function contentAddress(uri: string, contents: Uint8Array): { readonly target: AgoraUri; readonly contentHash: string } {
  const target = parseAgoraUri(uri);
  const contentHash = sha256Hex(contents);
  if (target.contentHash !== undefined && target.contentHash !== contentHash) {
    throw new ValueError(`content hash mismatch for ${uri}: bytes hash to ${contentHash}`);
  }
  return { target, contentHash };
}

/**
 * The hash a URI stands for: the one it pins, else the latest registration of its name
 * (`NotFoundError` when there is none).
 */
export async function resolveContentHash(store: Pick<StorageProvider, 'resolveLatest'>, uri: string): Promise<{ readonly target: AgoraUri; readonly contentHash: string }> {
  const target = parseAgoraUri(uri);
  if (target.contentHash !== undefined) return { target, contentHash: target.contentHash };
  const latest = await store.resolveLatest(uri);
  if (!latest) throw new NotFoundError(`no artifact at ${uri}`);
  return { target, contentHash: latest.contentHash };
}
