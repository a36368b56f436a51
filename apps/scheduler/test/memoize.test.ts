import { describe, expect, it } from 'vitest';
import { compileConfig, validatePlan, type Plan } from '@agora/core';
import { taskDefinitionHash } from '@agora/registry';
import { itemInputsHash } from '@agora/state';
import { memoBases, planTasks } from '../src/memoize.js';

/** Which items are memoized (item > task > queue, `false` wins where it is said) and what their base hashes cover. */
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const PINNED = `registry.example/worker@sha256:${'a'.repeat(64)}`;

function setup(queueMemo: boolean | undefined) {
  const config = compileConfig(
    {
      queues: { default: { concurrency: 1, ...(queueMemo !== undefined ? { memoize: queueMemo } : {}) } },
      tasks: {
        on: { command: ['true'], memoize: true },
        off: { command: ['true'], memoize: false },
        plain: { command: ['true'] },
        tagged: { image: 'registry.example/worker:latest', memoize: true },
        pinned: { image: PINNED, memoize: true },
      },
    },
    'test',
    '/tmp',
    {},
  );
  const v = validatePlan({
    id: 'p',
    items: [
      { id: 'task-on', executor: 'dispatch', inputs: { task: 'on' } },
      { id: 'task-off', executor: 'dispatch', inputs: { task: 'off' } },
      { id: 'item-off', executor: 'dispatch', inputs: { task: 'on' }, memoize: false },
      { id: 'item-on', executor: 'dispatch', inputs: { task: 'off' }, memoize: true },
      { id: 'queue', executor: 'dispatch', inputs: { task: 'plain' } },
      { id: 'noop', executor: 'noop', inputs: { a: 1 } },
      { id: 'tagged', executor: 'dispatch', inputs: { task: 'tagged' } },
      { id: 'pinned', executor: 'dispatch', inputs: { task: 'pinned' } },
    ],
  });
  if (!v.ok) throw new Error(v.problems.join('; '));
  return { config, plan: v.plan as Plan };
}

async function memoized(queueMemo: boolean | undefined): Promise<Map<string, string>> {
  const { config, plan } = setup(queueMemo);
  const tasks = await planTasks(plan, config, new Map(), () => Promise.reject(new Error('no registered tasks')));
  return memoBases(plan, config, tasks, new Map(plan.items.map((it) => [it.id, itemInputsHash(it.inputs)])), silent);
}

describe('memoBases', () => {
  it('the most specific level decides: item, then task, then queue; an unpinned image is never memoized', async () => {
    expect([...(await memoized(undefined)).keys()].sort()).toEqual(['item-on', 'pinned', 'task-on']);
    expect([...(await memoized(true)).keys()].sort()).toEqual(['item-on', 'noop', 'pinned', 'queue', 'task-on']);
    expect([...(await memoized(false)).keys()].sort()).toEqual(['item-on', 'pinned', 'task-on']);
  });

  it('bases differ with the task definition and the inputs', async () => {
    const bases = await memoized(true);
    // task-on and item-off would share inputs; item-on names another task than task-on.
    expect(new Set(bases.values()).size).toBe(bases.size);
    const { config } = setup(true);
    expect(taskDefinitionHash(config.tasks['on']!)).not.toBe(taskDefinitionHash(config.tasks['plain']!));
  });
});
