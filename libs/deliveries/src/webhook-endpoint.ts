import { ProviderError, coerceError, type AgoraErrorOptions } from '@agora/core';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signatureHeader } from './signature.js';
import { MAX_BODY_BYTES } from './webhook-options.js';

/**
 * A try that failed. `retryable` is data (Temporal's habit): network errors, timeouts, 5xx and
 * 429 are worth another try; any other answer (4xx, a redirect) is not, and the delivery is
 * dead-lettered at once with its `status`. `host` is all of the URL it names.
 */
export class DeliveryError extends ProviderError {
  readonly host: string;
  readonly status?: number;
  constructor(host: string, message: string, options: AgoraErrorOptions & { status?: number } = {}) {
    super('webhook', message, options);
    this.host = host;
    if (options.status !== undefined) this.status = options.status;
  }
}

/**
 * Most bytes of an answer's body read. Reading a short answer to its end lets the connection be
 * used again; a longer one is dropped unread, so a receiver that answers with an endless body
 * cannot fill the runner's memory (fetch's arrayBuffer() would hold all of it until the timeout).
 */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Reads and drops the answer's body, at most `MAX_ANSWER_BYTES` of it: only its status counts. */
async function discardAnswer(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
      if (read > MAX_ANSWER_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // A body cut off or timed out: the status was already given.
  }
}

/** Whether an HTTP status is worth another try: 5xx (the receiver failed) and 429 (slow down). */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/**
 * One webhook URL and its signing secret: POSTs a JSON body, signed, once. Redirects are not
 * followed (a signed body goes only where it was configured to). The secret and the URL's path
 * and query (which may hold a token) never appear in an error: only the host does.
 */
export class WebhookEndpoint {
  readonly host: string;

  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly timeoutMs: number,
  ) {
    this.host = new URL(url).host;
  }

  /** `text` with the URL (as configured, and as parsed) replaced by its host. */
  private withoutUrl(text: string): string {
    let out = text;
    for (const form of new Set([this.url, new URL(this.url).href])) out = out.split(form).join(`<${this.host}>`);
    return out;
  }

  async post(body: string, deliveryId: string): Promise<void> {
    const bytes = Buffer.byteLength(body);
    if (bytes > MAX_BODY_BYTES) throw new DeliveryError(this.host, `webhook body of ${bytes} bytes is over the limit of ${MAX_BODY_BYTES}`, { retryable: false });
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'agora-webhook/1',
          [DELIVERY_HEADER]: deliveryId,
          // Signed per try: the timestamp is the time of this request, so a receiver's tolerance
          // window holds for a delivery retried hours later.
          [SIGNATURE_HEADER]: signatureHeader(this.secret, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const e = coerceError(err);
      // fetch's own messages may quote the URL, whose path or query can hold a token: only the host is said.
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : this.withoutUrl(`${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}`);
      throw new DeliveryError(this.host, `webhook to ${this.host} failed: ${why}`, { retryable: true });
    }
    await discardAnswer(res);
    if (res.status >= 200 && res.status < 300) return;
    throw new DeliveryError(this.host, `webhook to ${this.host} answered ${res.status}`, { retryable: retryableStatus(res.status), status: res.status });
  }
}
