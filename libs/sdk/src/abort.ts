/** What `unlessAborted` answers when the signal aborted first. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * `work`'s value, or `ABORTED` as soon as `signal` aborts, whichever comes first. A watch checks
 * its signal between reads, but a read may wait a long time (a blocking XREAD, an SSE body with
 * nothing to say): racing each wait against the signal ends the watch on the abort itself. The
 * caller still owns the work's resources (drop its connection); a later rejection is swallowed.
 */
export async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (!signal) return work;
  work.catch(() => undefined);
  if (signal.aborted) return ABORTED;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
