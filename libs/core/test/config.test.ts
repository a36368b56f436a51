import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, compileConfig, loadConfig, parsePlanText } from '@agora/core';

const compile = (text: string) => compileConfig(parsePlanText(text, 'agora.config.json'), 'agora.config.json', '/tmp', {});

describe('config keys the schema would drop or the runner would refuse', () => {
  it.each([
    ['{"queues":{"__proto__":{"concurrency":2}}}', 'queues: the key "__proto__" is not allowed'],
    ['{"tasks":{"__proto__":{"command":["x"]}}}', 'tasks: the key "__proto__" is not allowed'],
    ['{"tasks":{"t":{"command":["x"],"env":{"__proto__":"v"}}}}', 'tasks.t.env: the key "__proto__" is not allowed'],
    ['{"__proto__":{"namespace":"x"}}', '(root): the key "__proto__" is not allowed'],
  ])('refuses a "__proto__" key (%s), which used to vanish silently', (text, problem) => {
    // Before: the schema's copy turned the key into a prototype, so `queues` came out empty
    // and the env entry was gone, and the config loaded.
    expect(() => compile(text)).toThrow(ConfigError);
    expect(() => compile(text)).toThrow(problem);
  });

  it.each([
    [null, 'got null'],
    [Promise.resolve({ namespace: 'x' }), 'the default export is a Promise'],
    [[], 'got an array'],
    ['agora', 'got a string'],
  ])('refuses a config that is not an object of settings (%s), which loaded as the defaults', (raw, problem) => {
    // Before: null and a Promise (a .mjs exporting one) loaded as the defaults, in silence.
    expect(() => compileConfig(raw, 'agora.config.mjs', '/tmp', {})).toThrow(ConfigError);
    expect(() => compileConfig(raw, 'agora.config.mjs', '/tmp', {})).toThrow(problem);
  });

  it('names the file when reading a .mjs config\'s value throws (a getter), as when evaluating it throws', () => {
    // Before: the getter's error escaped as is (exit 1, no file named).
    const raw = Object.defineProperty({}, 'namespace', { enumerable: true, get: () => { throw new Error('boom'); } });
    expect(() => compileConfig(raw, 'agora.config.mjs', '/tmp', {})).toThrow(ConfigError);
    expect(() => compileConfig(raw, 'agora.config.mjs', '/tmp', {})).toThrow('could not read it: boom');
  });

  it('says which rule a queue or result sink name breaks, not zod\'s bare "Invalid key in record"', () => {
    // Before: "queues.Default: Invalid key in record", the rule (lower case) never said.
    expect(() => compile('{"queues":{"Default":{}}}')).toThrow('queues.Default: invalid name "Default": queue names are 1-64 of [a-z0-9_-], starting with a letter or digit');
    expect(() => compile('{"resultSinks":{"a b":{"provider":"stdout"}}}')).toThrow('resultSinks.a b: invalid name "a b": use 1-64 of [A-Za-z0-9_-]');
  });

  it('says "object" where zod says "record" (queues given as a list)', () => {
    // Before: "queues: Invalid input: expected record, received array".
    expect(() => compile('{"queues":["default"]}')).toThrow('queues: Invalid input: expected object, received array');
  });

  it('refuses a config without any queue, which loaded and then refused every plan', () => {
    // Before: runners and the scheduler started serving no queue; validate said "(configured: )".
    expect(() => compile('{"queues":{}}')).toThrow('queues: no queue is configured; give at least one');
  });

  it('refuses a task with an empty name, which validate accepted and the runner failed', () => {
    expect(() => compile('{"tasks":{"":{"command":["true"]}}}')).toThrow('tasks: a task name must not be empty');
  });

  it('says the default target applies when compute providers are named without targets (README\'s provider package snippet)', () => {
    // Before: "targets.local.compute: unknown compute provider \"local\"", about a key the file never wrote.
    const text = '{ "compute": { "nomad": { "provider": "package:@acme/agora-compute-nomad", "options": { "address": "http://nomad:4646" } } } }';
    expect(() => compile(text)).toThrow(/targets\.local\.compute: unknown compute provider "local" \(no "targets" are given, so the default \{ "local": \{ "compute": "local" \} \} applies: name your compute providers in "targets", e\.g\. \{ "local": \{ "compute": "nomad" \} \}\)/);
    // A target the file wrote keeps the short problem.
    expect(() => compile('{ "targets": { "x": { "compute": "gone" } }, "defaultTarget": "x" }')).toThrow(/targets\.x\.compute: unknown compute provider "gone"$/m);
  });

  it('still loads a config holding instances (a .mjs handing a provider a Buffer)', () => {
    const c = compileConfig({ storage: { provider: 'local', options: { blob: Buffer.alloc(4) } } }, 'agora.config.mjs', '/tmp', {});
    expect(Buffer.isBuffer(c.storage.options['blob'])).toBe(true);
  });
});

describe('the config environment variables', () => {
  it('counts an empty AGORA_DATA_DIR or AGORA_NAMESPACE as unset, as the other knobs', () => {
    // Before, an empty AGORA_DATA_DIR made the config's own directory the data dir (keys,
    // artifacts and work dirs spread beside the config), and an empty namespace was refused.
    const c = compileConfig({ namespace: 'mine' }, 'agora.config.json', '/srv/app', { AGORA_DATA_DIR: '', AGORA_NAMESPACE: '' });
    expect(c.dataDir).toBe(path.resolve('/srv/app/.agora'));
    expect(c.namespace).toBe('mine');
    expect(compileConfig({}, 'x', '/srv/app', { AGORA_DATA_DIR: 'd', AGORA_NAMESPACE: 'other' })).toMatchObject({ dataDir: path.resolve('/srv/app/d'), namespace: 'other' });
  });

  it('says the namespace grammar once, for the config key and for AGORA_NAMESPACE', () => {
    // Before: "namespace: namespace: use 1-32 of [a-z0-9_-]" (the key said twice), and for the
    // variable only `invalid namespace "A B"`, no rule at all.
    const rule = 'use 1-32 of [a-z0-9_-], starting with a letter or digit';
    expect(() => compileConfig({ namespace: 'a b' }, 'agora.config.json', '/tmp', {})).toThrow(`namespace: ${rule}`);
    expect(() => compileConfig({ namespace: 'a b' }, 'agora.config.json', '/tmp', {})).not.toThrow('namespace: namespace');
    expect(() => compileConfig({}, 'agora.config.json', '/tmp', { AGORA_NAMESPACE: 'A B' })).toThrow(`invalid namespace "A B": ${rule}`);
  });

  it('counts an empty AGORA_CONFIG as unset: the working directory\'s config file is loaded', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-cfg-'));
    const before = process.env['AGORA_CONFIG'];
    try {
      writeFileSync(path.join(dir, 'agora.config.json'), JSON.stringify({ namespace: 'fromfile' }));
      process.env['AGORA_CONFIG'] = '';
      // Before: "config <dir> is invalid: is a directory, not a config file".
      expect((await loadConfig(undefined, dir)).namespace).toBe('fromfile');
    } finally {
      if (before === undefined) delete process.env['AGORA_CONFIG'];
      else process.env['AGORA_CONFIG'] = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the config file of the working directory', () => {
  it('is refused when both agora.config.json and agora.config.mjs are there, not the .mjs ignored', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-cfg-'));
    const before = process.env['AGORA_CONFIG'];
    try {
      delete process.env['AGORA_CONFIG'];
      writeFileSync(path.join(dir, 'agora.config.mjs'), 'export default { namespace: "frommjs" };\n');
      expect((await loadConfig(undefined, dir)).namespace).toBe('frommjs');
      writeFileSync(path.join(dir, 'agora.config.json'), JSON.stringify({ namespace: 'fromjson' }));
      // Before: the .json loaded in silence ("fromjson"), the .mjs beside it never read.
      await expect(loadConfig(undefined, dir)).rejects.toThrow(ConfigError);
      await expect(loadConfig(undefined, dir)).rejects.toThrow('holds both agora.config.json and agora.config.mjs');
      // Naming one is the way out.
      expect((await loadConfig(path.join(dir, 'agora.config.mjs'), dir)).namespace).toBe('frommjs');
    } finally {
      if (before !== undefined) process.env['AGORA_CONFIG'] = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a config file that is not valid UTF-8', () => {
  it('is refused naming the file, line and byte (JSON and .mjs), not read with U+FFFD', async () => {
    // Before: the 0xe9 (Latin-1 "é") became U+FFFD in silence and the config loaded.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-cfg-'));
    try {
      const json = path.join(dir, 'agora.config.json');
      writeFileSync(json, Buffer.concat([Buffer.from('{\n  "namespace": "caf'), Buffer.from([0xe9]), Buffer.from('"\n}')]));
      await expect(loadConfig(json, dir)).rejects.toThrow(`${json}:2: not valid UTF-8: byte 0xe9 at offset 21 (save the file as UTF-8)`);
      const mjs = path.join(dir, 'agora.config.mjs');
      writeFileSync(mjs, Buffer.concat([Buffer.from("export default { tasks: { t: { command: ['echo', 'caf"), Buffer.from([0xe9]), Buffer.from("'] } } };\n")]));
      await expect(loadConfig(mjs, dir)).rejects.toThrow(`${mjs}:1: not valid UTF-8: byte 0xe9 at offset 53 (save the file as UTF-8)`);
      // A U+FFFD written as UTF-8 is text like any other.
      writeFileSync(json, JSON.stringify({ namespace: 'fine', tasks: { t: { command: ['echo', 'caf\ufffd'] } } }));
      expect((await loadConfig(json, dir)).namespace).toBe('fine');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('redisUrl in the config file', () => {
  it('is refused naming the key when it is the one used, without repeating it', () => {
    // Before: loaded, and every verb then said "REDIS_URL is not a valid Redis URL" with REDIS_URL unset.
    const bad = () => compileConfig({ redisUrl: 'http://:hunter2@127.0.0.1:6379' }, 'agora.config.json', '/tmp', {});
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow('redisUrl is not a valid Redis URL (the scheme is "http:", not redis: or rediss:)');
    expect(bad).not.toThrow('hunter2');
    // REDIS_URL overrides it: the file's value is not used, so not judged.
    expect(compileConfig({ redisUrl: 'http://x' }, 'agora.config.json', '/tmp', { REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
  });
});

describe('intervals and leases in the config', () => {
  it.each([
    ['scheduler', 'leaseMs'],
    ['scheduler', 'inboxLockMs'],
    ['scheduler', 'inboxStalledIntervalMs'],
    ['scheduler', 'repairAfterMs'],
    ['runner', 'lockTtlMs'],
    ['runner', 'jobLockMs'],
    ['runner', 'stalledIntervalMs'],
    ['audit', 'checkpointEveryMs'],
  ])('%s.%s is at most a day: a Node timer past 2^31-1 ms fires after 1 ms', (section, key) => {
    // Before: scheduler.leaseMs 1e11 loaded, and serve renewed its lease in a 1 ms loop,
    // printing thousands of TimeoutOverflowWarning lines.
    const raw = { [section]: { [key]: 100_000_000_000 } };
    expect(() => compileConfig(raw, 'agora.config.json', '/tmp', {})).toThrow(`${section}.${key}: at most a day (86400000 ms)`);
    expect(compileConfig({ [section]: { [key]: 86_400_000 } }, 'agora.config.json', '/tmp', {})).toBeTruthy();
  });
});
