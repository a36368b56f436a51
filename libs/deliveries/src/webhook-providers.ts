import type { AgoraNotification, DeliveryContext, DispatchResult, NotificationProvider, NotificationType, ProviderHealth, ResultSink } from '@agora/core';
import { WebhookEndpoint } from './webhook-endpoint.js';
import { parseWebhookOptions, resolveSecret, webhookNotificationOptionsSchema, webhookSinkOptionsSchema } from './webhook-options.js';

/** How the delivery queue retries one target: tries and the first back-off (doubled each time). */
export interface DeliveryPolicy {
  readonly attempts: number;
  readonly backoffMs: number;
}

/** A provider the delivery queue can retry with its own policy (the webhook ones). */
export interface WithDeliveryPolicy {
  readonly policy: DeliveryPolicy;
}

/** The policy of a provider that declares none. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = { attempts: 8, backoffMs: 1000 };

export function deliveryPolicyOf(provider: object): DeliveryPolicy {
  const p = (provider as Partial<WithDeliveryPolicy>).policy;
  return p ?? DEFAULT_DELIVERY_POLICY;
}

/** What `agora doctor` says of a webhook: its host only (the path or query may hold a token), never the secret. */
function webhookHealth(endpoint: WebhookEndpoint, policy: DeliveryPolicy, extra = ''): ProviderHealth {
  return { ok: true, message: `signed webhook to ${endpoint.host}, ${policy.attempts} tries per delivery${extra} (not contacted)` };
}

/** The JSON a result sink's webhook receives for one item's terminal result. */
export function resultBody(r: DispatchResult): string {
  return JSON.stringify({
    type: 'item.result',
    runId: r.runId,
    itemId: r.itemId,
    state: r.state,
    resultRef: r.resultRef ?? null,
    exitCode: r.exitCode ?? null,
    ...(r.attempt !== undefined ? { attempt: r.attempt } : {}),
    ...(r.finishedAt !== undefined ? { finishedAt: r.finishedAt } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
  });
}

/** The JSON a notification webhook receives. */
export function notificationBody(n: AgoraNotification): string {
  return JSON.stringify({
    type: n.type,
    runId: n.runId,
    state: n.state,
    at: n.at,
    counts: n.counts ?? {},
    ...(n.itemId !== undefined ? { itemId: n.itemId } : {}),
    ...(n.errorCode !== undefined ? { errorCode: n.errorCode } : {}),
  });
}

/**
 * The `webhook` result sink: POSTs each item's terminal result, signed (README "Result sinks and
 * notifications"). `collect` is one try; the runner enqueues results in the delivery queue,
 * whose worker retries and dead-letters them.
 */
export class WebhookResultSink implements ResultSink, WithDeliveryPolicy {
  readonly name = 'webhook';
  readonly delivery = 'queued';
  readonly policy: DeliveryPolicy;
  readonly endpoint: WebhookEndpoint;

  /** `options` is the config's `resultSinks.<name>.options`, parsed here; an `env:` secret is read now. */
  constructor(options: unknown, env: NodeJS.ProcessEnv = process.env) {
    const o = parseWebhookOptions(webhookSinkOptionsSchema, 'webhook result sink', options);
    this.endpoint = new WebhookEndpoint(o.url, resolveSecret(o.secret, 'webhook result sink', env), o.timeoutMs);
    this.policy = { attempts: o.attempts, backoffMs: o.backoffMs };
  }

  async health(): Promise<ProviderHealth> {
    return webhookHealth(this.endpoint, this.policy);
  }

  async collect(result: DispatchResult, delivery?: DeliveryContext): Promise<void> {
    await this.endpoint.post(resultBody(result), delivery?.id ?? `${result.runId}.${result.itemId}`);
  }
}

/** The `webhook` notification provider: POSTs the run and item events its `events` option names, signed. */
export class WebhookNotificationProvider implements NotificationProvider, WithDeliveryPolicy {
  readonly name = 'webhook';
  readonly policy: DeliveryPolicy;
  readonly endpoint: WebhookEndpoint;
  private readonly events: ReadonlySet<NotificationType>;

  constructor(options: unknown, env: NodeJS.ProcessEnv = process.env) {
    const o = parseWebhookOptions(webhookNotificationOptionsSchema, 'webhook notifications', options);
    this.endpoint = new WebhookEndpoint(o.url, resolveSecret(o.secret, 'webhook notifications', env), o.timeoutMs);
    this.policy = { attempts: o.attempts, backoffMs: o.backoffMs };
    this.events = new Set(o.events);
  }

  async health(): Promise<ProviderHealth> {
    return webhookHealth(this.endpoint, this.policy, `; events ${[...this.events].join(', ')}`);
  }

  accepts(type: NotificationType): boolean {
    return this.events.has(type);
  }

  async notify(event: AgoraNotification, delivery?: DeliveryContext): Promise<void> {
    await this.endpoint.post(notificationBody(event), delivery?.id ?? `${event.type}.${event.runId}`);
  }
}
