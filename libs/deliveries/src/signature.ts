import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every webhook delivery is signed in: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'X-Agora-Signature';
/** The delivery's id, the same on every try of one delivery: receivers drop repeats by it. */
export const DELIVERY_HEADER = 'X-Agora-Delivery';

/** The hex HMAC-SHA256 of `"<t>.<body>"` with `secret`: the `v1` of the signature header. */
export function signatureOf(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The signature header's value for `body` sent at `t` (unix seconds). */
export function signatureHeader(secret: string, body: string, t: number = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${signatureOf(secret, t, body)}`;
}

export type SignatureCheck = { readonly ok: true; readonly t: number } | { readonly ok: false; readonly reason: string };

/**
 * What a receiver does (the README shows the same in a few lines): parse `t` and every `v1` of
 * the header, refuse a `t` more than `toleranceS` from now (a replayed old delivery), and compare
 * the HMAC of `"<t>.<body>"` in constant time. `body` is the raw request body, as received.
 */
export function verifySignature(header: string | undefined, body: string, secret: string, opts: { toleranceS?: number; nowS?: number } = {}): SignatureCheck {
  if (header === undefined) return { ok: false, reason: 'no signature header' };
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed signature header' };
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceS ?? 300)) return { ok: false, reason: `timestamp ${t} is outside the tolerance` };
  const expected = Buffer.from(signatureOf(secret, t, body), 'hex');
  return v1.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected)) ? { ok: true, t } : { ok: false, reason: 'signature does not match' };
}
