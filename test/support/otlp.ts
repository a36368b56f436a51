import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OTLP/HTTP trace receiver for tests: `POST /v1/traces` with a JSON body
 * (ExportTraceServiceRequest in the OTLP/JSON encoding, which `@opentelemetry/exporter-trace-otlp-http`
 * sends), answered `200 {}`; every span received is kept, flattened with its resource's
 * `service.name`. Anything else (another path, protobuf, bad JSON) is answered 4xx and counted
 * in `refused`, so a test sees when the exporter sent what this receiver cannot read.
 * `answer(status)` makes it answer every export with that status instead (a collector that
 * fails), counted in `failedAnswers`, until `answer(200)`.
 */
export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (spans go to `<url>/v1/traces`). */
  readonly url: string;
  spans(): ReceivedSpan[];
  /** Requests refused, with why. */
  refused(): string[];
  /** Answers exports with this HTTP status from now on (200: accept them again). */
  answer(status: number): void;
  /** Exports answered with an error status by `answer`. */
  failedAnswers(): number;
  close(): Promise<void>;
}

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Record<string, unknown>;
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly serviceName: string;
  /** The resource's `agora.component`: which process sent it. */
  readonly component: string;
  readonly contentType: string;
}

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: KeyValue[];
  status?: { code?: number };
}
interface ExportRequest {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: JsonSpan[] }> }>;
}

function valueOf(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(valueOf);
  return undefined;
}

function attributesOf(kvs: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const refused: string[] = [];
  let status = 200;
  let failedAnswers = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const contentType = String(req.headers['content-type'] ?? '');
      const body = await readBody(req);
      if (status !== 200) {
        failedAnswers++;
        res.writeHead(status, { 'content-type': 'text/plain' }).end('collector says no');
        return;
      }
      // The path only: an endpoint may carry a query (a token), which a collector ignores here.
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://receiver').pathname !== '/v1/traces') {
        refused.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      if (!contentType.startsWith('application/json')) {
        refused.push(`content-type ${contentType}`);
        res.writeHead(415).end();
        return;
      }
      let parsed: ExportRequest;
      try {
        parsed = JSON.parse(body) as ExportRequest;
      } catch (err) {
        refused.push(`bad JSON: ${String(err)}`);
        res.writeHead(400).end();
        return;
      }
      for (const rs of parsed.resourceSpans ?? []) {
        const resource = attributesOf(rs.resource?.attributes);
        const serviceName = String(resource['service.name'] ?? '');
        const component = String(resource['agora.component'] ?? '');
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind ?? 0,
              startTimeUnixNano: BigInt(s.startTimeUnixNano),
              endTimeUnixNano: BigInt(s.endTimeUnixNano),
              attributes: attributesOf(s.attributes),
              statusCode: s.status?.code ?? 0,
              serviceName,
              component,
              contentType,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    })().catch((err: unknown) => {
      refused.push(`error: ${String(err)}`);
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...spans],
    refused: () => [...refused],
    answer: (s) => {
      status = s;
    },
    failedAnswers: () => failedAnswers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
