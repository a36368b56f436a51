import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST the receiver got, with what its own check of the signature found. */
export interface ReceivedDelivery {
  readonly path: string;
  readonly deliveryId: string;
  readonly contentType: string;
  readonly body: Record<string, unknown>;
  /** The signature verified with the receiver's secret and its timestamp within the tolerance. */
  readonly signed: boolean;
  /** When it arrived (ms), for back-off gaps. */
  readonly at: number;
  /** What the receiver answered. */
  readonly status: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>`; append a path per target. */
  readonly url: string;
  received(): ReceivedDelivery[];
  close(): Promise<void>;
}

/**
 * A webhook receiver for tests, written as a receiver would be (the README's snippet, with
 * node:crypto only, not the library's own verifier): it checks `X-Agora-Signature`
 * (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`) with `secret` and a timestamp
 * tolerance of 300 s, and answers what `answer` says for each request (by path and how many
 * requests that path has had before). Every request is kept, signed or not.
 */
export async function startWebhookReceiver(secret: string, answer: (path: string, seen: number) => number = () => 200): Promise<WebhookReceiver> {
  const got: ReceivedDelivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0]!;
      const status = answer(path, got.filter((g) => g.path === path).length);
      got.push({
        path,
        deliveryId: String(req.headers['x-agora-delivery'] ?? ''),
        contentType: String(req.headers['content-type'] ?? ''),
        body: JSON.parse(raw) as Record<string, unknown>,
        signed: verify(String(req.headers['x-agora-signature'] ?? ''), raw, secret),
        at: Date.now(),
        status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => [...got],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function verify(header: string, body: string, secret: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const t = Number(parts['t']);
  const v1 = parts['v1'] ?? '';
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300 || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(Buffer.from(v1, 'hex'), expected);
}
