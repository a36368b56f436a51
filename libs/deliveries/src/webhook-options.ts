import { z } from 'zod';
import { NOTIFICATION_TYPES, ValueError, envSecret } from '@agora/core';

/** Largest body a webhook is sent: results and notifications are small; this bounds a runaway one. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Shortest signing secret accepted: an HMAC key a receiver can guess is no signature. */
const MIN_SECRET_LENGTH = 16;

/**
 * The Fetch standard's "bad port" list (https://fetch.spec.whatwg.org/#port-blocking), as
 * undici (Node's fetch) has it in lib/fetch/constants.js `badPorts`; Node does not export it.
 * fetch refuses to connect to these ports ("bad port"), so every delivery to one would fail.
 */
export const FETCH_BAD_PORTS: ReadonlySet<string> = new Set([
  '1', '7', '9', '11', '13', '15', '17', '19', '20', '21', '22', '23', '25', '37', '42', '43', '53', '69', '77', '79',
  '87', '95', '101', '102', '103', '104', '109', '110', '111', '113', '115', '117', '119', '123', '135', '137',
  '139', '143', '161', '179', '389', '427', '465', '512', '513', '514', '515', '526', '530', '531', '532',
  '540', '548', '554', '556', '563', '587', '601', '636', '989', '990', '993', '995', '1719', '1720', '1723',
  '2049', '3659', '4045', '4190', '5060', '5061', '6000', '6566', '6665', '6666', '6667', '6668', '6669', '6679',
  '6697', '10080',
]);

const baseShape = {
  /** Where deliveries are POSTed: an http(s) URL. Only its host is ever logged or recorded. */
  url: z
    .url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' })
    // fetch refuses such a URL, so every delivery would fail; and its error names the whole URL.
    // (zod runs this refinement after a failed url check too: a URL the parser refuses, such as a
    // port over 65535, is that check's problem, not a thrown "Invalid URL" here.)
    .refine((u) => {
      if (!URL.canParse(u)) return true;
      const parsed = new URL(u);
      return parsed.username === '' && parsed.password === '';
    }, 'url must not hold credentials (user:password@): a receiver checks the signature, or put a token in the path or query')
    // Accepted here, every delivery to such a port would fail with fetch's "bad port" and be dead-lettered.
    .superRefine((u, ctx) => {
      const parsed = URL.canParse(u) ? new URL(u) : undefined;
      if (parsed && /^https?:$/.test(parsed.protocol) && FETCH_BAD_PORTS.has(parsed.port)) {
        ctx.addIssue({ code: 'custom', message: `port ${parsed.port} is blocked by fetch (a "bad port" of the Fetch standard): every delivery would fail; use another port` });
      }
      // Port 0 parses, but nothing listens there: every connection is refused.
      if (parsed && /^https?:$/.test(parsed.protocol) && parsed.port === '0') ctx.addIssue({ code: 'custom', message: 'port 0 is no port a receiver listens on: every delivery would fail; give the receiver\'s port' });
    }),
  /** The HMAC-SHA256 key: a literal, or `env:NAME` read from this process's environment at start. Never logged. */
  secret: z.string().min(1, 'secret must not be empty'),
  /** Tries of one delivery before it is dead-lettered. @default 8 */
  attempts: z.number().int().min(1).max(25).default(8),
  /** The wait before the second try; doubled before each next one, with up to 20% jitter off. @default 1000 */
  backoffMs: z.number().int().nonnegative().max(3_600_000).default(1000),
  /** Time limit of one request (connect, send, answer). @default 10000 */
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
};

/** Options of the `webhook` result sink. */
export const webhookSinkOptionsSchema = z.strictObject(baseShape);

/** Options of the `webhook` notification provider: the sink's, plus the events it is sent. */
export const webhookNotificationOptionsSchema = z.strictObject({
  ...baseShape,
  /** The events sent. @default every type: run.succeeded, run.failed, run.cancelled, item.failed */
  events: z.array(z.enum(NOTIFICATION_TYPES)).min(1).default([...NOTIFICATION_TYPES]),
});

export type WebhookSinkOptions = z.infer<typeof webhookSinkOptionsSchema>;
export type WebhookNotificationOptions = z.infer<typeof webhookNotificationOptionsSchema>;

/** Parses provider options, naming each problem's path (never echoing a value: the secret is one). */
export function parseWebhookOptions<S extends z.ZodType>(schema: S, what: string, options: unknown): z.infer<S> {
  const r = schema.safeParse(options);
  if (!r.success) {
    throw new ValueError(`${what}: ${r.error.issues.map((i) => `options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

/**
 * The signing secret: a literal, or `env:NAME` from `env` (read once, when the provider is
 * built: a runner or scheduler without it fails at start, naming the variable, not at the first
 * delivery).
 */
export function resolveSecret(secret: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  let value = secret;
  if (secret.startsWith('env:')) {
    const name = secret.slice('env:'.length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ValueError(`${what}: options.secret: "env:${name}" is not an environment variable name`);
    const v = envSecret(name, env);
    if (v === undefined) throw new ValueError(`${what}: options.secret: environment variable ${name} (or ${name}_FILE) is not set`);
    // Set but empty: "not set" would send the operator looking for a variable that is there.
    if (v === '') throw new ValueError(`${what}: options.secret: ${env[`${name}_FILE`] ? `the file ${name}_FILE names (${env[`${name}_FILE`]})` : `environment variable ${name}`} is empty`);
    value = v;
  }
  if (value.length < MIN_SECRET_LENGTH) throw new ValueError(`${what}: options.secret: the secret must be ${MIN_SECRET_LENGTH} or more characters`);
  return value;
}
