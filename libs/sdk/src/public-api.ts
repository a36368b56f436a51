import { ValueError } from '@agora/core';
import { AgoraClient, type AgoraClientOptions } from './client.js';
import type { AgoraApi } from './agora-api.js';
import { AgoraHttpClient, type AgoraHttpClientOptions } from './http-client.js';

/**
 * What a service needs from one import of `@agora/sdk`: both transports, the errors they throw,
 * and the plan, event and status types. The SDK's own packages (`@agora/core`, `@agora/state`)
 * are its dependencies, not something a service should have to name.
 */
export type { AgoraApi } from './agora-api.js';
export { AgoraHttpClient, type AgoraHttpClientOptions } from './http-client.js';

export {
  AgoraError,
  IllegalStateError,
  NotFoundError,
  PlanValidationError,
  UnavailableError,
  ValueError,
  isRetryable,
  type ErrorCode,
} from '@agora/core';
export { agoraEventSchema, planSchema, validatePlan, isTerminalRunState, ITEM_STATES, RUN_STATES } from '@agora/core';
export type {
  AgoraEvent,
  AgoraEventType,
  HandedBackEvent,
  ItemEvent,
  ItemState,
  LockEvent,
  MessageEvent,
  Plan,
  PlanInput,
  PlanItem,
  RetryEvent,
  ReusedEvent,
  CachedEvent,
  RunEvent,
  RunState,
  ValidateOptions,
  ValidationResult,
} from '@agora/core';
export type { EndReason, ReplayLink, RunStatus, SentMessage, StoredDeadLetter } from '@agora/state';
export type { MemoEntry, RerunLink, Shortcut } from '@agora/state';

/** Either transport's options: `{ http: { url, apiKey } }` for the dashboard's HTTP API, else Redis. */
export type AgoraConnectOptions = AgoraClientOptions | { readonly http: AgoraHttpClientOptions };

/**
 * A client over the transport the options name: `{ http: { url, apiKey } }` reaches Agora
 * through the dashboard, anything else through Redis (`AgoraClient`). Code that takes an
 * `AgoraApi` runs over either.
 */
export function createAgoraClient(opts: AgoraConnectOptions = {}): AgoraApi {
  if (typeof opts !== 'object' || opts === null) throw new ValueError(`createAgoraClient: options are { http: { url, apiKey, … } } or { redisUrl, namespace, … }, got ${opts === null ? 'null' : typeof opts}`);
  if (!('http' in opts)) return new AgoraClient(opts);
  // One transport: Redis options beside `http` (or `http: undefined`) would be dropped without a word.
  const others = Object.keys(opts).filter((k) => k !== 'http');
  if (others.length > 0) throw new ValueError(`createAgoraClient: give either { http: { … } } or the Redis options, not both (also given: ${others.join(', ')})`);
  return new AgoraHttpClient(opts.http);
}
