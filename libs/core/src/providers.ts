/**
 * Provider seams (seed 000). Glossary of the words used across the code:
 *
 * - plan: a DAG of items submitted as one unit; becomes a run.
 * - run: one execution of a plan, identified by a run id.
 * - item: one node of a plan: an executor, its inputs, `depends_on`, `resourceLocks`.
 * - attempt: one try at running an item (infra failures are retried).
 * - lock: a named resource an item holds exclusively while it runs.
 * - fencing token: a number, strictly increasing per lock, given to each acquisition.
 * - provider: a pluggable backend (compute, storage, credentials, sink, notification, channel).
 * - target: a named route `{ compute, credentials }` that dispatch sends a task to.
 * - task: a definition of what a worker runs (command or image, env, resources).
 * - artifact: content-addressed bytes in storage, named by an `agora://` URI.
 * - anchor: where a sealed audit root is kept (local Redis, S3 Object Lock).
 *
 * Provider packages depend on this package only.
 */

/** What a compute provider is asked to run. */
export interface TaskSpec {
  /** Container image; digest-pinned (`@sha256:`) unless the provider allows unpinned images. */
  readonly image?: string;
  /** argv of the worker; for the process provider, `command[0]` is the executable. */
  readonly command?: readonly string[];
  /** Plain (non-secret) environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Secret references by env var name (e.g. `{ API_KEY: "arn:aws:secretsmanager:..." }`).
   * Resolved by the provider through `ctx.credentials`; values are never logged.
   */
  readonly secretRefs?: Readonly<Record<string, string>>;
  readonly resources?: { readonly cpu?: number | undefined; readonly memoryMb?: number | undefined };
  /** Wall-clock limit; the provider cancels the worker when it is exceeded. */
  readonly timeoutMs?: number;
  /** Working directory (process provider). */
  readonly cwd?: string;
  /** Bytes written to the worker's stdin, if any. */
  readonly stdin?: string;
  /** Labels for the backend (container labels, ECS tags): run id, item id. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * The item's channel: a file on the runner's host to which the runner appends each message
   * sent to the item, one JSON line each (`agora send`). A provider that can show it to the
   * worker names it in `AGORA_CHANNEL` (the process provider: this path; the Docker provider: a
   * read-only bind of its folder); one that cannot (Fargate) leaves `AGORA_CHANNEL` unset.
   */
  readonly channel?: { readonly hostPath: string };
}

/** The worker's environment variable naming its channel file (see `TaskSpec.channel`). */
export const CHANNEL_ENV = 'AGORA_CHANNEL';

/** Opaque handle returned by `run`. */
export interface TaskHandle {
  readonly providerTaskId: string;
  readonly [extra: string]: unknown;
}

export interface TaskExit {
  /** Application exit (0 = success); null when the worker never ran or was killed by a signal. */
  readonly exitCode: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The worker's stdout bytes exactly (scrubbed of secret values); stored as the artifact as-is. */
  readonly stdout: Uint8Array;
  /** Text for messages (decoded as UTF-8, scrubbed of secret values). */
  readonly stderr: string;
  /** Set ONLY for infrastructure failures (image pull, quota, scheduling), never for exit != 0. */
  readonly providerFailureReason?: string;
  /** True when the worker was stopped by `cancel` or by the timeout. */
  readonly cancelled?: boolean;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ProviderContext {
  readonly credentials?: ResolvedCredentials;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export interface ComputeProvider {
  readonly name: string;
  /** Non-blocking: submits the worker and returns a handle. */
  run(spec: TaskSpec, ctx: ProviderContext): Promise<TaskHandle>;
  /** Blocks until the worker terminates. */
  awaitExit(handle: TaskHandle, ctx: ProviderContext): Promise<TaskExit>;
  /** Best-effort cancel; providers that cannot abort omit it. */
  cancel?(handle: TaskHandle, ctx: ProviderContext): Promise<void>;
  health?(): Promise<ProviderHealth>;
}

export interface StorageEntry {
  readonly uri: string;
  readonly contentHash: string;
  readonly registeredAt: string;
}

/** What `StorageProvider.listNames` is asked (checked by `checkListNamesQuery`). */
export interface ListNamesQuery {
  readonly namespace: string;
  readonly type: string;
  /** Only names starting with this ([A-Za-z0-9._-]*). @default "" (every name) */
  readonly prefix?: string;
  /** Only names sorting after this one: the last name of the previous page. */
  readonly startAfter?: string;
  /** @default 1000 (LIST_NAMES_DEFAULT_LIMIT), at most 10 000 (LIST_NAMES_MAX_LIMIT) */
  readonly limit?: number;
}

export interface StorageProvider {
  readonly name: string;
  /**
   * Stores bytes at `agora://<ns>/<type>/<name>` (the hash segment is computed). Resolves once
   * the bytes are durable. With `deferIndex`, the name index (`resolveLatest`/`list`) may be
   * updated after it resolves: for results, whose pinned URI the run state already records.
   */
  put(uri: string, contents: Uint8Array, opts?: { deferIndex?: boolean }): Promise<{ contentHash: string; uri: string }>;
  get(uri: string): Promise<Uint8Array>;
  resolveLatest(uri: string): Promise<StorageEntry | null>;
  list(uri: string): Promise<StorageEntry[]>;
  resolveByHash(query: {
    namespace: string;
    type: string;
    contentHash: string;
  }): Promise<(StorageEntry & { name: string }) | null>;
  /**
   * Names of one type whose name starts with `prefix`: each once, sorted by code unit, those after
   * `startAfter` only, at most `limit` (default 1000, at most 10 000; `allNames` pages through
   * them all). A bad query (a prefix with '/' or '..', a limit out of range) is a `ValueError`.
   */
  listNames(query: ListNamesQuery): Promise<string[]>;
  health?(): Promise<ProviderHealth>;
  /** Writes anything held back (deferred index entries); called before the process exits. */
  flush?(): Promise<void>;
}

export interface ResolvedCredentials {
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** What a caller needs resolved: the secret references of the task about to run. */
export interface CredentialRequest {
  /**
   * The refs the task names (`secretRefs` values). A provider refuses refs it may not hand out
   * (`ValueError` naming what it allows) and may resolve only these.
   */
  readonly refs?: readonly string[];
}

export interface CredentialProvider {
  readonly name: string;
  resolve(request?: CredentialRequest): Promise<ResolvedCredentials>;
  health?(): Promise<ProviderHealth>;
}

export interface DispatchResult {
  readonly runId: string;
  readonly itemId: string;
  readonly state: 'done' | 'failed' | 'cancelled' | 'skipped';
  readonly resultRef?: string;
  readonly error?: string;
  /** The worker's exit code, when it ran and exited. */
  readonly exitCode?: number;
  /** How many times the item started (its last start), when it ran. */
  readonly attempt?: number;
  /** When the end was written (ISO 8601). */
  readonly finishedAt?: string;
}

/**
 * One delivery of a result or notification: `id` is stable across the tries of one delivery (and
 * across a repeat of it), so a receiver can drop duplicates; `attempt` counts tries from 1.
 */
export interface DeliveryContext {
  readonly id: string;
  readonly attempt: number;
}

export interface ResultSink {
  /**
   * `queued`: `collect` is one network try that may fail; the runner enqueues the result in the
   * durable delivery queue, whose worker calls `collect` with retries and dead-letters it after the
   * last try (throw an error with `retryable: false` to dead-letter at once). `inline` (the
   * default): called in the runner's process at the item's end; it must be cheap and not throw.
   */
  readonly delivery?: 'inline' | 'queued';
  collect(result: DispatchResult, delivery?: DeliveryContext): Promise<void>;
  /** What `agora doctor` prints for it (without sending anything). */
  health?(): Promise<ProviderHealth>;
}

/** The events a notification provider may be sent. */
export const NOTIFICATION_TYPES = ['run.succeeded', 'run.failed', 'run.cancelled', 'item.failed'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** What a run or item event notifies: `itemId` only for item events. */
export interface AgoraNotification {
  readonly type: NotificationType;
  readonly runId: string;
  /** The run's state (run events) or the item's (item events). */
  readonly state: string;
  readonly at: string;
  /** The run's items by state when it was sent, and their total. */
  readonly counts?: Readonly<Record<string, number>>;
  readonly itemId?: string;
  readonly errorCode?: string;
}

export interface NotificationProvider {
  readonly name: string;
  /** Whether this provider wants events of `type` (its options' event filter). @default every type */
  accepts?(type: NotificationType): boolean;
  /** One try, as `ResultSink.collect` with `delivery: 'queued'`: notifications always go through the delivery queue. */
  notify(event: AgoraNotification, delivery?: DeliveryContext): Promise<void>;
  /** What `agora doctor` prints for it (without sending anything). */
  health?(): Promise<ProviderHealth>;
}

export interface ChannelProvider {
  readonly name: string;
  subscribe(runId: string, itemId: string, onMessage: (msg: Uint8Array) => void): Promise<() => Promise<void>>;
}

export interface ProviderHealth {
  readonly ok: boolean;
  /** What was checked, and on failure what is missing ("AWS_REGION is not set"). */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * One runner replica of a fleet: a process, a container, an ECS task. Fleet words: a **fleet** is
 * the runners one fleet provider keeps (config `fleet.<name>`); a **replica** is one of them;
 * **desired** is how many the fleet is asked to keep.
 */
export interface FleetReplica {
  /** The backend's id: a pid, a container id, an ECS task ARN. */
  readonly id: string;
  /** `running`: up (not necessarily registered yet); `starting`/`stopping`: in between; `exited`: gone. */
  readonly state: 'starting' | 'running' | 'stopping' | 'exited';
  /**
   * The host name its runner registers with (`AGORA_HOST`), and its pid when the backend knows it:
   * how a replica is matched to its registration in Redis (`<ns>:runners`).
   */
  readonly host?: string;
  readonly pid?: number;
  readonly startedAt?: string;
}

export interface FleetStatus {
  /** The config key (`fleet.<name>`). */
  readonly name: string;
  /** The provider alias (`local`, `docker`, `ecs`). */
  readonly provider: string;
  readonly desired: number;
  readonly running: number;
  /**
   * Replicas the backend itself counts as healthy, when it can tell (ECS: the service's running
   * tasks); unset when health is judged by the runners' registrations (local, docker).
   */
  readonly healthy?: number;
  readonly replicas: readonly FleetReplica[];
}

/**
 * Runner replicas on a backend (local processes, Docker containers, an ECS service). Every method
 * acts on this fleet's replicas only (found by labels or records the provider keeps durably, so a
 * later process sees what an earlier one started). Stopping a replica is SIGTERM first: its
 * runner hands unfinished items back to the queue.
 */
export interface FleetProvider {
  readonly name: string;
  /** Reachable, and everything the backend needs is there; on failure names what is missing. */
  health(): Promise<ProviderHealth>;
  /** Brings the fleet to its configured replica count (`options.replicas`, through the count rule). */
  start(): Promise<FleetStatus>;
  /** Stops every replica and waits for them to exit. */
  stop(): Promise<FleetStatus>;
  /**
   * Sets the replica count; `replicas` is capped by the per-host count rule where the provider
   * places runners on one host. 0 stops every replica.
   */
  scale(replicas: number): Promise<FleetStatus>;
  status(): Promise<FleetStatus>;
  list(): Promise<FleetReplica[]>;
}
