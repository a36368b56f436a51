import type { Executor } from '@agora/runner';

/**
 * An executor that holds each item it runs until `release()` is called: a test keeps an item
 * running while it does something to the fleet (edits a job, removes one), then lets it finish.
 */
export function gateExecutor(name = 'gate'): { executor: Executor; release: () => void } {
  let open: () => void = () => undefined;
  return {
    executor: {
      name,
      async execute() {
        await new Promise<void>((r) => (open = r));
        return { output: name };
      },
    },
    release: () => open(),
  };
}
