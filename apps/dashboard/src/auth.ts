import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The key a request presents: `Authorization: Bearer <key>`, `X-Api-Key`, or basic-auth password (browsers). */
export function presentedKey(req: Request): string | undefined {
  const auth = req.get('authorization');
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  if (auth?.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 ? decoded.slice(i + 1) : undefined;
  }
  return req.get('x-api-key') ?? undefined;
}

/**
 * Requires the API key on every request it guards. Browsers get a basic-auth challenge (any user
 * name, the key as password) so Bull Board stays usable; API clients send a bearer token.
 */
export function requireApiKey(apiKey: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const key = presentedKey(req);
    if (key !== undefined && safeEqual(key, apiKey)) return next();
    res.set('WWW-Authenticate', 'Basic realm="agora", charset="UTF-8"');
    res.status(401).json({ error: 'unauthorized', message: 'send the API key as "Authorization: Bearer <key>" or X-Api-Key' });
  };
}
