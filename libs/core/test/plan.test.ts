import { describe, expect, it } from 'vitest';
import { findCycle, parsePlanText, validatePlan, PLAN_LIMITS } from '@agora/core';

const item = (id: string, depends_on: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  executor: 'noop',
  inputs: {},
  depends_on,
  resourceLocks: [],
  ...extra,
});

describe('validatePlan', () => {
  it('accepts the seed-003 fan-out plan', () => {
    const r = validatePlan({
      id: 'fanout-1',
      queue: 'default',
      items: [
        { id: 'edit-alpha', executor: 'dispatch', inputs: { subagent: 'code-edit', workerInput: { file: 'alpha.ts' } }, depends_on: [], resourceLocks: ['fixture/alpha.ts'] },
        { id: 'verify', executor: 'dispatch', inputs: { subagent: 'verify' }, depends_on: ['edit-alpha'], resourceLocks: [] },
      ],
    });
    expect(r.ok).toBe(true);
  });

  it('names every problem with its item', () => {
    const r = validatePlan({
      id: 'p',
      queue: 'default',
      items: [
        item('a', ['a']),
        item('b', ['zzz']),
        item('a'),
        item('c', [], { executor: 'teleport' }),
        item('d', [], { resourceLocks: ['ok/lock', '../etc', 'bad lock'] }),
        item('e', [], { inputs: { blob: 'x'.repeat(PLAN_LIMITS.maxInputBytes) } }),
      ],
    });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      'items[2] ("a"): duplicate item id (first used by items[0])',
      'items[0] ("a"): depends_on[0]: item depends on itself',
      'items[1] ("b"): depends_on[0]: unknown item "zzz"',
      'items[3] ("c"): unknown executor "teleport" (known: dispatch, noop)',
      'items[4] ("d"): resourceLocks[1]: invalid lock name "../etc": has an empty, "." or ".." path segment',
      'items[4] ("d"): resourceLocks[2]: invalid lock name "bad lock": use letters, digits and . _ / @ + = -',
      `items[5] ("e"): inputs are ${PLAN_LIMITS.maxInputBytes + 11} bytes, over the limit of ${PLAN_LIMITS.maxInputBytes} bytes`,
    ]);
  });

  it('takes lock names of the README grammar whatever character of it comes first, and refuses the others', () => {
    // Before, a name had to start with a letter or digit, which the README does not say: "@scope/pkg" was refused.
    const ok = validatePlan({ id: 'p', items: [item('a', [], { resourceLocks: ['@scope/pkg', '.cache', '_tmp', '-x', '+=@', 'a/.b', 'db/main'] })] });
    expect(ok.problems).toEqual([]);
    const bad = validatePlan({ id: 'p', items: [item('a', [], { resourceLocks: ['/a', '.', '..', 'a/../b', 'a{b}', 'é', ' x'] })] });
    expect(bad.problems).toEqual([
      'items[0] ("a"): resourceLocks[0]: invalid lock name "/a": has an empty, "." or ".." path segment',
      'items[0] ("a"): resourceLocks[1]: invalid lock name ".": has an empty, "." or ".." path segment',
      'items[0] ("a"): resourceLocks[2]: invalid lock name "..": has an empty, "." or ".." path segment',
      'items[0] ("a"): resourceLocks[3]: invalid lock name "a/../b": has an empty, "." or ".." path segment',
      'items[0] ("a"): resourceLocks[4]: invalid lock name "a{b}": use letters, digits and . _ / @ + = -',
      'items[0] ("a"): resourceLocks[5]: invalid lock name "é": use letters, digits and . _ / @ + = -',
      'items[0] ("a"): resourceLocks[6]: invalid lock name " x": use letters, digits and . _ / @ + = -',
    ]);
  });

  it('reports a cycle beside the other problems, and the graph of a plan the schema refused', () => {
    // Before: the cycle only when nothing else was wrong; nothing but the schema's problems when it refused.
    const mixed = validatePlan({ id: 'p', items: [item('a', ['a']), item('a'), item('b', ['c', 'ghost']), item('c', ['b']), item('d', [], { executor: 'warp' })] });
    expect(mixed.problems).toEqual([
      'items[1] ("a"): duplicate item id (first used by items[0])',
      'items[0] ("a"): depends_on[0]: item depends on itself',
      'items[2] ("b"): depends_on[1]: unknown item "ghost"',
      'cycle: b -> c -> b',
      'items[4] ("d"): unknown executor "warp" (known: dispatch, noop)',
    ]);
    const schema = validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', dependsOn: ['x'] }, item('b', ['c', 'zz']), item('c', ['b']), item('b')] });
    expect(schema.problems[0]).toMatch(/^items\[0\] \(item "a"\): Unrecognized key/);
    expect(schema.problems.slice(1)).toEqual([
      'items[3] ("b"): duplicate item id (first used by items[1])',
      'items[1] ("b"): depends_on[1]: unknown item "zz"',
      'cycle: b -> c -> b',
    ]);
  });

  it('rejects an empty plan', () => {
    expect(validatePlan({ id: 'p', queue: 'default', items: [] }).problems).toEqual(['items: plan is empty: it has no items']);
  });

  it('prints the cycle path', () => {
    const r = validatePlan({ id: 'p', items: [item('a', ['c']), item('b', ['a']), item('c', ['b']), item('d')] });
    expect(r.problems).toEqual(['cycle: a -> c -> b -> a']);
  });

  it('rejects unknown fields and wrong types, naming the path', () => {
    const r = validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', dependsOn: ['x'] }] });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/^items\[0\] \(item "a"\): Unrecognized key/);
  });

  it('rejects unknown queues when the deployment names its queues', () => {
    const r = validatePlan({ id: 'p', queue: 'gpu', items: [item('a')] }, { queues: ['default'] });
    expect(r.problems).toEqual(['queue: unknown queue "gpu" (configured: default)']);
  });

  it('finds no cycle in a 100k-deep chain without overflowing the stack', () => {
    const items = Array.from({ length: 100_000 }, (_, i) => item(`n${i}`, i === 0 ? [] : [`n${i - 1}`]));
    expect(findCycle({ items })).toBeNull();
  });
});

describe('validatePlan of an SDK caller\'s object', () => {
  it('lists a value JSON cannot carry as a problem instead of throwing or dropping it', () => {
    // Before: a bigint made validatePlan (and so submit) throw a TypeError from JSON.stringify;
    // a Map was submitted as {} and a function left out, so the item ran with other inputs.
    const cases: Array<[unknown, string]> = [
      [10n, 'items[0].inputs.x (item "a"): holds a bigint, which JSON cannot carry (send it as a string)'],
      [new Map([[1, 2]]), 'items[0].inputs.x (item "a"): holds an object of class Map, which is not JSON data'],
      [new Date(0), 'items[0].inputs.x (item "a"): holds an object of class Date, which is not JSON data'],
      [() => 1, 'items[0].inputs.x (item "a"): holds a function, which JSON cannot carry'],
    ];
    for (const [x, problem] of cases) {
      const r = validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', inputs: { x } }] });
      expect(r.ok).toBe(false);
      expect(r.problems.join('\n')).toContain(problem);
    }
    // Every problem names its item (README), as the schema's do: this one by its id too.
    const named = validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop' }, { id: 'b', executor: 'noop', inputs: { s: '\uD800', k: { __proto__: null, ['\uDC00']: 1 }, n: Number.POSITIVE_INFINITY } }] });
    // Before: "items[1].inputs.s: holds a lone surrogate …", the item named by index alone.
    expect(named.problems).toEqual(expect.arrayContaining([
      'items[1].inputs.s (item "b"): holds a lone surrogate (unpaired UTF-16 half), which cannot be sealed',
      'items[1].inputs.k (item "b"): a key holds a lone surrogate, which cannot be sealed',
      'items[1].inputs.n (item "b"): holds a number JSON cannot carry (too large, or not a number)',
    ]));
    // Plain data, and an object without a prototype, still validate.
    const bare = Object.assign(Object.create(null) as object, { y: [1, 'two', null, true, { z: -0 }] });
    expect(validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', inputs: { x: bare } }] }).ok).toBe(true);
  });
});

describe('validatePlan messages', () => {
  it('say "object", the JSON word, where zod says "record" (inputs: null, inputs: [])', () => {
    // Before: "items[0].inputs (item \"a\"): Invalid input: expected record, received null".
    expect(validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', inputs: null }] }).problems).toEqual(['items[0].inputs (item "a"): Invalid input: expected object, received null']);
    expect(validatePlan({ id: 'p', items: [{ id: 'a', executor: 'noop', inputs: [] }] }).problems).toEqual(['items[0].inputs (item "a"): Invalid input: expected object, received array']);
  });

  it('quote a plan\'s own strings as JSON, so a control character in one never reaches a terminal raw', () => {
    // Before: `unknown queue "<ESC>[2J"` held the escape itself, and agora validate printed it.
    const r = validatePlan(
      { id: 'p', queue: 'q\u001b[2J', items: [{ id: 'a', executor: 'x\u001b]0;t\u0007', depends_on: ['g\rh'] }] },
      { queues: ['default'] },
    );
    const text = r.problems.join('\n');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(text).toContain('invalid queue name "q\\u001b[2J"');
    expect(text).toContain('unknown item "g\\rh"');
    // Plain strings read as before.
    expect(validatePlan({ id: 'p', queue: 'nope', items: [{ id: 'a', executor: 'noop' }] }, { queues: ['default'] }).problems).toEqual(['queue: unknown queue "nope" (configured: default)']);
  });
});

describe('parsePlanText', () => {
  it('reports line and column of malformed JSON', () => {
    expect(() => parsePlanText('{\n  "id": "p",\n  "items": [,]\n}', 'plan.json')).toThrow('plan.json:3:13: invalid JSON: ValueExpected');
  });

  it('says an empty text is empty (an empty file, an empty pipe into -)', () => {
    // Before: "plan.json:1:1: invalid JSON: ValueExpected".
    for (const text of ['', '  \n', '\uFEFF']) expect(() => parsePlanText(text, 'plan.json')).toThrow('plan.json: invalid JSON: it is empty (no JSON value in it)');
  });

  it('ignores a leading byte order mark, as the HTTP API does (RFC 8259 8.1)', () => {
    // Before: "plan.json:1:1: invalid JSON: InvalidSymbol" (exit 2) for a file an editor saved
    // with a BOM, while POST /api/runs accepted the same bytes.
    expect(parsePlanText('\uFEFF{"id":"p","items":[]}', 'plan.json')).toEqual({ id: 'p', items: [] });
    // Errors still name the line and column as an editor shows them (the BOM is not a column).
    expect(() => parsePlanText('\uFEFF{\n  "id": "p",\n  "items": [,]\n}', 'plan.json')).toThrow('plan.json:3:13: invalid JSON: ValueExpected');
    // Only a leading one: anywhere else it is not whitespace in JSON.
    expect(() => parsePlanText('{"id":\uFEFF"p"}', 'plan.json')).toThrow('invalid JSON');
  });
});
