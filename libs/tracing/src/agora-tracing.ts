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

/** One OTLP export (and so a flush on shutdown) gives up after this long, unless OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT says otherwise. */
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
   * Where a failing OTLP export is reported (`span export failed`, `span export recovered`):
   * without it a collector that refuses or is down loses every span silently.
   */
  readonly logger?: Logger;
  /** A failing export is logged again at most this often (with the count since). @default 60000 */
  readonly exportLogEveryMs?: number;
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
    : new BatchSpanProcessor(otlpExporter(config, opts), batchConfig(opts));
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

function otlpExporter(config: TracingConfig, opts: AgoraTracingOptions): SpanExporter {
  // Our timeout unless the standard variable sets one (a value given here would win over it); a
  // value the SDK would refuse (not a positive number) leaves ours, not the SDK's 10 s default.
  const envTimeout = ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'].some((name) => Number(process.env[name]?.trim() || NaN) > 0);
  const otlp = new OTLPTraceExporter({ ...(config.tracesUrl !== undefined ? { url: config.tracesUrl } : {}), ...(envTimeout ? {} : { timeoutMillis: EXPORT_TIMEOUT_MS }) });
  return opts.logger ? new LoggedExporter(otlp, opts.logger, config.tracesUrl ?? 'http://localhost:4318/v1/traces', opts.exportLogEveryMs ?? 60_000) : otlp;
}

/** An OTLP endpoint as a log line may show it: no user, password, query or fragment (tokens live there). */
export function shownEndpoint(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * The OTLP exporter, its outcomes logged: the SDK reports a failed export only to OpenTelemetry's
 * diag logger, which nobody reads, and drops the batch. A failure is a `warn` unless one was
 * written less than `everyMs` ago; then it is counted, and the next `warn` says how many exports
 * failed (and spans were lost) since the last line. The first success after a logged failure is
 * an `info`. So a collector that is down, or flaps, costs at most a line or two a minute.
 */
class LoggedExporter implements SpanExporter {
  private readonly endpoint: string;
  /** Failed exports, and their spans, since the last `warn`. */
  private failedSince = 0;
  private spansLostSince = 0;
  /** Failed exports since the last success, and whether a `warn` told of them. */
  private failedInOutage = 0;
  private warnedInOutage = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
    private readonly rawUrl: string,
    private readonly everyMs: number,
  ) {
    this.endpoint = shownEndpoint(rawUrl);
  }

  export(spans: ReadableSpan[], resultCallback: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      try {
        // ExportResultCode.SUCCESS is 0 (@opentelemetry/core, not a dependency of ours).
        if (result.code === 0) this.succeeded();
        else this.failed(spans.length, result.error);
      } catch {
        // Logging must never keep the result from the batch processor.
      }
      resultCallback(result);
    });
  }

  private failed(spans: number, error: unknown): void {
    this.failedSince++;
    this.spansLostSince += spans;
    this.failedInOutage++;
    const now = Date.now();
    if (now - this.lastWarnAt < this.everyMs) return;
    this.logger.warn({ endpoint: this.endpoint, err: this.describe(error), failures: this.failedSince, spansLost: this.spansLostSince }, 'span export failed');
    this.lastWarnAt = now;
    this.warnedInOutage = true;
    this.failedSince = 0;
    this.spansLostSince = 0;
  }

  private succeeded(): void {
    if (this.failedInOutage === 0) return;
    if (this.warnedInOutage) this.logger.info({ endpoint: this.endpoint, failures: this.failedInOutage }, 'span export recovered');
    this.failedInOutage = 0;
    this.warnedInOutage = false;
  }

  /** The error in one line: an HTTP answer as its status (the exporter's error has the code), never the raw URL. */
  private describe(error: unknown): string {
    const e = error as { message?: unknown; code?: unknown } | undefined;
    const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(error ?? 'unknown error');
    const text = typeof e?.code === 'number' ? `HTTP ${e.code} ${message}` : message;
    return text.split(this.rawUrl).join(this.endpoint).slice(0, 300);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
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
