import { createHash } from 'node:crypto';
import type { AuditEvent } from '@agora/audit';

/**
 * The event stream of a realistic run (the fan-out plan of seed 003): run accepted, then per
 * item queued, lock acquired with a fencing token, started, exited, result stored with its
 * content-addressed resultRef, lock released; then the run finishes.
 */
export function syntheticRun(runId: string, items = ['edit-alpha', 'edit-beta', 'edit-shared', 'verify']): AuditEvent[] {
  const events: Record<string, unknown>[] = [];
  let t = Date.parse('2026-11-23T03:00:00.000Z');
  const push = (e: Record<string, unknown>): void => {
    t += 137;
    events.push({ seq: events.length, runId, at: new Date(t).toISOString(), ...e });
  };
  push({ type: 'run', state: 'submitted', planId: 'fanout-1', queue: 'default', items: items.length });
  push({ type: 'run', state: 'accepted' });
  let token = 6;
  for (const itemId of items) {
    const lock = itemId === 'verify' ? undefined : `fixture/${itemId.replace('edit-', '')}.ts`;
    push({ type: 'item', itemId, state: 'queued' });
    if (lock !== undefined) push({ type: 'lock', lock, token: ++token, action: 'acquired', itemId });
    push({ type: 'item', itemId, state: 'running', attempt: 1, target: 'local', credentials: 'ref:local-default' });
    push({ type: 'item', itemId, state: 'exited', exitCode: 0, durationMs: 1234, stdoutBytes: 512, truncated: false });
    const hash = createHash('sha256').update(`${runId}/${itemId}`).digest('hex');
    push({ type: 'item', itemId, state: 'done', resultRef: `agora://agora/result/${runId}.${itemId}/${hash}` });
    if (lock !== undefined) push({ type: 'lock', lock, token, action: 'released', itemId });
  }
  push({ type: 'run', state: 'succeeded', counts: { done: items.length, failed: 0, skipped: 0 } });
  return events as AuditEvent[];
}

/** n small events of one run, for size-driven tests. */
export function manyEvents(runId: string, n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, seq) => ({
    seq,
    runId,
    at: '2026-11-23T03:00:00.000Z',
    type: seq % 3 === 0 ? 'lock' : 'item',
    itemId: `item-${seq % 97}`,
    ...(seq % 3 === 0 ? { lock: `fixture/f${seq % 13}.ts`, token: seq, action: 'acquired' } : { state: 'done', resultRef: `agora://agora/result/${runId}.item/${seq}` }),
  }));
}
