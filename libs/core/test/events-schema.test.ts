import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ValueError,
  agoraEventBodySchema,
  agoraEventSchema,
  encodeEventBody,
  eventBodyProblem,
  itemEventSchema,
  lockEventSchema,
  runEventSchema,
  type AgoraEvent,
} from '@agora/core';

/**
 * The event vocabulary (libs/core events.ts): one example per variant, written as its producer
 * writes it (the Lua script or TypeScript call named beside it), must parse; near misses (a
 * field renamed, missing, added, of the wrong type) must not.
 */
const head = { seq: 4, runId: 'r1', at: '2026-11-29T10:00:00.000Z' };
const hash = 'a'.repeat(64);
const ref = `agora://ns/result/r1.i@${'b'.repeat(64)}`;

/** Bodies as TypeScript producers hand them to the state library (no head; no attempt on running). */
const BODIES: Record<string, Record<string, unknown>> = {
  'run accepted (initRun)': { type: 'run', state: 'accepted', planId: 'p', queue: 'default', items: 3, submittedAt: head.at },
  'run accepted with its recorded plan (initRun)': { type: 'run', state: 'accepted', planId: 'p', queue: 'default', items: 3, submittedAt: head.at, planRef: `agora://ns/plan/r1/${hash}` },
  'run cancelling (cancelRun)': { type: 'run', state: 'cancelling', reason: 'cancelled by client' },
  'run cancelling without a reason': { type: 'run', state: 'cancelling' },
  'run queued (markQueued)': { type: 'run', state: 'queued', maxWaiting: 5000, waiting: 4990 },
  'run rejected (rejectRun)': { type: 'run', state: 'rejected', planId: 'p', problems: ['items[0] ("a"): unknown task "x"'] },
  'run rejected before acceptance (SDK cancel)': { type: 'run', state: 'rejected', planId: '', problems: ['cancelled before it was accepted'] },
  'item queued (registration)': { type: 'item', itemId: 'a', state: 'queued', executor: 'noop', definitionHash: hash, inputsHash: hash },
  'item queued with locks and a task': { type: 'item', itemId: 'a', state: 'queued', executor: 'dispatch', definitionHash: hash, inputsHash: hash, resourceLocks: ['db/main'], taskRef: 'agora://ns/task/t@x' },
  'item waiting (registration)': { type: 'item', itemId: 'b', state: 'waiting', executor: 'noop', definitionHash: hash, inputsHash: hash, depends_on: ['a'] },
  'item running (beginArgs)': { type: 'item', itemId: 'a', state: 'running', runner: 'runner-1' },
  'item done (noop)': { type: 'item', itemId: 'a', state: 'done', resultRef: ref, attempt: 1, durationMs: 3 },
  'item done (dispatch)': {
    type: 'item', itemId: 'a', state: 'done', resultRef: ref, attempt: 2, durationMs: 30, exitCode: 0, task: 'hello', taskRef: 'agora://ns/task/hello@x', target: 'local',
    startedAt: head.at, finishedAt: head.at,
  },
  'item done (a plug-in executor field)': { type: 'item', itemId: 'a', state: 'done', resultRef: ref, attempt: 1, durationMs: 3, rows: 12, meta: { k: [1, 'x', null] } },
  'item failed (runner, application)': { type: 'item', itemId: 'a', state: 'failed', attempt: 1, error: 'exit 1', errorCode: 'APPLICATION', exitCode: 1 },
  'item failed (runner, internal)': { type: 'item', itemId: 'a', state: 'failed', attempt: 3, error: 'boom', errorCode: 'INTERNAL' },
  'item failed (queue)': { type: 'item', itemId: 'a', state: 'failed', error: 'job failed in queue: x', errorCode: 'QUEUE' },
  'item failed (job lost, repair)': { type: 'item', itemId: 'a', state: 'failed', errorCode: 'JOB_LOST', error: 'item a: gone', jobId: 'r1:0' },
  'item cancelled (runner)': { type: 'item', itemId: 'a', state: 'cancelled', attempt: 1, reason: 'run cancelled' },
  'lock waiting (runner)': { type: 'lock', action: 'waiting', itemId: 'a', lock: 'db/main', position: 1 },
  'lock acquired (beginItem before)': { type: 'lock', action: 'acquired', itemId: 'a', lock: 'db/main', token: 7 },
  'lock released (hand-back after)': { type: 'lock', action: 'released', itemId: 'a', lock: 'db/main', token: 7 },
  'lock lost (runner)': { type: 'lock', action: 'lost', itemId: 'a', lock: 'db/main', token: 7 },
  'retry (runner)': { type: 'retry', itemId: 'a', attempt: 1, error: 'noop a: simulated infrastructure failure', reason: 'infra', delayMs: 1000 },
  'handedBack (handBackItem)': { type: 'handedBack', itemId: 'a', state: 'queued', attempt: 1, runner: 'runner-1', reason: 'runner shutting down: handed back' },
};

/** Events only Lua writes (or completes), as stored: with the head. */
const LUA_EVENTS: Record<string, Record<string, unknown>> = {
  'run running (markRunning)': { ...head, type: 'run', state: 'running' },
  'run succeeded (maybeFinishRun)': { ...head, type: 'run', state: 'succeeded', done: 3, failed: 0, skipped: 0, cancelled: 0 },
  'run failed': { ...head, type: 'run', state: 'failed', done: 1, failed: 1, skipped: 1, cancelled: 0 },
  'run cancelled': { ...head, type: 'run', state: 'cancelled', done: 0, failed: 0, skipped: 0, cancelled: 2 },
  'item queued (released by its dependencies)': { ...head, type: 'item', itemId: 'b', state: 'queued' },
  'item running (begin: attempt)': { ...head, type: 'item', itemId: 'a', state: 'running', runner: 'runner-1', attempt: 1 },
  'item running with locks (startItem: lockTokens)': { ...head, type: 'item', itemId: 'a', state: 'running', runner: 'runner-1', attempt: 2, lockTokens: { 'db/main': 7 } },
  'item failed INTEGRITY (begin)': {
    ...head, type: 'item', itemId: 'a', state: 'failed', errorCode: 'INTEGRITY', error: 'the job data does not match', definitionHash: hash, jobDefinitionHash: 'unparsable',
  },
  'item failed STALLED (begin)': { ...head, type: 'item', itemId: 'a', state: 'failed', errorCode: 'STALLED', error: 'started 5 times', attempt: 5 },
  'item skipped (begin)': { ...head, type: 'item', itemId: 'b', state: 'skipped', reason: 'dependency a ended failed', dependency: 'a' },
  'item cancelled (cancelRun / begin)': { ...head, type: 'item', itemId: 'b', state: 'cancelled', reason: 'run cancelled' },
  'lock acquired (startItem)': { ...head, type: 'lock', action: 'acquired', itemId: 'a', lock: 'db/main', token: 1 },
  'lock released (endItem)': { ...head, type: 'lock', action: 'released', itemId: 'a', lock: 'db/main', token: 1 },
  'lock fenced (endItem)': { ...head, type: 'lock', action: 'fenced', itemId: 'a', lock: 'db/main', token: 1, newestToken: 2 },
};

describe('the event vocabulary', () => {
  it.each(Object.entries(BODIES))('a body: %s, parses as a body and, with the head, as an event', (_name, body) => {
    expect(eventBodyProblem(body)).toBeNull();
    const event = body['type'] === 'item' && body['state'] === 'running' ? { ...head, ...body, attempt: 1 } : { ...head, ...body };
    expect(agoraEventSchema.safeParse(event).error?.issues).toBeUndefined();
    expect(JSON.parse(encodeEventBody(body as { type: string }))).toEqual(body);
  });

  it.each(Object.entries(LUA_EVENTS))('an event Lua writes: %s, parses', (_name, event) => {
    expect(agoraEventSchema.safeParse(event).error?.issues).toBeUndefined();
  });

  it('the per-type schemas take their own type only', () => {
    expect(runEventSchema.safeParse(LUA_EVENTS['run running (markRunning)']).success).toBe(true);
    expect(itemEventSchema.safeParse(LUA_EVENTS['run running (markRunning)']).success).toBe(false);
    expect(lockEventSchema.safeParse(LUA_EVENTS['lock fenced (endItem)']).success).toBe(true);
  });

  const misses: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown type', { type: 'x' }, /type: Invalid discriminator/],
    ['an unknown run state', { type: 'run', state: 'paused' }, /state: Invalid discriminator/],
    ['an unknown lock action', { type: 'lock', action: 'stolen', itemId: 'a', lock: 'l', token: 1 }, /action: Invalid discriminator/],
    ['a field added', { type: 'retry', itemId: 'a', attempt: 1, error: 'e', reason: 'app', delayMs: 0, forged: true }, /unknown field\(s\) "forged"/],
    ['a field missing', { type: 'retry', itemId: 'a', error: 'e', reason: 'app', delayMs: 0 }, /attempt: Invalid input/],
    ['a retry without its reason and delay', { type: 'retry', itemId: 'a', attempt: 1, error: 'e' }, /reason: Invalid option.*delayMs: Invalid input/],
    ['a retry reason outside the vocabulary', { type: 'retry', itemId: 'a', attempt: 1, error: 'e', reason: 'provider', delayMs: 10 }, /reason: Invalid option/],
    ['a negative retry delay', { type: 'retry', itemId: 'a', attempt: 1, error: 'e', reason: 'app', delayMs: -1 }, /delayMs/],
    ['a field renamed (item -> itemId)', { type: 'retry', item: 'a', attempt: 1, error: 'e', reason: 'app', delayMs: 0 }, /itemId/],
    ['a token as a string', { type: 'lock', action: 'acquired', itemId: 'a', lock: 'l', token: '7' }, /token/],
    ['an attempt of 0', { type: 'retry', itemId: 'a', attempt: 0, error: 'e', reason: 'app', delayMs: 0 }, /attempt/],
    ['an error code outside the taxonomy', { type: 'item', itemId: 'a', state: 'failed', attempt: 1, error: 'e', errorCode: 'OOPS' }, /errorCode/],
    ['INTEGRITY without the hashes', { type: 'item', itemId: 'a', state: 'failed', errorCode: 'INTEGRITY', error: 'e' }, /definitionHash/],
    ['a runner failure without its attempt', { type: 'item', itemId: 'a', state: 'failed', errorCode: 'APPLICATION', error: 'e' }, /attempt/],
    ['done without its resultRef', { type: 'item', itemId: 'a', state: 'done', attempt: 1, durationMs: 1 }, /resultRef/],
    ['done with a non-JSON executor field', { type: 'item', itemId: 'a', state: 'done', resultRef: ref, attempt: 1, durationMs: 1, when: new Date() }, /when/],
    ['a registration without its hashes', { type: 'item', itemId: 'a', state: 'queued', executor: 'noop' }, /executor, definitionHash and inputsHash/],
    ['a release naming locks', { type: 'item', itemId: 'a', state: 'queued', resourceLocks: ['l'] }, /executor, definitionHash and inputsHash/],
    ['waiting without its dependencies', { type: 'item', itemId: 'a', state: 'waiting', executor: 'noop', definitionHash: hash, inputsHash: hash }, /depends_on/],
    ['accepted without submittedAt', { type: 'run', state: 'accepted', planId: 'p', queue: 'q', items: 1 }, /submittedAt/],
    ['accepted with an empty planRef', { type: 'run', state: 'accepted', planId: 'p', queue: 'q', items: 1, submittedAt: head.at, planRef: '' }, /planRef/],
    ['rejected with no problem', { type: 'run', state: 'rejected', planId: 'p', problems: [] }, /problems/],
    ['a handedBack with another state', { type: 'handedBack', itemId: 'a', state: 'running', attempt: 1, runner: 'r', reason: 'x' }, /state/],
  ];
  it.each(misses)('refuses %s, naming the field', (_name, body, why) => {
    const problem = eventBodyProblem(body);
    expect(problem).toMatch(why);
    expect(() => encodeEventBody(body as { type: string })).toThrow(ValueError);
    expect(() => encodeEventBody(body as { type: string })).toThrow(/not an event of the vocabulary/);
  });

  it('a body may not carry what the stream or the start script assigns', () => {
    expect(() => encodeEventBody({ ...BODIES['retry (runner)']!, type: 'retry', seq: 1 })).toThrow(/stream assigns it/);
    // attempt and lockTokens of a running event are counted and issued in Lua, never taken from a caller.
    expect(eventBodyProblem({ type: 'item', itemId: 'a', state: 'running', runner: 'r', attempt: 9 })).toMatch(/unknown field\(s\) "attempt"/);
    expect(eventBodyProblem({ type: 'item', itemId: 'a', state: 'running', runner: 'r', lockTokens: { l: 1 } })).toMatch(/lockTokens/);
    // ...while the stored event must have its attempt.
    expect(agoraEventSchema.safeParse({ ...head, type: 'item', itemId: 'a', state: 'running', runner: 'r' }).success).toBe(false);
    expect(agoraEventSchema.safeParse({ type: 'run', state: 'running' }).success).toBe(false);
    expect(agoraEventBodySchema.safeParse({ ...head, type: 'run', state: 'running' }).success).toBe(false);
  });

  it('AgoraEvent is the inferred union: narrowing on type and state gives the variant, and any field may be asked of any event', () => {
    const e = agoraEventSchema.parse(LUA_EVENTS['lock fenced (endItem)']) as AgoraEvent;
    expectTypeOf(e.itemId).toEqualTypeOf<string | undefined>();
    if (e.type === 'lock' && e.action === 'fenced') expectTypeOf(e.newestToken).toEqualTypeOf<number>();
    if (e.type === 'item' && e.state === 'failed' && e.errorCode === 'INTEGRITY') expectTypeOf(e.jobDefinitionHash).toEqualTypeOf<string>();
    if (e.type === 'run') expectTypeOf(e.state).toEqualTypeOf<'accepted' | 'running' | 'queued' | 'cancelling' | 'rejected' | 'succeeded' | 'failed' | 'cancelled'>();
    expect(e.newestToken).toBe(2);
  });
});
