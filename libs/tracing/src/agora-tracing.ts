import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, type BufferConfig, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger, TraceContext, TracingConfig } from '@agora/core';
import { RunIdGenerator } from './run-id-generator.js';

/** The steps of an item that get a child span of their own. */
export type ItemStep = 'lock.wait' | 'provider.run' | 'storage.put';

/** Span names: low-cardinality, the ids are attributes. */
export const SPAN_NAMES = { run: 'agora.run', item: 'agora.item' } as const;

/** A step's span: end it once (an error marks it failed). */
export interface StepSpan {
  end(opts?: { readonly error?: string; readonly endTime?: number }): void;
}

/** One attempt of one item: the span every step of it hangs under. */
export interface ItemSpan {
  /** Starts a child span for a step (`startTime` in epoch ms when it began earlier). */
  step(name: ItemStep, startTime?: number): StepSpan;
  /** Ends the span with the attempt's outcome: `done`, `failed`, `cancelled`, or `retry`, `handedBack`, … */
  end(outcome: { readonly state: string; readonly error?: string }): void;
}

/** What an item span records about its item (attributes `agora.*`). */
export interface ItemSpanFacts {
  readonly runId: string;
  readonly itemId: string;
  readonly queue: string;
  readonly attempt: number;
  readonly executor: string;
  readonly runner: string;
  /** The item's dependencies (`agora.depends_on`): the DAG, readable from the trace. */
  readonly dependsOn: readonly string[];
  readonly locks: readonly string[];
  /** When the attempt began (epoch ms): the first refusal of its locks, if it waited, else its start. */
  readonly startTime: number;
}

/** What the run's root span records (see `RunStore.runTrace`). */
export interface RunSpanFacts {
  readonly trace: TraceContext;
  readonly runId: string;
  readonly planId: string;
  readonly queue: string;
  readonly state: string;
  readonly items: number;
  readonly counts: Readonly<Record<'done' | 'failed' | 'skipped' | 'cancelled', number>>;
  /** Acceptance (epoch ms): the run span starts there. */
  readonly startTime: number;
  readonly endTime: number;
}

/**
 * The tracer of one Agora process. `enabled` is false for the `none` exporter: then every span
 * is the one shared no-op object, made once, and nothing else happens on the item path.
 */
export interface AgoraTracing {
  readonly enabled: boolean;
  readonly exporter: TracingConfig['exporter'];
  /**
   * Starts an item attempt's span as a child of the run's span (a remote parent: the scheduler
   * made it), or as a root when the job carries no trace context (a job added by hand).
   */
  startItem(parent: TraceContext | undefined, facts: ItemSpanFacts): ItemSpan;
  /** Records the run's root span with the ids chosen at acceptance (the items' parent), after the run ended. */
  recordRun(facts: RunSpanFacts): void;
  /** Spans finished so far (`memory` exporter; empty otherwise). */
  finishedSpans(): ReadableSpan[];
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered and stops; spans ended afterwards are dropped. */
  shutdown(): Promise<void>;
}

/** One OTLP export (and so a flush on shutdown) gives up after this long. */
const EXPORT_TIMEOUT_MS = 5000;

const NOOP_STEP: StepSpan = { end: () => undefined };
/** The span every item gets under the `none` tracer: one shared object. */
export const NOOP_ITEM_SPAN: ItemSpan = { step: () => NOOP_STEP, end: () => undefined };

/** The `none` tracer: no provider, no exporter, no span objects. */
export const NOOP_TRACING: AgoraTracing = {
  enabled: false,
  exporter: 'none',
  startItem: () => NOOP_ITEM_SPAN,
  recordRun: () => undefined,
  finishedSpans: () => [],
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

export interface AgoraTracingOptions {
  /** Which process this is (`agora.component` on the resource: scheduler, runner). */
  readonly component?: string;
  /**
   * Buffered spans are exported this often (BatchSpanProcessor `scheduledDelayMillis`), over
   * `OTEL_BSP_SCHEDULE_DELAY`. @default OTEL_BSP_SCHEDULE_DELAY, else 2000
   */
  readonly exportDelayMs?: number;
  /**
   * Where a failed OTLP export is reported (`warn`, the first at once, then at most one a minute
   * with the count held back): a collector that is down or an endpoint that is wrong would
   * otherwise drop every span in silence.
   */
  readonly logger?: Logger;
}

/** Failed exports are logged at most this often (a collector down fails every batch). */
const EXPORT_WARN_EVERY_MS = 60_000;

/** The OTLP exporter, with its failures logged (throttled) instead of dropped unseen. */
function reportingExporter(inner: SpanExporter, url: string, logger: Logger | undefined): SpanExporter {
  if (logger === undefined) return inner;
  // Never the credentials a URL may carry, nor its query.
  let shown = url;
  try {
    const u = new URL(url);
    shown = `${u.origin}${u.pathname}`;
  } catch {
    // compileConfig checked it is an http(s) URL; keep what was given.
  }
  let lastWarn = 0;
  let heldBack = 0;
  return {
    export(spans, done) {
      inner.export(spans, (result) => {
        // ExportResultCode.SUCCESS is 0.
        if (result.code !== 0) {
          const now = Date.now();
          if (now - lastWarn >= EXPORT_WARN_EVERY_MS) {
            logger.warn({ url: shown, spans: spans.length, err: result.error?.message ?? 'export failed', ...(heldBack > 0 ? { failuresNotLogged: heldBack } : {}) }, 'traces not exported; these spans are dropped');
            lastWarn = now;
            heldBack = 0;
          } else heldBack++;
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

/**
 * The tracer the config asks for (`tracing`, with the OTEL_* variables already applied by
 * `compileConfig`): `none` → {@link NOOP_TRACING}; `memory` → an in-process exporter
 * (`finishedSpans()`), spans handed over as they end; `otlp` → OTLP/HTTP JSON to
 * `tracing.tracesUrl`, in batches. The provider is private to this object (never registered as
 * the global one), so several runners in one process, or a host application's own
 * OpenTelemetry setup, do not interfere.
 */
export function createAgoraTracing(config: TracingConfig, opts: AgoraTracingOptions = {}): AgoraTracing {
  if (config.exporter === 'none') return NOOP_TRACING;
  const memory = config.exporter === 'memory' ? new InMemorySpanExporter() : undefined;
  const processor: SpanProcessor = memory
    ? new SimpleSpanProcessor(memory)
    : new BatchSpanProcessor(
        reportingExporter(
          new OTLPTraceExporter({ ...(config.tracesUrl !== undefined ? { url: config.tracesUrl } : {}), timeoutMillis: EXPORT_TIMEOUT_MS }),
          config.tracesUrl ?? 'http://localhost:4318/v1/traces',
          opts.logger,
        ),
        batchConfig(opts),
      );
  const ids = new RunIdGenerator();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, ...(opts.component ? { 'agora.component': opts.component } : {}) }),
    idGenerator: ids,
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('agora');
  return {
    enabled: true,
    exporter: config.exporter,
    startItem: (parent, facts) => startItemSpan(tracer, parent, facts),
    recordRun(facts) {
      // The run span must carry the ids every item span already names as its parent: the id
      // generator hands them to this one span (startSpan is synchronous, so nothing interleaves).
      const span = ids.withIds(facts.trace, () =>
        tracer.startSpan(
          SPAN_NAMES.run,
          {
            root: true,
            kind: SpanKind.INTERNAL,
            startTime: facts.startTime,
            attributes: {
              'agora.run_id': facts.runId,
              'agora.plan_id': facts.planId,
              'agora.queue': facts.queue,
              'agora.state': facts.state,
              'agora.items': facts.items,
              'agora.items.done': facts.counts.done,
              'agora.items.failed': facts.counts.failed,
              'agora.items.skipped': facts.counts.skipped,
              'agora.items.cancelled': facts.counts.cancelled,
            },
          },
          ROOT_CONTEXT,
        ),
      );
      if (facts.state !== 'succeeded') span.setStatus({ code: SpanStatusCode.ERROR, message: `run ${facts.state}` });
      span.end(Math.max(facts.endTime, facts.startTime));
    },
    finishedSpans: () => memory?.getFinishedSpans() ?? [],
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * The batch processor's settings: ours, except where the standard `OTEL_BSP_*` variable is set
 * (the SDK then reads it). Ours: export every 2 s; a collector that does not answer holds a
 * process's shutdown 5 s at most; at most 8192 spans wait in memory while it is down (the rest
 * are dropped, counted by the SDK's own diagnostics).
 */
function batchConfig(opts: AgoraTracingOptions): BufferConfig {
  const ours: Array<[keyof BufferConfig, string, number]> = [
    ['scheduledDelayMillis', 'OTEL_BSP_SCHEDULE_DELAY', 2000],
    ['exportTimeoutMillis', 'OTEL_BSP_EXPORT_TIMEOUT', EXPORT_TIMEOUT_MS],
    ['maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE', 8192],
  ];
  const out: BufferConfig = {};
  for (const [key, envName, value] of ours) if (!process.env[envName]) out[key] = value;
  if (opts.exportDelayMs !== undefined) out.scheduledDelayMillis = opts.exportDelayMs;
  return out;
}

function startItemSpan(tracer: Tracer, parent: TraceContext | undefined, f: ItemSpanFacts): ItemSpan {
  const parentCtx = parent
    ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true })
    : ROOT_CONTEXT;
  const attributes: Attributes = {
    'agora.run_id': f.runId,
    'agora.item_id': f.itemId,
    'agora.queue': f.queue,
    'agora.attempt': f.attempt,
    'agora.executor': f.executor,
    'agora.runner': f.runner,
    'agora.depends_on': [...f.dependsOn],
  };
  if (f.locks.length > 0) attributes['agora.locks'] = [...f.locks];
  const span = tracer.startSpan(SPAN_NAMES.item, { kind: SpanKind.CONSUMER, startTime: f.startTime, attributes }, parentCtx);
  const within = trace.setSpan(ROOT_CONTEXT, span);
  return {
    step(name, startTime) {
      const child = tracer.startSpan(name, startTime !== undefined ? { startTime } : {}, within);
      return { end: (o) => endSpan(child, o?.error, o?.endTime) };
    },
    end(outcome) {
      span.setAttribute('agora.state', outcome.state);
      endSpan(span, outcome.error);
    },
  };
}

function endSpan(span: Span, error: string | undefined, endTime?: number): void {
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error.slice(0, 1000) });
  span.end(endTime);
}
