export * from './client.js';
export * from './queries.js';
export type { ItemDetail, RunSummary, RunsPage, RunsQuery } from '@agora/state';
export * from './replay-plan.js';
export * from './public-api.js';
/** The HTTP API's answers as zod schemas (what the HTTP transport accepts; the dashboard's OpenAPI document is built from them). */
export { cancelledSchema, clientRunStatusSchema, errorBodySchema, itemDetailSchema, runStatusSchema, runsPageSchema, sentMessageSchema, submittedSchema } from './http-schemas.js';
export { deadLettersSchema, memoEntriesSchema, purgedSchema, replayedSchema, rerunSchema } from './http-schemas.js';
export type { RunGraph } from '@agora/state';
