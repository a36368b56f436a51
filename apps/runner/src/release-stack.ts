/**
 * What an item holds while it runs (its locks, its place in the running set, a listener), released
 * last-in-first-out on every path out, whatever threw: the reverse of the order it was taken in.
 */
export class ReleaseStack {
  private readonly steps: Array<() => void | Promise<void>> = [];

  /** Adds a release step; it runs before the steps added earlier. */
  defer(step: () => void | Promise<void>): void {
    this.steps.push(step);
  }

  /** Runs every step, newest first; each runs even if an earlier one threw (the first error is rethrown). */
  async releaseAll(): Promise<void> {
    let first: unknown;
    let failed = false;
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (err) {
        if (!failed) first = err;
        failed = true;
      }
    }
    if (failed) throw first;
  }
}
