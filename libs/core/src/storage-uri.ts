import { ValueError } from './errors.js';

/** A parsed `agora://<namespace>/<type>/<name>[/<hash>]` URI. */
export interface AgoraUri {
  readonly namespace: string;
  readonly type: string;
  readonly name: string;
  readonly contentHash?: string;
}

const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
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
    if (!SEGMENT_RE.test(seg) || seg.includes('..')) {
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
