import type { DispatchResult, Logger, ProviderHealth, ResultSink } from '@agora/core';

/**
 * The `stdout` result sink as a provider: one structured log line (`item result`, info) per
 * terminal result, in the runner's process, at the item's end. The implicit default sink named
 * `stdout` is today's behaviour and calls nothing: the runner's own `item ended` line is its
 * output. Configure `{ "provider": "stdout" }` under a name to get the full result line.
 */
export class StdoutResultSink implements ResultSink {
  readonly name = 'stdout';
  readonly delivery = 'inline';

  constructor(private readonly logger: Logger) {}

  async health(): Promise<ProviderHealth> {
    return { ok: true, message: 'each result as an "item result" line of the runner\'s log' };
  }

  async collect(result: DispatchResult): Promise<void> {
    this.logger.info({ ...result }, 'item result');
  }
}
