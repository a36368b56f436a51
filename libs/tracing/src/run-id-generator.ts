import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace-base';
import type { TraceContext } from '@agora/core';

/**
 * Random ids, except for the one span built inside `withIds`: it gets the trace and span ids
 * given. A run's root span is made when the run ends, by whichever scheduler is active then,
 * but its ids were chosen at acceptance and every item span already names them as its parent;
 * this is how the SDK is told to use them (it takes ids only from its IdGenerator).
 */
export class RunIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private forced: TraceContext | undefined;

  /** Runs `make` (one synchronous `startSpan`) with the ids forced. */
  withIds<T>(ids: TraceContext, make: () => T): T {
    this.forced = ids;
    try {
      return make();
    } finally {
      this.forced = undefined;
    }
  }

  generateTraceId(): string {
    return this.forced?.traceId ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.forced?.spanId ?? this.random.generateSpanId();
  }
}
