import { z } from 'zod';
import { ITEM_ID_MAX, RUN_ID_RE, RUN_STATES, SAFE_NAME_RE, agoraEventSchema, planSchema } from '@agora/core';
import { deadLetterSchema } from '@agora/state';
import { cancelledSchema, clientRunStatusSchema, errorBodySchema, itemDetailSchema, runsPageSchema, runsQuerySchema, sentMessageSchema, submittedSchema } from '@agora/sdk';
import { artifactQuery, messageBody, purgeBody, replayBody, replayRunBody, submitQuery } from './api.js';
import { memoEntriesSchema, purgedSchema, replayedSchema, rerunSchema } from '@agora/sdk';
import { cancelBody, memoPurgeBody, rerunBody } from './api.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`. Built from the
 * same zod schemas the routes parse requests with and the SDK's HTTP transport parses answers
 * with (JSON Schema 2020-12, OpenAPI 3.1's dialect), so the document cannot say something the
 * server does not do. Each operation names the scope it needs (`x-agora-scope`); the test checks
 * that every route the router mounts is in here.
 */

type JsonSchema = Record<string, unknown>;

/** A zod schema as JSON Schema: what a client sends (`input`) or receives (`output`). */
function schemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  delete out['$schema'];
  return out;
}

/** Query parameters from a zod object of strings (each optional property becomes one parameter). */
function queryParameters(schema: z.ZodObject): Array<Record<string, unknown>> {
  const json = schemaOf(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: json.required?.includes(name) ?? false, schema: s }));
}

const json = (schema: JsonSchema, description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string): Record<string, unknown> => json(ref('Error'), description);
const pathParam = (name: string, description: string, schema: JsonSchema = { type: 'string', minLength: 1, maxLength: 200 }): Record<string, unknown> => ({ name, in: 'path', required: true, description, schema });
// The grammars the routes check (libs/core ids.ts); anything else is a 400.
const RUN = pathParam('id', 'run id', { type: 'string', pattern: RUN_ID_RE.source });
const ITEM = pathParam('item', 'item id', { type: 'string', maxLength: ITEM_ID_MAX, pattern: SAFE_NAME_RE.source });

function op(scope: 'read' | 'submit' | 'admin', summary: string, more: Record<string, unknown>): Record<string, unknown> {
  return {
    summary,
    'x-agora-scope': scope,
    security: [{ bearer: [] }, { apiKey: [] }, { basic: [] }],
    ...more,
    responses: {
      ...(more['responses'] as object),
      '401': error('no key, or an unknown key (when keys are configured)'),
      '403': error(`the key lacks the \`${scope}\` scope, or a cross-site request`),
      '500': error('an unexpected error; the message does not say which, the server log does'),
      // A route's own 503 says more (the events route's client cap).
      '503': (more['responses'] as Record<string, unknown> | undefined)?.['503'] ?? error('Redis did not answer or refused the password (`retryable: false` when trying again cannot help)'),
    },
  };
}

/** A POST: every one goes through the JSON body parser, so every one can answer 413 and 415. */
function postOp(scope: 'read' | 'submit' | 'admin', summary: string, more: Record<string, unknown>): Record<string, unknown> {
  return op(scope, summary, {
    ...more,
    responses: { '413': error('over the body limit (32 MB)'), '415': error('not application/json, or a charset other than UTF-8 or UTF-16'), ...(more['responses'] as object) },
  });
}

/** The document; built once per process (the schemas do not change while it runs). */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const deadLetter = schemaOf(deadLetterSchema.extend({ source: z.enum(['runner', 'scheduler']), replayedBy: z.string().optional(), replayedAt: z.string().optional() }));
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Agora HTTP API',
      version,
      description: 'Submit plans, follow runs, read items, results, logs, evidence and dead letters. See the README, "HTTP API and dashboard".',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        basic: { type: 'http', scheme: 'basic', description: 'any user name, the key as password (browsers)' },
      },
      schemas: {
        Plan: schemaOf(planSchema, 'input'),
        RunStatus: schemaOf(clientRunStatusSchema),
        RunsPage: schemaOf(runsPageSchema),
        ItemDetail: schemaOf(itemDetailSchema),
        Event: schemaOf(agoraEventSchema),
        DeadLetter: deadLetter,
        Error: schemaOf(errorBodySchema),
        ItemLogStream: {
          type: 'object',
          required: ['ref', 'text', 'bytes', 'truncated'],
          properties: { ref: { type: 'string' }, text: { type: 'string' }, bytes: { type: 'integer', minimum: 0 }, truncated: { type: 'boolean' } },
        },
      },
    },
    paths: {
      '/api/runs': {
        post: postOp('submit', 'Submit a plan', {
          parameters: queryParameters(submitQuery),
          requestBody: { required: true, content: { 'application/json': { schema: ref('Plan') } } },
          responses: {
            '202': json(schemaOf(submittedSchema), 'accepted on the inbox; Location names the run'),
            '400': error('malformed JSON, a body that is not an object, or a bad, unknown or repeated query parameter'),
            '409': error('a run with that id exists'),
            '422': json(ref('Error'), 'the plan is invalid: `problems` lists every problem'),
          },
        }),
        get: op('read', 'List runs, newest first', {
          parameters: queryParameters(runsQuerySchema),
          responses: { '200': json(ref('RunsPage'), 'a page; pass `next` as `cursor` for the next'), '400': error('a bad, unknown or repeated parameter') },
        }),
      },
      '/api/runs/{id}': {
        get: op('read', "A run's status, with why each item that did not succeed ended so, and a rejected run's `problems`", {
          parameters: [RUN],
          responses: { '200': json(ref('RunStatus'), 'the status'), '400': error('a malformed run id'), '404': error('no such run') },
        }),
      },
      '/api/runs/{id}/items/{item}': {
        get: op('read', 'One item: state, attempts, timings, lock tokens, error, exit code, retries, events', {
          parameters: [RUN, ITEM],
          responses: { '200': json(ref('ItemDetail'), 'the item'), '400': error('a malformed id'), '404': error('no such run or item') },
        }),
      },
      '/api/runs/{id}/items/{item}/messages': {
        post: postOp('submit', "Send a message to an item's channel: its worker reads it as one JSON line from AGORA_CHANNEL", {
          parameters: [RUN, ITEM],
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(messageBody, 'input') } } },
          responses: {
            '202': json(schemaOf(sentMessageSchema), 'queued for the item and recorded as a `message` event'),
            '400': error('a malformed id, body or message (over 64 KiB as JSON, nested too deep)'),
            '404': error('no such run or item'),
            '409': error('the item has ended, or has had its 1,000 messages, or its run (just submitted) was not accepted within 4 s'),
          },
        }),
      },
      '/api/runs/{id}/items/{item}/logs': {
        get: op('read', "What the item's worker wrote to stdout and stderr, as stored (scrubbed)", {
          parameters: [RUN, ITEM],
          responses: {
            '200': json(
              { type: 'object', required: ['itemId', 'state'], properties: { itemId: { type: 'string' }, state: { type: 'string' }, stdout: ref('ItemLogStream'), stderr: ref('ItemLogStream') } },
              'the streams it has',
            ),
            '400': error('a malformed id'),
            '404': error('no such run or item'),
            '502': error('a stored stream does not hash to its ref'),
          },
        }),
      },
      '/api/runs/{id}/events': {
        get: op('read', "The run's events as Server-Sent Events, to its terminal event", {
          parameters: [
            RUN,
            { name: 'from', in: 'query', required: false, schema: { type: 'string', pattern: '^\\d{1,15}$' }, description: 'start at this seq' },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d{1,15}$' }, description: 'resume after this seq' },
          ],
          responses: {
            '200': { description: 'one SSE message per event: `id:` its seq, `event:` its type, `data:` the Event JSON', content: { 'text/event-stream': { itemSchema: ref('Event'), schema: { type: 'string' } } } },
            '400': error('a bad seq'),
            '404': error('no such run'),
            '503': error('this server already streams to dashboard.maxSseClients clients (Retry-After: 5), or Redis did not answer; `retryable: false` for a submission the scheduler gave up on'),
          },
        }),
      },
      '/api/runs/{id}/cancel': {
        post: postOp('submit', 'Cancel a run', {
          parameters: [RUN],
          requestBody: { required: false, content: { 'application/json': { schema: schemaOf(cancelBody, 'input') } } },
          responses: { '200': json(schemaOf(cancelledSchema), 'the run state after the request'), '400': error('a malformed run id or body'), '404': error('no such run'), '409': error('a run being accepted just then (cancel again)') },
        }),
      },
      '/api/runs/{id}/graph': {
        get: op('read', "The run's DAG for the console: items with states and dependencies, laid out (grouped by depth past 400 items)", {
          parameters: [RUN],
          responses: { '200': json({ type: 'object' }, 'the graph and its layout (README, Console)'), '400': error('a malformed run id'), '404': error('no such run') },
        }),
      },
      '/api/runs/{id}/verdict': {
        get: op('read', "The verifier's verdict on the run's evidence (the console's audit badge)", {
          parameters: [RUN],
          responses: {
            '200': json(
              { type: 'object', required: ['runId', 'intact'], properties: { runId: { type: 'string' }, intact: { type: 'boolean' }, claim: { type: 'string' }, guarantee: { type: 'string' }, checks: {}, warnings: { type: 'array', items: { type: 'string' } } } },
              'recomputed over the bundle against the anchor store, pinned to this deployment key',
            ),
            '400': error('a malformed run id'),
            '404': error('no such run'),
            '409': error('the run has not ended: its evidence is sealed when it ends'),
          },
        }),
      },
      '/api/runs/{id}/audit': {
        get: op('read', "The run's signed evidence bundle (see the README, Audit)", {
          parameters: [RUN],
          responses: { '200': json({ type: 'object' }, 'the bundle'), '400': error('a malformed run id'), '404': error('no such run'), '409': error('the run has not ended: its evidence is sealed when it ends') },
        }),
      },
      '/api/artifacts': {
        get: op('read', 'Download a result (or an item output log) by its pinned ref, hash checked', {
          parameters: queryParameters(artifactQuery),
          responses: {
            '200': {
              description: 'the bytes; X-Agora-Sha256 and Repr-Digest carry their sha256',
              headers: { 'X-Agora-Sha256': { schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } }, 'Repr-Digest': { schema: { type: 'string' } } },
              content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
            },
            '400': error('not a result/stdout/stderr ref of this namespace with its hash'),
            '404': error('no such artifact'),
            '502': error('the stored bytes do not hash to the ref'),
          },
        }),
      },
      '/api/dlq': {
        get: op('admin', 'Dead letters, newest first', {
          parameters: [
            { name: 'run', in: 'query', required: false, schema: { type: 'string' }, description: "only this run's" },
            { name: 'limit', in: 'query', required: false, schema: { type: 'string', pattern: '^[1-9][0-9]{0,6}$' } },
          ],
          responses: { '200': json({ type: 'object', required: ['deadLetters'], properties: { deadLetters: { type: 'array', items: ref('DeadLetter') } } }, 'the records'), '400': error('a bad parameter') },
        }),
      },
      '/api/dlq/{id}': {
        get: op('admin', 'One dead letter', {
          parameters: [pathParam('id', 'dead letter id: <runId>.<itemId>')],
          responses: { '200': json(ref('DeadLetter'), 'the record'), '400': error('a malformed id'), '404': error('no such dead letter') },
        }),
      },
      '/api/dlq/{id}/replay': {
        post: postOp('admin', 'Replay one dead item in a new run linked to the original', {
          parameters: [pathParam('id', 'dead letter id: <runId>.<itemId>')],
          requestBody: { required: false, content: { 'application/json': { schema: schemaOf(replayBody, 'input') } } },
          responses: {
            '202': json(schemaOf(replayedSchema), 'the new run, the letters and items it replays; Location names the new run'),
            '400': error('a malformed dead letter id or body'),
            '404': error('no such dead letter'),
            '409': error('already replayed (send force)'),
            '422': json(ref('Error'), 'the deployment no longer serves what the letter names (its task, queue or target): `problems` says what'),
          },
        }),
      },
      '/api/dlq/replay': {
        post: postOp('admin', "Replay a run's dead items", {
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(replayRunBody, 'input') } } },
          responses: {
            '202': json(schemaOf(replayedSchema), 'the new run, the letters and items it replays'),
            '400': error('a bad body'),
            '404': error('no dead letters left to replay'),
            '409': error('a letter cannot be replayed (its inputs were not recorded, a dependency has no recorded result)'),
            '422': json(ref('Error'), 'the deployment no longer serves what the letters name (their task, queue or target): `problems` says what'),
          },
        }),
      },
      '/api/dlq/purge': {
        post: postOp('admin', 'Purge one dead letter, a run\'s, or all', {
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(purgeBody, 'input') } } },
          responses: { '200': json(schemaOf(purgedSchema), 'how many were purged'), '400': error('not one of { id }, { runId }, { all: true }: the message names them') },
        }),
      },
      '/api/runs/{id}/rerun': {
        post: postOp('submit', 'Rerun an ended run: its plan again, reusing the results of items whose inputs, task and dependencies are unchanged (README, Resume)', {
          parameters: [RUN],
          requestBody: { required: false, content: { 'application/json': { schema: schemaOf(rerunBody, 'input') } } },
          responses: {
            '202': json(schemaOf(rerunSchema), 'the new run; Location names it'),
            '400': error('a bad body or run id'),
            '404': error('no such run'),
            '409': error('the run has not ended, was rejected, has no stored plan (none recorded, or gone from storage), or the new run id is taken'),
          },
        }),
      },
      '/api/memo': {
        get: op('admin', 'Memo cache entries, newest first (README, Memoize)', {
          parameters: [{ name: 'limit', in: 'query', required: false, schema: { type: 'string', pattern: '^[1-9][0-9]{0,6}$' } }],
          responses: { '200': json(schemaOf(memoEntriesSchema), 'the entries'), '400': error('a bad parameter') },
        }),
      },
      '/api/memo/purge': {
        post: postOp('admin', 'Purge memo cache entries by key, or all', {
          requestBody: { required: true, content: { 'application/json': { schema: schemaOf(memoPurgeBody, 'input') } } },
          responses: { '200': json(schemaOf(purgedSchema), 'how many were purged'), '400': error('not one of { keys }, { all: true }: the message names them') },
        }),
      },
      '/api/openapi.json': {
        get: op('read', 'This document', { responses: { '200': json({ type: 'object' }, 'the OpenAPI 3.1 document'), '400': error('a query parameter given twice') } }),
      },
    },
    'x-agora-run-states': [...RUN_STATES],
  };
}
