import { z } from 'zod';
import type { ValidateOptions } from '@agora/core';

/** A field of the deployment hash: a JSON array of names. */
const nameList = z
  .string()
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.array(z.string()));

/**
 * What the active scheduler publishes at `keys(namespace).deployment`: the queues it serves, the
 * targets, executors and config tasks it knows. A field that does not parse counts as not
 * published (the scheduler validates every plan again at acceptance).
 */
export interface Deployment {
  readonly queues?: readonly string[];
  readonly targets?: readonly string[];
  readonly executors?: readonly string[];
  readonly tasks?: readonly string[];
  /** Result sink names (with the built-in `stdout`). */
  readonly resultSinks?: readonly string[];
}

export function parseDeployment(hash: Record<string, string>): Deployment | null {
  if (Object.keys(hash).length === 0) return null;
  const out: { -readonly [K in keyof Deployment]: Deployment[K] } = {};
  for (const field of ['queues', 'targets', 'executors', 'tasks', 'resultSinks'] as const) {
    const r = nameList.safeParse(hash[field]);
    if (r.success) out[field] = r.data;
  }
  return out;
}

function narrow(own: readonly string[] | undefined, published: readonly string[] | undefined): readonly string[] | undefined {
  if (own === undefined) return published;
  if (published === undefined) return own;
  return own.filter((n) => published.includes(n));
}

/**
 * The validation a plan must pass to be accepted: the caller's own options narrowed to what the
 * deployment serves. Both must hold, since the scheduler applies its own lists at acceptance
 * whatever the caller believed. Tasks are not checked here: tasks registered in storage are not
 * in the published list, and the scheduler checks every task at acceptance.
 */
export function deploymentValidation(own: ValidateOptions, d: Deployment | null): ValidateOptions {
  if (d === null) return own;
  const queues = narrow(own.queues, d.queues);
  const targets = narrow(own.targets, d.targets);
  const executors = narrow(own.executors, d.executors);
  const resultSinks = narrow(own.resultSinks, d.resultSinks);
  return { ...own, ...(queues ? { queues } : {}), ...(targets ? { targets } : {}), ...(executors ? { executors } : {}), ...(resultSinks ? { resultSinks } : {}) };
}

/** The executor names a (not yet validated) plan uses: lets the pre-check leave executors to the deployment's list. */
export function executorsNamedIn(plan: unknown): string[] {
  const items = (plan as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return [];
  return items.map((i) => (i as { executor?: unknown } | null)?.executor).filter((e): e is string => typeof e === 'string');
}
