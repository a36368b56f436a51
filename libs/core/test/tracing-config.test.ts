import { describe, expect, it } from 'vitest';
import { ConfigError, compileConfig } from '@agora/core';

/** `tracing` in the config and the standard OpenTelemetry environment variables over it. */

const tracing = (raw: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = {}) =>
  compileConfig(raw === undefined ? {} : { tracing: raw }, 'agora.config.json', '/tmp', env).tracing;

const problemsOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
};

describe('tracing config', () => {
  it('defaults to no tracing, service "agora", the collector on localhost:4318', () => {
    expect(tracing(undefined)).toEqual({ exporter: 'none', endpoint: 'http://localhost:4318', serviceName: 'agora', tracesUrl: 'http://localhost:4318/v1/traces' });
  });

  it('takes exporter, endpoint (a base URL) and serviceName from the file', () => {
    expect(tracing({ exporter: 'otlp', endpoint: 'http://collector:4318/', serviceName: 'fleet' })).toEqual({
      exporter: 'otlp',
      endpoint: 'http://collector:4318/',
      serviceName: 'fleet',
      tracesUrl: 'http://collector:4318/v1/traces',
    });
    expect(tracing({ exporter: 'memory' }).exporter).toBe('memory');
  });

  it('OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME override the file', () => {
    const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318', OTEL_SERVICE_NAME: 'agora-prod' };
    expect(tracing({ exporter: 'none', endpoint: 'http://ignored:1', serviceName: 'x' }, env)).toEqual({
      exporter: 'otlp',
      endpoint: 'https://otel.example:4318',
      serviceName: 'agora-prod',
      tracesUrl: 'https://otel.example:4318/v1/traces',
    });
    expect(tracing({ exporter: 'otlp' }, { OTEL_TRACES_EXPORTER: 'none' }).exporter).toBe('none');
  });

  it('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is, over the base endpoint', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom/path' };
    expect(tracing({ exporter: 'otlp' }, env).tracesUrl).toBe('http://traces:9999/custom/path');
  });

  it('OTEL_SDK_DISABLED=true turns tracing off whatever else asks for it', () => {
    expect(tracing({ exporter: 'otlp' }, { OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }).exporter).toBe('none');
    expect(tracing({ exporter: 'otlp' }, { OTEL_SDK_DISABLED: 'false' }).exporter).toBe('otlp');
  });

  it('refuses an exporter it cannot honour and a non-http endpoint, naming the key or variable', () => {
    expect(problemsOf(() => tracing({}, { OTEL_TRACES_EXPORTER: 'zipkin' })).join('\n')).toMatch(/^OTEL_TRACES_EXPORTER: .*"zipkin"/);
    expect(problemsOf(() => tracing({}, { OTEL_TRACES_EXPORTER: 'otlp,console' })).join('\n')).toMatch(/OTEL_TRACES_EXPORTER: name one exporter/);
    expect(problemsOf(() => tracing({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' })).join('\n')).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT: an http/);
    expect(problemsOf(() => tracing({ exporter: 'jaeger' }))[0]).toMatch(/^tracing\.exporter: /);
    // The gRPC protocol cannot be honoured (the exporter sends OTLP/HTTP): refused while exporting, not ignored.
    expect(problemsOf(() => tracing({ exporter: 'otlp' }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).join('\n')).toMatch(/^OTEL_EXPORTER_OTLP_PROTOCOL: .*grpc is not supported \(got "grpc"\)/);
    expect(problemsOf(() => tracing({}, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).join('\n')).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: /);
    expect(tracing({ exporter: 'otlp' }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).exporter).toBe('otlp');
    expect(tracing({ exporter: 'otlp' }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }).exporter).toBe('otlp');
    // With tracing off the variable is someone else's.
    expect(tracing({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).exporter).toBe('none');
    expect(problemsOf(() => tracing({ endpoint: 'collector:4318' }))[0]).toMatch(/^tracing\.endpoint: an http/);
    expect(problemsOf(() => tracing({ sampler: 'always' }))[0]).toMatch(/^tracing: .*sampler/);
  });

  it('never repeats credentials of a refused endpoint, and says the traces endpoint is used as given', () => {
    for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
      const text = problemsOf(() => tracing({}, { [name]: 'ftp://u:SECRETPW@collector/x?token=TOK123' })).join('\n');
      expect(text).toContain(`${name}: an http`);
      expect(text).not.toContain('SECRETPW');
      expect(text).not.toContain('TOK123');
      expect(text).toContain('u:***@collector');
    }
    expect(problemsOf(() => tracing({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://c:4317' })).join('\n')).toMatch(/spans are POSTed to it as given/);
  });

  it('shows a refused endpoint without a scheme as it was given, not as a redis:// URL (credentials still hidden)', () => {
    for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
      expect(problemsOf(() => tracing({}, { [name]: 'collector:4318' })).join('\n')).toMatch(/\(got "collector:4318"\)$/);
      const text = problemsOf(() => tracing({}, { [name]: 'u:SECRETPW@collector:4318/v1/traces' })).join('\n');
      expect(text).toMatch(/\(got "u:\*\*\*@collector:4318\/v1\/traces"\)$/);
      expect(text).not.toContain('redis:');
    }
  });
});
