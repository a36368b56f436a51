import { z } from 'zod';
import { ERROR_CODES, ValueError } from './errors.js';
import { RETRY_REASONS } from './retry-policy.js';

/** Item states, in lifecycle order. Terminal: done, failed, skipped, cancelled. */
export const ITEM_STATES = ['waiting', 'queued', 'running', 'done', 'failed', 'skipped', 'cancelled'] as const;
export type ItemState = (typeof ITEM_STATES)[number];

export const TERMINAL_ITEM_STATES: ReadonlySet<string> = new Set(['done', 'failed', 'skipped', 'cancelled']);

export const RUN_STATES = ['submitted', 'accepted', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'rejected'] as const;
export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_RUN_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

export function isTerminalItemState(s: string | null | undefined): boolean {
  return s != null && TERMINAL_ITEM_STATES.has(s);
}

export function isTerminalRunState(s: string | null | undefined): boolean {
  return s != null && TERMINAL_RUN_STATES.has(s);
}

/*
 * The event vocabulary: every event a run's stream holds, one zod schema per variant, joined in
 * one discriminated union on `type` (and, inside a type, on `state`, `action` or `errorCode`).
 * Every object is strict: a field nobody declared here is refused, so a producer (a Lua script,
 * the runner, the scheduler, the SDK) cannot drift from the contract the README documents and
 * the audit seals. The one open object is an item's `done` event, which carries the executor's
 * own fields (executors are plug-ins: see ExecutorResult.fields), held to JSON values.
 *
 * Built twice from one definition: the body a producer hands to the state library (no `seq`,
 * `runId`, `at`: the Lua `emit` puts them in front; and a running item's `attempt` and
 * `lockTokens`, which the start script adds), and the event as stored and read.
 */

const nonEmpty = z.string().min(1);
const count = z.number().int().nonnegative();
/** How many times the item has started, this start included (counted by the start script). */
const attempt = z.number().int().positive();
/** A fencing token (INCR of the lock's counter: from 1). */
const token = z.number().int().positive();
/** Times we write are `Date#toISOString()`; providers' own may carry an offset. */
const isoTime = z.iso.datetime({ offset: true });
const names = z.array(nonEmpty).min(1);
/**
 * Where a worker's output streams were stored (artifacts of type `stdout` / `stderr`, scrubbed,
 * capped): on an item's `done` event (stderr; its stdout is the result) and on its `failed` one.
 */
const logRefs = z.strictObject({ stdout: nonEmpty.optional(), stderr: nonEmpty.optional() });
/** The run's OpenTelemetry trace id (32 hex digits): the same on its accepted event and every running event. */
const traceId = z.string().regex(/^[0-9a-f]{32}$/);

/** The fields the stream assigns every event (Lua `emit`). */
const HEAD = { seq: z.number().int().nonnegative(), runId: nonEmpty, at: isoTime };
/** The fields the start script adds to an item's `running` event. */
const STARTED = {
  attempt,
  /** Only for an item with resource locks: the fencing token of each lock it holds. */
  lockTokens: z.record(nonEmpty, token).optional(),
};

/** Failure codes of items that ended `failed`. The runner's are its errors' codes (see errors.ts). */
export const ITEM_ERROR_CODES = [...ERROR_CODES, 'INTERNAL', 'INTEGRITY', 'STALLED', 'JOB_LOST', 'QUEUE'] as const;
const RUNNER_ERROR_CODES = [...ERROR_CODES, 'INTERNAL'] as const;

/** The registration fields of an item's first event (scheduler, registerItems). */
const REGISTERED = {
  executor: nonEmpty,
  /** `itemDefinitionHash` of the item's job data: what the start script checks the job against. */
  definitionHash: nonEmpty,
  /** RFC 8785 sha256 of the inputs (the inputs themselves never enter the stream). */
  inputsHash: nonEmpty,
  /** Only when the item names resource locks. */
  resourceLocks: names.optional(),
  /** Only for a dispatch item: the task definition pinned at acceptance. */
  taskRef: nonEmpty.optional(),
  /** Only for an item whose result goes to a result sink other than the default `stdout`: its name. */
  resultSink: nonEmpty.optional(),
};

const REGISTERED_OPTIONAL = {
  executor: REGISTERED.executor.optional(),
  definitionHash: REGISTERED.definitionHash.optional(),
  inputsHash: REGISTERED.inputsHash.optional(),
  resourceLocks: REGISTERED.resourceLocks,
  taskRef: REGISTERED.taskRef,
  resultSink: REGISTERED.resultSink,
};

function vocabulary<H extends z.core.$ZodShape, S extends z.core.$ZodShape>(head: H, started: S) {
  const runBase = { ...head, type: z.literal('run') };
  const runCounts = { done: count, failed: count, skipped: count, cancelled: count };
  const run = z.discriminatedUnion('state', [
    z.strictObject({
      ...runBase,
      state: z.literal('accepted'),
      planId: nonEmpty,
      queue: nonEmpty,
      items: count,
      submittedAt: isoTime,
      /** Only for a replay of dead letters: the run and the items it runs again. */
      replayOf: z.strictObject({ runId: nonEmpty, items: names }).optional(),
      traceId: traceId.optional(),
      /** Only for a rerun (`agora rerun`): the run it reruns, and whether only what did not end done runs again. */
      rerunOf: z.strictObject({ runId: nonEmpty, fromFailed: z.boolean() }).optional(),
      /**
       * The accepted plan, stored content-addressed (`agora://<ns>/plan/<runId>/<sha256>`): the
       * inputs the stream only hashes, for replaying the run. Absent in runs accepted before it.
       */
      planRef: nonEmpty.optional(),
    }),
    z.strictObject({ ...runBase, state: z.literal('running') }),
    /**
     * Registered, but its queue's `maxWaiting` leaves no room for its first chunk of jobs yet:
     * `waiting` unfinished item jobs were in the queue. `running` follows when a chunk is admitted.
     */
    z.strictObject({ ...runBase, state: z.literal('queued'), maxWaiting: count, waiting: count }),
    /** `reason` is optional: RunStore.cancelRun takes one, the SDK always gives it. */
    z.strictObject({ ...runBase, state: z.literal('cancelling'), reason: z.string().optional() }),
    /** `planId` may be '': a run cancelled before the scheduler read its plan is recorded rejected. */
    z.strictObject({ ...runBase, state: z.literal('rejected'), planId: z.string(), problems: z.array(z.string()).min(1) }),
    z.strictObject({ ...runBase, state: z.literal('succeeded'), ...runCounts }),
    z.strictObject({ ...runBase, state: z.literal('failed'), ...runCounts }),
    z.strictObject({ ...runBase, state: z.literal('cancelled'), ...runCounts }),
  ]);

  const itemBase = { ...head, type: z.literal('item'), itemId: nonEmpty };
  const failedBase = { ...itemBase, state: z.literal('failed'), error: z.string() };
  const item = z.discriminatedUnion('state', [
    z.strictObject({ ...itemBase, state: z.literal('waiting'), ...REGISTERED, depends_on: names }),
    // Two events say "queued": the item's registration (no dependencies) and the release of an
    // item whose last dependency ended (setTerminal), which carries nothing else. A hand-back
    // has a type of its own.
    z
      .strictObject({ ...itemBase, state: z.literal('queued'), ...REGISTERED_OPTIONAL })
      .refine((e) => registrationAllOrNone(e as unknown as RegistrationFields), {
        message: 'a queued event carries all of executor, definitionHash and inputsHash (registration) or none of them (released by its dependencies)',
      }),
    z.strictObject({ ...itemBase, state: z.literal('running'), runner: nonEmpty, ...started, traceId: traceId.optional() }),
    z
      .strictObject({
        ...itemBase,
        state: z.literal('done'),
        resultRef: nonEmpty,
        // Absent only with `reusedFrom` (the item did not run here).
        attempt: attempt.optional(),
        durationMs: count.optional(),
        /**
         * Only for a stand-in of a replay: a dependency that was not run again, ended `done` at
         * acceptance with the result it had in the original run.
         */
        reusedFrom: z.strictObject({ runId: nonEmpty, itemId: nonEmpty }).optional(),
        /** Only for a memoized item whose key matched an earlier `done` item: it did not execute (a `cached` event follows). */
        cachedFrom: z.strictObject({ runId: nonEmpty, itemId: nonEmpty }).optional(),
        // The dispatch executor's fields; other executors add their own (the catchall).
        exitCode: z.number().int().optional(),
        task: nonEmpty.optional(),
        taskRef: nonEmpty.optional(),
        target: nonEmpty.optional(),
        startedAt: isoTime.optional(),
        finishedAt: isoTime.optional(),
      })
      .catchall(z.json())
      .refine(
        (e) =>
          e.reusedFrom === undefined && e.cachedFrom === undefined
            ? e.attempt !== undefined && e.durationMs !== undefined
            : e.attempt === undefined && e.durationMs === undefined && (e.reusedFrom === undefined || e.cachedFrom === undefined),
        { message: 'a done event carries attempt and durationMs (it ran) or one of reusedFrom, cachedFrom (it did not run here), not both' },
      ),
    z.discriminatedUnion('errorCode', [
      /** The runner's: the executor (or the runner around it) failed for good. `exitCode`: an application's exit. */
      z.strictObject({ ...failedBase, errorCode: z.enum(RUNNER_ERROR_CODES), attempt, exitCode: z.number().int().optional(), logRefs: logRefs.optional() }),
      /** The job's data does not hash to the definition registered at acceptance; nothing ran. */
      z.strictObject({ ...failedBase, errorCode: z.literal('INTEGRITY'), definitionHash: nonEmpty, jobDefinitionHash: nonEmpty }),
      /** Started `attempt` times without finishing (its runners died). */
      z.strictObject({ ...failedBase, errorCode: z.literal('STALLED'), attempt }),
      /** The scheduler's repair: the item's job vanished from the queue. */
      z.strictObject({ ...failedBase, errorCode: z.literal('JOB_LOST'), jobId: nonEmpty }),
      /** BullMQ failed the job outside the runner's processor (no attempt is known there). */
      z.strictObject({ ...failedBase, errorCode: z.literal('QUEUE') }),
    ]),
    z.strictObject({ ...itemBase, state: z.literal('skipped'), reason: z.string(), dependency: nonEmpty }),
    /** `attempt` only when it was running (its runner stopped it); absent when the cancel ended it before it started. */
    z.strictObject({ ...itemBase, state: z.literal('cancelled'), reason: z.string(), attempt: attempt.optional() }),
  ]);

  const lockBase = { ...head, type: z.literal('lock'), itemId: nonEmpty, lock: nonEmpty };
  const lock = z.discriminatedUnion('action', [
    /** Its turn has not come: `position` in the lock's FIFO queue (1 = next). Once per job. */
    z.strictObject({ ...lockBase, action: z.literal('waiting'), position: count }),
    z.strictObject({ ...lockBase, action: z.literal('acquired'), token }),
    z.strictObject({ ...lockBase, action: z.literal('released'), token }),
    /** The lease could not be extended while the item ran: it is retried under a fresh lock. */
    z.strictObject({ ...lockBase, action: z.literal('lost'), token }),
    /** The end script refused the holder's result: a newer token was issued. */
    z.strictObject({ ...lockBase, action: z.literal('fenced'), token, newestToken: token }),
  ]);

  /**
   * A failure its retry policy retries, with tries left: the job runs again after `delayMs` (the
   * back-off BullMQ applies). `reason`: the failure class (`infra`, `app`, `timeout`) or the
   * runner's own (`lock_lost`, `fenced`).
   */
  const retry = z.strictObject({ ...head, type: z.literal('retry'), itemId: nonEmpty, attempt, error: z.string(), reason: z.enum(RETRY_REASONS), delayMs: count });
  /** A runner shutting down returned the running item to the queue; not counted against its stall budget. */
  const handedBack = z.strictObject({ ...head, type: z.literal('handedBack'), itemId: nonEmpty, state: z.literal('queued'), attempt, runner: nonEmpty, reason: z.string() });

  /**
   * A message sent to an item's channel (`agora send`): its id in the item's channel stream, and
   * the size and SHA-256 of the JSON line the worker receives. The body itself is user data, as
   * an item's inputs are (`inputsHash`): the record holds its hash, never the body.
   */
  const message = z.strictObject({ ...head, type: z.literal('message'), itemId: nonEmpty, messageId: nonEmpty, bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) });

  /** Where a result that was not computed here came from: the run and item that computed it. */
  const origin = z.strictObject({ runId: nonEmpty, itemId: nonEmpty });
  /**
   * A rerun's item that did not execute: it ended `done` in `from.runId` with `resultRef`, and its
   * inputs, task and dependencies' results are unchanged. Right after its `done` event.
   */
  const reused = z.strictObject({ ...head, type: z.literal('reused'), itemId: nonEmpty, from: origin, resultRef: nonEmpty });
  /**
   * A memoized item that did not execute: its memo `key` (sha256, 64 hex) matched an earlier `done`
   * item, whose result it takes. Right after its `done` event.
   */
  const cached = z.strictObject({ ...head, type: z.literal('cached'), itemId: nonEmpty, key: z.string().regex(/^[0-9a-f]{64}$/), from: origin, resultRef: nonEmpty });

  return { run, item, lock, retry, handedBack, message, reused, cached, all: z.discriminatedUnion('type', [run, item, lock, retry, handedBack, message, reused, cached]) };
}

interface RegistrationFields {
  readonly executor?: string;
  readonly definitionHash?: string;
  readonly inputsHash?: string;
  readonly resourceLocks?: readonly string[];
  readonly taskRef?: string;
}
function registrationAllOrNone(e: RegistrationFields): boolean {
  const none = e.executor === undefined;
  if (none) return e.definitionHash === undefined && e.inputsHash === undefined && e.resourceLocks === undefined && e.taskRef === undefined;
  return e.definitionHash !== undefined && e.inputsHash !== undefined;
}

const events = vocabulary(HEAD, STARTED);
const bodies = vocabulary({}, {});

/** Every event of a run's stream, as stored and read. */
export const agoraEventSchema = events.all;
export const runEventSchema = events.run;
export const itemEventSchema = events.item;
export const lockEventSchema = events.lock;
export const retryEventSchema = events.retry;
export const handedBackEventSchema = events.handedBack;
export const messageEventSchema = events.message;
export const reusedEventSchema = events.reused;
export const cachedEventSchema = events.cached;
/** An event as a producer hands it to the state library: no stream head, no start-script fields. */
export const agoraEventBodySchema = bodies.all;

type AllKeys<T> = T extends unknown ? keyof T : never;
/**
 * Each variant, plus every other variant's fields as optional `undefined`: still a discriminated
 * union (narrow on `type`, `state`, `action`), and a reader may also ask any event for `itemId`
 * or `state` without narrowing first, as readers of the stream always have.
 */
type Exclusive<T, K extends PropertyKey = AllKeys<T>> = T extends unknown ? Readonly<T & { readonly [P in Exclude<K, keyof T>]?: undefined }> : never;

/**
 * One entry of a run's event stream, exactly as it is hashed for audit. `seq` is contiguous from
 * 0 within a run. Inferred from {@link agoraEventSchema}.
 */
export type AgoraEvent = Exclusive<z.infer<typeof agoraEventSchema>>;
export type RunEvent = z.infer<typeof runEventSchema>;
export type ItemEvent = z.infer<typeof itemEventSchema>;
export type LockEvent = z.infer<typeof lockEventSchema>;
export type RetryEvent = z.infer<typeof retryEventSchema>;
export type HandedBackEvent = z.infer<typeof handedBackEventSchema>;
export type MessageEvent = z.infer<typeof messageEventSchema>;
export type ReusedEvent = z.infer<typeof reusedEventSchema>;
export type CachedEvent = z.infer<typeof cachedEventSchema>;
/** A typed event body (see {@link agoraEventBodySchema}). */
export type AgoraEventBody = z.infer<typeof agoraEventBodySchema>;
export type AgoraEventType = AgoraEvent['type'];

/**
 * Any event-shaped object: what the audit layer seals and verifies (it checks the stream's
 * general rules, not this vocabulary, so evidence from another version still verifies).
 */
export interface StreamEvent {
  readonly runId: string;
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly itemId?: string;
  readonly state?: string;
  readonly resultRef?: string;
  readonly [field: string]: unknown;
}

/** The fields of an event the stream assigns itself; a caller's event body may not carry them. */
const STREAM_FIELDS = new Set(['seq', 'runId', 'at']);

/**
 * An event as a caller hands it to the state library: its type and its own fields. Loose on
 * purpose (callers build bodies from variables); {@link encodeEventBody} holds it to
 * {@link agoraEventBodySchema} when it is encoded.
 */
export type EventBody = { readonly type: string } & Readonly<Record<string, unknown>>;

function wellFormed(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ValueError(`event field holds ${value}, which JSON cannot carry`);
  if (typeof value === 'bigint') throw new ValueError('event field holds a bigint, which JSON cannot carry');
  return value;
}

/** Issues as one line each, `path: message`, for an error a producer can act on. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const out: string[] = [];
  const walk = (list: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): void => {
    for (const i of list) {
      const path = [...prefix, ...i.path];
      if (i.code === 'invalid_union' && i.errors.length > 0) {
        // A discriminated union names the branch it chose: its errors are the one list given.
        for (const branch of i.errors) walk(branch, path);
        continue;
      }
      const where = path.length > 0 ? path.map(String).join('.') : '(event)';
      out.push(i.code === 'unrecognized_keys' ? `${where}: unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}` : `${where}: ${i.message}`);
    }
  };
  walk(issues, []);
  return out.slice(0, 8).join('; ');
}

/** Why `body` is not an event body of the vocabulary, or null when it is. */
export function eventBodyProblem(body: unknown): string | null {
  const r = agoraEventBodySchema.safeParse(body);
  return r.success ? null : describeIssues(r.error.issues);
}

/**
 * Encodes an event body as one JSON object text, the only way TypeScript hands an event to the
 * Lua scripts (which put `seq`, `runId` and `at` in front of it). Validated first: a plain object
 * with a string `type`, none of the stream's own fields, and one of the vocabulary's variants
 * ({@link agoraEventBodySchema}; an unknown type or field is refused here, before anything is
 * written). Strings are made well-formed (a lone surrogate becomes U+FFFD) because RFC 8785
 * cannot encode a lone surrogate and an event that cannot be canonicalised can never be sealed.
 */
export function encodeEventBody(body: EventBody): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.getPrototypeOf(body) !== Object.prototype) {
    throw new ValueError('an event body must be a plain object');
  }
  if (typeof body.type !== 'string' || body.type === '') throw new ValueError('an event body needs a string "type"');
  for (const k of Object.keys(body)) {
    if (STREAM_FIELDS.has(k)) throw new ValueError(`an event body may not set "${k}": the stream assigns it`);
  }
  const text = JSON.stringify(body, wellFormed);
  const problem = eventBodyProblem(body);
  if (problem !== null) throw new ValueError(`not an event of the vocabulary (type "${body.type}"): ${problem}`);
  return text;
}
