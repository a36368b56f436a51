import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import {
  EventValidationError,
  canonicalEventBytes,
  canonicalJson,
  checkedEventJson,
  eventLeafHash,
  eventProblems,
  hashLeaf,
  validateEvent,
  validateEventSequence,
} from '@agora/audit';
import { randomInt, rng } from './support/random.js';

const base = { seq: 3, runId: 'r0abc', at: '2026-11-23T03:00:00.000Z', type: 'item' };

/** Random JSON values, biased towards what breaks naive serialisers. */
function randomValue(next: () => number, depth: number): unknown {
  const strings = ['', 'a', 'é', '\u2028', '\u0000', '"\\/', '\ud83d\ude00', '\u007f', '\u00e9\u0301', 'line\nbreak', '\t', '€uro', '\ufeff'];
  const keys = ['a', 'b', 'A', '_', '10', '9', '1', '0', '00', '-1', '1.5', '__proto__', 'constructor', '\u00e9', 'e\u0301', '\ud83d\ude00', '\uff61', '', ' ', 'aa', 'a\u0000'];
  const numbers = [0, -0, 1, -1, 1.5, 0.1, 1e21, 1e-7, 123456789012345, 2 ** 53 - 1, -(2 ** 53 - 1), 5e-324, 1.7976931348623157e308, 333333333.3333333, 4.35, 0.000001, 1e-6];
  const r = randomInt(next, depth > 3 ? 4 : 6);
  switch (r) {
    case 0:
      return strings[randomInt(next, strings.length)];
    case 1:
      return numbers[randomInt(next, numbers.length)];
    case 2:
      return [true, false, null][randomInt(next, 3)];
    case 3:
      return next() * 1e6 - 5e5;
    case 4:
      return Array.from({ length: randomInt(next, 4) }, () => randomValue(next, depth + 1));
    default: {
      // defineProperty makes "__proto__" an own key, as JSON.parse of a bundle would.
      const o: Record<string, unknown> = {};
      for (let i = randomInt(next, 5); i > 0; i--) {
        const k = keys[randomInt(next, keys.length)] as string;
        Object.defineProperty(o, k, { value: randomValue(next, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
  }
}

describe('canonical JSON (RFC 8785)', () => {
  it('equals the canonicalize package on generated values', () => {
    const next = rng(8785);
    for (let i = 0; i < 5000; i++) {
      const v = randomValue(next, 0);
      expect(canonicalJson(v), JSON.stringify(v)).toBe(canonicalize(v));
    }
  });

  it('sorts keys by UTF-16 code units, integer-like keys included', () => {
    const v = JSON.parse('{"b":1,"a":2,"10":3,"9":4,"\u00e9":5,"\ud83d\ude00":6,"\uff61":7,"__proto__":8}') as unknown;
    expect(canonicalJson(v)).toBe('{"10":3,"9":4,"__proto__":8,"a":2,"b":1,"\u00e9":5,"\ud83d\ude00":6,"\uff61":7}');
    expect(canonicalJson(v)).toBe(canonicalize(v));
  });

  it('formats numbers as ECMAScript does (RFC 8785 §3.2.2.3 samples)', () => {
    const samples: [number, string][] = [
      [0, '0'], [-0, '0'], [1e21, '1e+21'], [1e-7, '1e-7'], [333333333.3333333, '333333333.3333333'], [5e-324, '5e-324'],
      [9007199254740991, '9007199254740991'], [0.000001, '0.000001'], [1e23, '1e+23'], [4.5, '4.5'], [2e-3, '0.002'],
    ];
    for (const [n, s] of samples) expect(canonicalJson({ n })).toBe(`{"n":${s}}`);
  });

  it('is the leaf: bytes are UTF-8 of the canonical text, hash is SHA-256(0x00 || bytes)', () => {
    const e = { ...base, itemId: 'édit', state: 'done' };
    const bytes = canonicalEventBytes(e);
    expect(bytes.toString('utf8')).toBe('{"at":"2026-11-23T03:00:00.000Z","itemId":"édit","runId":"r0abc","seq":3,"state":"done","type":"item"}');
    expect(eventLeafHash(e).equals(hashLeaf(bytes))).toBe(true);
  });

  it('does not depend on key order', () => {
    const a = { ...base, nested: { z: 1, a: [{ y: 2, b: 3 }] } };
    const b = { nested: { a: [{ b: 3, y: 2 }], z: 1 }, type: 'item', at: base.at, runId: 'r0abc', seq: 3 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('refuses what has no canonical form', () => {
    for (const v of [NaN, Infinity, -Infinity, '\ud800', { '\udc00': 1 }, undefined, () => 1, 1n, new Date(0), new Map(), Symbol('s')]) {
      expect(() => canonicalJson(v)).toThrow();
    }
  });
});

describe('checkedEventJson (the sealing path: canonical JSON and validation in one walk)', () => {
  /** Events built from random values plus one of the mutations validation must catch. */
  function randomEvent(next: () => number): unknown {
    const e: Record<string, unknown> = { ...base, seq: randomInt(next, 1000) };
    for (let i = randomInt(next, 4); i > 0; i--) e[['payload', 'inputs', 'x', '9', 'refs'][randomInt(next, 5)] as string] = randomValue(next, 1);
    const mutations: (() => void)[] = [
      () => undefined,
      () => undefined,
      () => (e['seq'] = [-1, 1.5, '1', 2 ** 53][randomInt(next, 4)]),
      () => (e['runId'] = ['', 7, undefined][randomInt(next, 3)]),
      () => delete e['type'],
      () => (e['at'] = 5),
      () => (e['token'] = ['abc', 'ref:x', '', 7, 'ref: x'][randomInt(next, 5)]),
      () => (e['inputs'] = { headers: { Authorization: ['Bearer x', 'vault:kv/x'][randomInt(next, 2)] } }),
      () => (e['n'] = [2 ** 53, -(2 ** 60), 1.5, NaN][randomInt(next, 4)]),
      () => (e['s'] = ['\ud800', 'ok'][randomInt(next, 2)]),
      () => {
        let v: unknown = 1;
        for (let d = 29 + randomInt(next, 5); d > 0; d--) v = [v];
        e['deep'] = v;
      },
      () => (e['when'] = new Date(0)),
      () => (e['u'] = undefined),
      // eslint-disable-next-line no-sparse-arrays
      () => (e['holes'] = [1, , 2]),
      () => (e['apiKeys'] = ['env:A', 'sk-live']),
      () => Object.defineProperty(e, '__proto__', { value: { password: 'p' }, enumerable: true }),
      () => (e['10'] = { secret: 'ref:ok' }),
    ];
    (mutations[randomInt(next, mutations.length)] as () => void)();
    return e;
  }

  it('accepts exactly what eventProblems accepts, and then equals canonicalize', () => {
    const next = rng(2024);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const e = randomEvent(next);
      const problems = eventProblems(e);
      const text = checkedEventJson(e);
      if (problems.length > 0) {
        expect(text, `${JSON.stringify(problems)}`).toBeUndefined();
        refused += 1;
      } else {
        expect(text).toBe(canonicalize(e));
        accepted += 1;
      }
    }
    expect(accepted).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(500);
  });

  it('applies the depth limit at the same depth as eventProblems', () => {
    const nest = (d: number): unknown => (d === 0 ? 1 : [nest(d - 1)]);
    for (const d of [30, 31, 32, 33]) {
      const e = { ...base, deep: nest(d) };
      expect(checkedEventJson(e) === undefined, `depth ${d}`).toBe(eventProblems(e).length > 0);
    }
  });
});

describe('validateEvent', () => {
  const problem = (e: unknown): string => {
    const p = eventProblems(e);
    expect(p.length, JSON.stringify(p)).toBeGreaterThan(0);
    return p.join('\n');
  };

  it('accepts the events the system emits', () => {
    const events = [
      { seq: 0, runId: 'r0abc', at: base.at, type: 'run', state: 'accepted', plan: { id: 'fanout-1', items: 4 } },
      { seq: 1, runId: 'r0abc', at: base.at, type: 'lock', lock: 'fixture/alpha.ts', token: 7, action: 'acquired', itemId: 'edit-alpha' },
      { seq: 2, runId: 'r0abc', at: base.at, type: 'item', itemId: 'edit-alpha', state: 'done', resultRef: `agora://agora/result/r0abc.edit-alpha/${'a'.repeat(64)}` },
      { seq: 3, runId: 'r0abc', at: base.at, type: 'item', itemId: 'x', credentials: { ref: 'ref:aws-prod', apiKey: 'env:OPENAI_KEY', token: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' } },
      { seq: 4, runId: 'r0abc', type: 'item', tokens: 123, passwordSet: true, secret: null, authorization: '' },
      Object.assign(Object.create(null) as object, { seq: 5, runId: 'r0abc', type: 'x' }),
    ];
    for (const e of events) expect(eventProblems(e)).toEqual([]);
  });

  it('checks seq, runId and type', () => {
    expect(problem({ ...base, seq: -1 })).toContain('seq: must be a non-negative integer');
    expect(problem({ ...base, seq: 1.5 })).toContain('seq:');
    expect(problem({ ...base, seq: '3' })).toContain('seq:');
    expect(problem({ ...base, seq: 2 ** 53 })).toContain('seq:');
    expect(problem({ ...base, runId: '' })).toContain('runId:');
    expect(problem({ ...base, type: 7 })).toContain('type:');
    expect(problem({ ...base, at: 7 })).toContain('at:');
    expect(problem(null)).toContain('plain object');
    expect(problem([base])).toContain('plain object');
  });

  it('refuses lone surrogates in values and keys', () => {
    expect(problem({ ...base, note: 'a\ud800b' })).toContain('note: string contains a lone surrogate');
    expect(problem({ ...base, note: '\udc00' })).toContain('lone surrogate');
    expect(problem({ ...base, ['k\ud83d']: 1 })).toContain('key contains a lone surrogate');
    expect(eventProblems({ ...base, note: '\ud83d\ude00' })).toEqual([]);
  });

  it('refuses unsafe integers, NaN and Infinity', () => {
    expect(problem({ ...base, n: 2 ** 53 })).toContain('n: integer 9007199254740992 is outside');
    expect(problem({ ...base, n: -(2 ** 53) })).toContain('outside');
    expect(problem({ ...base, n: 1e300 })).toContain('outside');
    expect(problem({ ...base, n: NaN })).toContain('n: NaN is not a JSON number');
    expect(problem({ ...base, deep: [{ n: Infinity }] })).toContain('deep[0].n: Infinity');
    expect(eventProblems({ ...base, n: 2 ** 53 - 1, f: 0.5 })).toEqual([]);
  });

  it('refuses values that are not plain JSON', () => {
    expect(problem({ ...base, when: new Date(0) })).toContain('when: an instance of Date is not a plain object');
    expect(problem({ ...base, m: new Map() })).toContain('not a plain object');
    expect(problem({ ...base, u: undefined })).toContain('u: undefined is not a JSON value');
    expect(problem({ ...base, f: () => 1 })).toContain('f: a function is not a JSON value');
    expect(problem({ ...base, b: 1n })).toContain('b: a bigint is not a JSON value');
    expect(problem({ ...base, s: Symbol('x') })).toContain('not a JSON value');
    expect(problem({ ...base, buf: Buffer.from('x') })).toContain('not a plain object');
    // eslint-disable-next-line no-sparse-arrays
    expect(problem({ ...base, holes: [1, , 3] })).toContain('holes[1]: hole in array');
    expect(problem({ ...base, a: new (class Thing {})() })).toContain('an instance of Thing');
    const circular: Record<string, unknown> = { ...base };
    circular['self'] = circular;
    expect(problem(circular)).toContain('nested deeper than');
  });

  it('refuses secret-looking keys holding literal strings, at any depth', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ password: 'hunter2' }, 'password'],
      [{ dbPassword: 'x' }, 'dbPassword'],
      [{ passwd: 'x' }, 'passwd'],
      [{ token: 'ghp_abcdef' }, 'token'],
      [{ accessToken: 'x' }, 'accessToken'],
      [{ 'x-api-key': 'x' }, '["x-api-key"]'],
      [{ api_key: 'x' }, 'api_key'],
      [{ APIKEY: 'x' }, 'APIKEY'],
      [{ headers: { Authorization: 'Bearer abc' } }, 'headers.Authorization'],
      [{ awsCredentials: 'AKIA...' }, 'awsCredentials'],
      [{ clientSecret: 'x' }, 'clientSecret'],
      [{ private_key: '-----BEGIN' }, 'private_key'],
      [{ tokens: ['ref:a', 'plain'] }, 'tokens[1]'],
      [{ inputs: { env: [{ name: 'X', secret: 'ref x' }] } }, 'inputs.env[0].secret'],
      [{ token: 'ref:' }, 'token'],
    ];
    for (const [extra, path] of cases) {
      const p = problem({ ...base, ...extra });
      expect(p).toContain(`${path}: `);
      expect(p).toContain('looks like a secret');
      // The message never repeats the value.
      expect(p).not.toContain('hunter2');
      expect(p).not.toContain('Bearer abc');
    }
  });

  it('validateEvent throws EventValidationError listing every problem', () => {
    try {
      validateEvent({ ...base, seq: -1, password: 'x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EventValidationError);
      expect((err as EventValidationError).code).toBe('VALUE');
      expect((err as EventValidationError).problems).toHaveLength(2);
    }
  });
});

describe('validateEventSequence', () => {
  const run = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, seq) => ({ ...base, seq }));

  it('accepts seq 0..n-1 of one run, and the empty run', () => {
    expect(() => validateEventSequence(run(5), 'r0abc')).not.toThrow();
    expect(() => validateEventSequence([], 'r0abc')).not.toThrow();
  });

  it('refuses gaps, duplicates, a start other than 0, reordering and other runs', () => {
    const msg = (events: unknown[], runId = 'r0abc'): string => {
      try {
        validateEventSequence(events, runId);
      } catch (err) {
        expect(err).toBeInstanceOf(EventValidationError);
        return (err as Error).message;
      }
      throw new Error('sequence accepted');
    };
    const gap = run(5);
    gap.splice(2, 1);
    expect(msg(gap)).toContain('events[2].seq is 3, expected 2');
    expect(msg([...run(3), { ...base, seq: 2 }])).toContain('events[3].seq is 2, expected 3');
    expect(msg(run(3).slice(1))).toContain('events[0].seq is 1, expected 0');
    const swapped = run(3);
    [swapped[0], swapped[1]] = [swapped[1] as Record<string, unknown>, swapped[0] as Record<string, unknown>];
    expect(msg(swapped)).toContain('events[0].seq is 1, expected 0');
    expect(msg(run(2), 'r0other')).toContain('events[0].runId is "r0abc", expected "r0other"');
    expect(msg([{ ...base, seq: 0, token: 'abc' }])).toContain('events[0].token');
  });
});
