import { describe, expect, it } from 'vitest';
import { ConfigError, compileConfig, parsePlanText } from '@agora/core';

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

  it('refuses a task with an empty name, which validate accepted and the runner failed', () => {
    expect(() => compile('{"tasks":{"":{"command":["true"]}}}')).toThrow('tasks: a task name must not be empty');
  });

  it('still loads a config holding instances (a .mjs handing a provider a Buffer)', () => {
    const c = compileConfig({ storage: { provider: 'local', options: { blob: Buffer.alloc(4) } } }, 'agora.config.mjs', '/tmp', {});
    expect(Buffer.isBuffer(c.storage.options['blob'])).toBe(true);
  });
});
