export {
  NOOP_ITEM_SPAN,
  NOOP_TRACING,
  SPAN_NAMES,
  createAgoraTracing,
  type AgoraTracing,
  type AgoraTracingOptions,
  type ItemSpan,
  type ItemSpanFacts,
  type ItemStep,
  type RunSpanFacts,
  type StepSpan,
} from './agora-tracing.js';
export { RunIdGenerator } from './run-id-generator.js';
export type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
