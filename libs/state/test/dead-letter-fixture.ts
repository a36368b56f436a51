import type { DeadLetter } from '@agora/state';

/** A dead-letter record of a noop item that failed once, for the store's tests. */
export const letter = (runId: string, itemId: string, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  id: '',
  runId,
  itemId,
  queue: 'default',
  executor: 'noop',
  inputsHash: 'h',
  inputs: { n: itemId },
  resourceLocks: [],
  dependsOn: [],
  dependencies: {},
  attempts: 1,
  errorCode: 'APPLICATION',
  error: 'boom',
  failedAt: new Date().toISOString(),
  ...extra,
});
