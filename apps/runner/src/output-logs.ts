import { ApplicationError, type Logger, type StorageProvider } from '@agora/core';

/** Most bytes of each stream kept as a log artifact: the last ones (a log's end says what went wrong). */
export const LOG_ARTIFACT_MAX_BYTES = 1024 * 1024;

/** Where an item's output streams were stored: the `logRefs` of its `done` or `failed` event. */
export interface LogRefs {
  stdout?: string;
  stderr?: string;
}

/**
 * Stores a worker's output streams as artifacts of types `stdout` and `stderr`, named
 * `<runId>.<itemId>` (so `GET /api/runs/:id/items/:item/logs` works whatever the provider: the
 * runner has the streams from every one). The text is already scrubbed of secret values (the
 * provider and the dispatch executor scrub it). Best effort: a storage failure here is logged
 * and the item ends without the ref, never failed for its logs. Returns undefined when there was
 * nothing to store.
 */
export async function storeOutputLogs(
  ctx: { storage: StorageProvider; namespace: string; logger: Logger },
  runId: string,
  itemId: string,
  streams: { stdout?: string | undefined; stderr?: string | undefined },
): Promise<LogRefs | undefined> {
  const refs: LogRefs = {};
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = streams[stream];
    if (text === undefined || text === '') continue;
    const bytes = Buffer.from(text, 'utf8');
    const kept = bytes.length > LOG_ARTIFACT_MAX_BYTES ? bytes.subarray(bytes.length - LOG_ARTIFACT_MAX_BYTES) : bytes;
    try {
      // The event records the pinned URI, so the name index may trail (deferIndex).
      refs[stream] = (await ctx.storage.put(`agora://${ctx.namespace}/${stream}/${runId}.${itemId}`, kept, { deferIndex: true })).uri;
    } catch (err) {
      ctx.logger.warn({ runId, itemId, stream, err: (err as Error).message }, 'could not store the item output log');
    }
  }
  return refs.stdout !== undefined || refs.stderr !== undefined ? refs : undefined;
}

/** The output a failure carries (an application's exit, through ApplicationError), as streams to store. */
export function failureStreams(error: Error): { stdout?: string; stderr?: string } | undefined {
  if (!(error instanceof ApplicationError) || !error.output) return undefined;
  return { stdout: error.output.stdoutTail, stderr: error.output.stderrTail };
}
