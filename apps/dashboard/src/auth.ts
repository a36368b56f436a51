import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ConfigError, dashboardKeySchema, type DashboardScope } from '@agora/core';

/** A configured key: only its sha256 is kept in memory, never the key itself. */
export interface DashboardKey {
  readonly name: string;
  readonly sha256: Buffer;
  readonly scopes: ReadonlySet<DashboardScope>;
}

/** Who a request is, once its key (if any) has been checked. */
export interface Principal {
  /** The matching key's name; undefined for the anonymous user of an unkeyed loopback dashboard. */
  readonly keyName: string | undefined;
  readonly scopes: ReadonlySet<DashboardScope>;
}

/** What the anonymous user may do when no key is configured at all (loopback only): as before, read and submit. */
const ANONYMOUS_SCOPES: ReadonlySet<DashboardScope> = new Set(['read', 'submit']);

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A key given in clear, with where it came from (for the error message, which never repeats the key). */
export interface ClearKey {
  readonly source: string;
  readonly key: string;
}

/**
 * The keys a dashboard accepts: `apiKey` (read + submit), `adminKey` (read + submit + admin) and
 * every hashed `apiKeys` entry. Clear keys must be 16+ characters with no whitespace.
 */
export function buildKeyRing(input: {
  readonly apiKey?: ClearKey | undefined;
  readonly adminKey?: ClearKey | undefined;
  readonly apiKeys: ReadonlyArray<{ readonly name: string; readonly sha256: string; readonly scopes: readonly DashboardScope[] }>;
}): DashboardKey[] {
  const clear = (k: ClearKey, name: string, scopes: DashboardScope[]): DashboardKey => {
    const parsed = dashboardKeySchema.safeParse(k.key);
    if (!parsed.success) throw new ConfigError(k.source, parsed.error.issues.map((i) => i.message));
    return { name, sha256: sha256(parsed.data), scopes: new Set(scopes) };
  };
  const ring: DashboardKey[] = [];
  if (input.apiKey) ring.push(clear(input.apiKey, 'apiKey', ['read', 'submit']));
  if (input.adminKey) ring.push(clear(input.adminKey, 'adminKey', ['read', 'submit', 'admin']));
  for (const k of input.apiKeys) ring.push({ name: k.name, sha256: Buffer.from(k.sha256, 'hex'), scopes: new Set(k.scopes) });
  return ring;
}

/**
 * The configured key whose sha256 equals the presented key's. Hashing first makes every
 * comparison one of two 32-byte digests, and every configured key is compared (no early exit),
 * so the time taken says nothing about a key's length, its prefix, or which entry matched.
 */
export function matchKey(ring: readonly DashboardKey[], presented: string): DashboardKey | undefined {
  const digest = sha256(presented);
  let found: DashboardKey | undefined;
  for (const k of ring) {
    if (timingSafeEqual(digest, k.sha256) && found === undefined) found = k;
  }
  return found;
}

/** The key a request presents: `Authorization: Bearer <key>`, `X-Api-Key`, or basic-auth password (browsers). */
export function presentedKey(req: Request): string | undefined {
  const auth = req.get('authorization');
  // The scheme is case-insensitive (RFC 9110 11.1): "bearer <key>" was refused with 401.
  const scheme = /^(bearer|basic)\s+/i.exec(auth ?? '');
  const rest = scheme ? auth!.slice(scheme[0].length) : '';
  if (scheme?.[1]!.toLowerCase() === 'bearer') return rest.trim();
  if (scheme) {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return req.get('x-api-key') ?? undefined;
}

export function principalOf(res: Response): Principal {
  const p = res.locals['principal'] as Principal | undefined;
  // authenticate() runs before every route that asks; a missing principal is a wiring bug.
  if (!p) throw new Error('no principal on the request: authenticate() must run first');
  return p;
}

/**
 * Sets the request's principal. With no key configured, everyone is the anonymous user (read +
 * submit; the dashboard only agrees to this on loopback). With keys, a request without a matching
 * key gets 401 and a basic-auth challenge (any user name, the key as password) so browsers can
 * use Bull Board; API clients send a bearer token.
 */
export function authenticate(ring: readonly DashboardKey[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (ring.length === 0) {
      res.locals['principal'] = { keyName: undefined, scopes: ANONYMOUS_SCOPES } satisfies Principal;
      return next();
    }
    const key = presentedKey(req);
    const match = key === undefined ? undefined : matchKey(ring, key);
    if (match) {
      res.locals['principal'] = { keyName: match.name, scopes: match.scopes } satisfies Principal;
      return next();
    }
    res.set('WWW-Authenticate', 'Basic realm="agora", charset="UTF-8"');
    res.status(401).json({ error: 'unauthorized', message: 'send the API key as "Authorization: Bearer <key>" or X-Api-Key' });
  };
}

/** 403 unless the request's principal has `scope`. */
export function requireScope(scope: DashboardScope): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const p = principalOf(res);
    if (p.scopes.has(scope)) return next();
    const message =
      p.keyName === undefined
        ? scope === 'admin'
          ? `${req.originalUrl.startsWith('/api/') ? 'this route' : 'Bull Board is read-only: writing to it'} needs a key with the "admin" scope (dashboard.adminKey or AGORA_ADMIN_KEY)`
          : `this dashboard has no key with the "${scope}" scope for anonymous users`
        : `this key lacks the "${scope}" scope`;
    res.status(403).json({ error: 'forbidden', message });
  };
}
