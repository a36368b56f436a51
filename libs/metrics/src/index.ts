export { COUNTER_LABEL_VALUES, MAX_LOCK_SERIES, QUEUE_JOB_STATES, createAgoraMetrics, type AgoraMetrics, type AgoraMetricsOptions, type LockWaiterCounts, type QueueJobCounts } from './agora-metrics.js';
export { READY_TIMEOUT_MS, readiness, startMetricsServer, type MetricsServer, type MetricsServerOptions, type ReadinessCheck } from './metrics-server.js';
export { Registry, collectDefaultMetrics } from 'prom-client';
