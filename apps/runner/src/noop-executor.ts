import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationError, CancelledError, ProviderError } from '@agora/core';
import type { Executor, ExecutorContext, ExecutorResult } from './executor.js';

/**
 * Returns its inputs. For tests and benchmarks: `sleepMs` waits (abortably), `fail: true` (or a
 * message) fails the item, `fail: "infra"` raises a retryable infrastructure failure.
 */
export const noopExecutor: Executor = {
  name: 'noop',
  async execute(ctx: ExecutorContext): Promise<ExecutorResult> {
    const { sleepMs, fail } = ctx.inputs as { sleepMs?: unknown; fail?: unknown };
    if (typeof sleepMs === 'number' && sleepMs > 0) {
      try {
        await sleep(Math.min(sleepMs, 3_600_000), undefined, { signal: ctx.signal });
      } catch {
        throw new CancelledError(`noop ${ctx.itemId} stopped: ${String(ctx.signal.reason ?? 'cancelled')}`);
      }
    }
    if (ctx.signal.aborted) throw new CancelledError(`noop ${ctx.itemId} stopped: ${String(ctx.signal.reason ?? 'cancelled')}`);
    if (fail === 'infra') throw new ProviderError('noop', `noop ${ctx.itemId}: simulated infrastructure failure`);
    if (fail === true || (typeof fail === 'string' && fail !== '')) {
      throw new ApplicationError(typeof fail === 'string' ? fail : `noop ${ctx.itemId}: failed as asked`, 1);
    }
    return { output: JSON.stringify(ctx.inputs) };
  },
};
