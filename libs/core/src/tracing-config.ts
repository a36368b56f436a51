import { z } from 'zod';
import { ConfigError } from './errors.js';
import { redactRedisUrl } from './redis-url.js';

export const TRACING_EXPORTERS = ['none', 'memory', 'otlp'] as const;
export type TracingExporter = (typeof TRACING_EXPORTERS)[number];

const OTLP_URL_RE = /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/;
const otlpEndpoint = z.string().max(2048).regex(OTLP_URL_RE, 'an http:// or https:// base URL (spans go to <endpoint>/v1/traces)');
/** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL spans are POSTed to, used as given. */
const otlpTracesUrl = z.string().max(2048).regex(OTLP_URL_RE, 'an http:// or https:// URL (spans are POSTed to it as given)');
const serviceName = z.string().min(1).max(256);

/** `tracing` in the config: where OpenTelemetry spans go (see libs/tracing). */
export const tracingConfigSchema = z
  .object({
    /**
     * `none`: no spans are made (the item path pays nothing); `memory`: kept in the process (tests);
     * `otlp`: exported over OTLP/HTTP (JSON) in batches. `OTEL_TRACES_EXPORTER` overrides. @default "none"
     */
    exporter: z.enum(TRACING_EXPORTERS).default('none'),
    /**
     * The OTLP/HTTP base URL; spans are POSTed to `<endpoint>/v1/traces`. `OTEL_EXPORTER_OTLP_ENDPOINT`
     * overrides (and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, a full URL, overrides both).
     * @default "http://localhost:4318"
     */
    endpoint: otlpEndpoint.optional(),
    /** `service.name` of the spans. `OTEL_SERVICE_NAME` overrides. @default "agora" */
    serviceName: serviceName.default('agora'),
  })
  .strict()
  .prefault({});

export type TracingConfig = z.infer<typeof tracingConfigSchema> & {
  /** Where the OTLP exporter POSTs: resolved from the endpoint keys above. */
  readonly tracesUrl?: string;
};

/**
 * A URL-like value with its credentials hidden, as it was given otherwise: `redactRedisUrl` reads a
 * value without a scheme (`collector:4318`) as `redis://…`, a scheme this value never had.
 */
function redactedUrl(value: string): string {
  const shown = redactRedisUrl(value);
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && shown.startsWith('redis://') ? shown.slice('redis://'.length) : shown;
}

/**
 * The standard OpenTelemetry environment variables over the config's `tracing`, as the OTel
 * spec orders them: `OTEL_SDK_DISABLED=true` turns tracing off; `OTEL_TRACES_EXPORTER` (`otlp`,
 * `none`; `memory` too) picks the exporter; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) beats
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (a base: `/v1/traces` is added) beats `tracing.endpoint`;
 * `OTEL_SERVICE_NAME` beats `tracing.serviceName`. A value this project cannot honour (another
 * exporter such as `zipkin`, a URL that is not http) is a ConfigError naming the variable, not
 * silently ignored: spans the operator asked for would otherwise vanish.
 */
export function resolveTracingConfig(cfg: z.infer<typeof tracingConfigSchema>, env: NodeJS.ProcessEnv): TracingConfig {
  // `url`: the value may hold credentials (user:password@, a token in the query): shown redacted.
  const fromEnv = <T>(name: string, schema: z.ZodType<T>, url = false): T | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const r = schema.safeParse(raw.trim());
    const shown = url ? redactedUrl(raw.trim()) : raw;
    if (!r.success) throw new ConfigError(name, r.error.issues.map((i) => `${name}: ${i.message} (got ${JSON.stringify(shown.slice(0, 200))})`));
    return r.data;
  };
  const disabled = fromEnv('OTEL_SDK_DISABLED', z.enum(['true', 'false', 'TRUE', 'FALSE', 'True', 'False'])) ?? 'false';
  // A list is allowed by the spec; one exporter is what a process here sends to.
  const listed = fromEnv('OTEL_TRACES_EXPORTER', z.string().transform((s) => s.split(',').map((x) => x.trim().toLowerCase())).pipe(z.array(z.enum(TRACING_EXPORTERS)).length(1, 'name one exporter: otlp, none or memory')));
  const exporter = disabled.toLowerCase() === 'true' ? 'none' : (listed?.[0] ?? cfg.exporter);
  if (exporter === 'otlp') {
    // The exporter speaks OTLP/HTTP only (JSON bodies; a collector's HTTP port takes them as it
    // takes protobuf). `grpc` would be ignored, every batch sent as HTTP to a gRPC port and lost.
    for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
      fromEnv(name, z.enum(['http/json', 'http/protobuf'], { error: () => 'Agora exports OTLP over HTTP: http/json or http/protobuf (JSON is sent), to the collector\'s HTTP port (4318); grpc is not supported' }));
    }
  }
  const tracesEndpoint = fromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', otlpTracesUrl, true);
  const endpoint = fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT', otlpEndpoint, true) ?? cfg.endpoint ?? 'http://localhost:4318';
  return {
    exporter,
    endpoint,
    serviceName: fromEnv('OTEL_SERVICE_NAME', serviceName) ?? cfg.serviceName,
    tracesUrl: tracesEndpoint ?? `${endpoint.replace(/\/+$/, '')}/v1/traces`,
  };
}
