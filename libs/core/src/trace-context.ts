import { randomBytes } from 'node:crypto';

/**
 * A run's trace context: the W3C Trace Context ids of the run's root span, decided once at
 * acceptance (see libs/tracing) and carried in every item job's data as a `traceparent`, so the
 * spans of one run join one trace across the scheduler and every runner process.
 */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the run span's id (the item spans' parent). */
  readonly spanId: string;
}

export const TRACE_ID_RE = /^(?!0{32})[0-9a-f]{32}$/;
export const SPAN_ID_RE = /^(?!0{16})[0-9a-f]{16}$/;
/** `traceparent` (W3C Trace Context, version 00, sampled): `00-<traceId>-<spanId>-01`. */
export const TRACEPARENT_RE = /^00-((?!0{32})[0-9a-f]{32})-((?!0{16})[0-9a-f]{16})-01$/;

/** Fresh random ids for a run's trace (node's CSPRNG; an all-zero id is invalid, and astronomically unlikely). */
export function newTraceContext(): TraceContext {
  return { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
}

export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-01`;
}

/** The context a `traceparent` names, or undefined when it is not one this project writes. */
export function parseTraceparent(s: string | null | undefined): TraceContext | undefined {
  const m = s ? TRACEPARENT_RE.exec(s) : null;
  return m ? { traceId: m[1]!, spanId: m[2]! } : undefined;
}
