import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_LIMITS, PlanValidationError, ValueError, compileConfig, parseAgoraUri, parsePlanText, validatePlan } from '@agora/core';
import { AgoraClient } from '@agora/sdk';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { createScheduler, type Scheduler } from '@agora/scheduler';
import { cliEnv, type CliEnv } from '../support/cli.js';
import { testRedisUrl, uniqueNamespace } from '../support/index.js';
import { silent } from '../support/cluster.js';

/**
 * Trust boundaries 3, 10 and 11: every surface (CLI, HTTP, SDK, scheduler) parses and validates a
 * plan the same way, and refuses up front what could not be run or sealed.
 */
const item = (id: string, inputs: Record<string, unknown> = {}) => ({ id, executor: 'noop', inputs });

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

describe('what cannot be sealed cannot be submitted', () => {
  it('a lone surrogate anywhere in a plan is a validation error', () => {
    const cases = [
      { id: 'p\uD800', items: [item('a')] },
      { id: 'p', items: [item('a\uDC00')] },
      { id: 'p', items: [item('a', { text: 'x\uD83D' })] },
      { id: 'p', items: [item('a', { ['k\uDFFF']: 1 })] },
      { id: 'p', items: [item('a', { list: [1, ['\uD800']] })] },
    ];
    for (const plan of cases) {
      const r = validatePlan(plan);
      expect(r.ok, JSON.stringify(plan)).toBe(false);
      expect(r.problems.join('\n')).toMatch(/lone surrogate/);
    }
    // A well-formed pair is fine.
    expect(validatePlan({ id: 'p', items: [item('a', { text: '\uD83D\uDE00' })] }).ok).toBe(true);
  });

  it('a number JSON cannot keep as written is a validation error (it ran, and was sealed, changed)', () => {
    // What the parser hands over for `1e400` and `12345678901234567890`: Infinity and a rounded integer.
    const over = JSON.parse('{"n":1e400}') as { n: number };
    const rounded = JSON.parse('{"n":12345678901234567890}') as { n: number };
    expect(validatePlan({ id: 'p', items: [item('a', over)] }).problems).toEqual(['items[0].inputs.n (item "a"): holds a number JSON cannot carry (too large, or not a number)']);
    expect(validatePlan({ id: 'p', items: [item('a', { list: [rounded.n] })] }).problems).toEqual([
      'items[0].inputs.list[0] (item "a"): holds the integer 12345678901234567000, beyond ±9007199254740991: it cannot be kept exactly (send it as a string)',
    ]);
    expect(validatePlan({ id: 'p', items: [item('a', { n: -Infinity })] }).ok).toBe(false);
    // The largest exact integers and fractions are fine (a value of 2^53 or more is refused even when written in exponent form: it cannot be told from a rounded one).
    expect(validatePlan({ id: 'p', items: [item('a', { a: Number.MAX_SAFE_INTEGER, b: -Number.MAX_SAFE_INTEGER, c: 1.5e-300, d: 0.1, e: 123.456 })] }).ok).toBe(true);
  });

  it('a dispatch item names its task once: task and its alias subagent together are an error', () => {
    const dispatch = (inputs: Record<string, unknown>) => ({ id: 'p', items: [{ id: 'a', executor: 'dispatch', inputs }] });
    expect(validatePlan(dispatch({ task: 'echo', subagent: 'verify' })).problems).toEqual(['items[0] ("a"): inputs.task and inputs.subagent name the same thing (subagent is an alias): give one']);
    expect(validatePlan(dispatch({ task: 'echo' })).ok).toBe(true);
    expect(validatePlan(dispatch({ subagent: 'echo' })).ok).toBe(true);
  });

  it('one id grammar: an item id the storage URI refuses is a plan error', () => {
    for (const id of ['a..b', '..', 'a/b', '.a', 'a b', 'x'.repeat(129)]) {
      const r = validatePlan({ id: 'p', items: [item(id)] });
      expect(r.ok, id).toBe(false);
      expect(r.problems.join('\n')).toMatch(/invalid item id/);
    }
    expect(() => parseAgoraUri('agora://ns/result/r1.a..b')).toThrow(ValueError);
    expect(validatePlan({ id: 'p', items: [item('a.b-c_9')] }).ok).toBe(true);
    expect(parseAgoraUri('agora://ns/result/r1.a.b-c_9').name).toBe('r1.a.b-c_9');
  });
});

describe('one nesting-depth limit and one parser at every surface', () => {
  let env: CliEnv;
  let dashboard: Dashboard;
  let scheduler: Scheduler;
  let client: AgoraClient;
  const namespace = uniqueNamespace('ps');

  beforeAll(async () => {
    env = cliEnv();
    const config = compileConfig({ namespace, dataDir: env.dir }, 'test', env.dir, { REDIS_URL: testRedisUrl() });
    dashboard = await createDashboard({ config, port: 0, logger: silent });
    scheduler = await createScheduler({ config, logger: silent, sealing: false });
    client = new AgoraClient({ redisUrl: testRedisUrl(), namespace });
  });
  afterAll(async () => {
    await client?.close();
    await dashboard?.close();
    await scheduler?.close();
    await env?.close();
  });

  const post = (body: string): Promise<Response> =>
    fetch(`${dashboard.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  for (const depth of [PLAN_LIMITS.maxDepth + 5, 3000]) {
    it(`a plan nested ${depth} levels deep is refused by the CLI (exit 2), the SDK, the HTTP API (4xx) and the scheduler`, async () => {
      const plan = { id: 'deep', items: [item('a', { n: nested(depth) })] };
      const text = JSON.stringify(plan);
      expect(() => parsePlanText(text)).toThrow(/nested deeper than 64 levels/);
      const file = env.writeJson('deep.json', text);
      for (const verb of ['validate', 'submit']) {
        const r = env.agora([verb, file]);
        expect(r.code, `${verb}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/nested deeper than 64 levels/);
      }
      await expect(client.submit(plan)).rejects.toThrow(PlanValidationError);
      const res = await post(text);
      expect(res.status).toBe(422);
      expect(JSON.stringify(await res.json())).toMatch(/nested deeper than 64 levels/);
      const accepted = await scheduler.accept({ runId: `rdeep${depth}`, plan, submittedAt: new Date().toISOString() });
      expect(accepted.state).toBe('rejected');
    });
  }

  it('"__proto__" is data to the parser and refused by the validator: validate and submit agree', async () => {
    const text = '{"id":"p","__proto__":{"queue":"other"},"items":[{"id":"a","executor":"noop"}]}';
    const parsed = parsePlanText(text) as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toContain('__proto__');
    const file = env.writeJson('proto.json', text);
    const v = env.agora(['validate', file]);
    const s = env.agora(['submit', file]);
    expect(v.code).toBe(1);
    expect(s.code).toBe(1);
    expect(v.stderr).toMatch(/"__proto__" is not allowed/);
    expect(s.stderr).toMatch(/"__proto__" is not allowed/);
    const res = await post(text);
    expect(res.status).toBe(422);
    const inInputs = '{"id":"p","items":[{"id":"a","executor":"noop","inputs":{"__proto__":{"task":"x"}}}]}';
    expect(env.agora(['validate', env.writeJson('proto2.json', inInputs)]).code).toBe(1);
    expect((await post(inInputs)).status).toBe(422);
  });

  it('a key given twice in one object is malformed JSON at the CLI (exit 2) and the HTTP API (400), naming it', async () => {
    // Before: both kept the last value in silence, so the first depends_on below was dropped and
    // the plan ran without the dependency its author wrote first.
    const text = '{"id":"p","items":[{"id":"b","executor":"noop"},{"id":"a","executor":"noop","depends_on":["b"],"depends_on":[]}]}';
    expect(() => parsePlanText(text, 'plan.json')).toThrow('plan.json:1:96: invalid JSON: the key "depends_on" is given twice in one object');
    const file = env.writeJson('dup.json', text);
    for (const verb of ['validate', 'submit']) {
      const r = env.agora([verb, file]);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('the key "depends_on" is given twice in one object');
    }
    const res = await post(text);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain('the key "depends_on" is given twice in one object');
    // The same key in different objects is fine.
    expect(parsePlanText('{"id":"p","items":[{"id":"a","inputs":{"id":1}},{"id":"b"}]}')).toBeTruthy();
  });

  it('a body nested far past the limit is still a 422 for its depth, not a stack overflow of the duplicate-key scan', async () => {
    const n = 200_000;
    const res = await post(`{"id":"x","items":[{"id":"a","executor":"noop","inputs":{"d":${'['.repeat(n)}${']'.repeat(n)}}}]}`);
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toMatch(/nested deeper than 64 levels/);
  });

  it('POST /api/runs refuses a plan whose merged retry policy acceptance would reject (422), as validate and submit do', async () => {
    const res = await post(JSON.stringify({ id: 'p', items: [{ id: 'a', executor: 'noop', retry: { backoff: { maxDelayMs: 10 } } }] }));
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toContain('backoff.maxDelayMs 10 (from the item) is below backoff.delayMs 1000 (from the config)');
  });

  it('malformed JSON still names line and column', () => {
    expect(() => parsePlanText('{\n  "id": "p",\n  "items": [,]\n}', 'plan.json')).toThrow(/^plan\.json:3:13: invalid JSON/);
  });
});
