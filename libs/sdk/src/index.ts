export * from './client.js';
export * from './queries.js';
export type { ItemDetail, RunSummary, RunsPage, RunsQuery } from '@agora/state';
export * from './replay-plan.js';
export type { RunGraph } from '@agora/state';
