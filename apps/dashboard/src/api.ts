import express, { type Request, type Response, type Router } from 'express';
import { IllegalStateError, NotFoundError, PlanValidationError, isRunId, isTerminalRunState, type AgoraEvent } from '@agora/core';
import type { AgoraClient } from '@agora/sdk';

export interface ApiOptions {
  readonly client: AgoraClient;
  /** Largest request body. @default "32mb" */
  readonly bodyLimit?: string;
  /** Optional audit hook: returns the run's evidence bundle. */
  readonly audit?: (runId: string) => Promise<unknown>;
}

function runIdParam(req: Request, res: Response): string | null {
  const id = String(req.params['id'] ?? '');
  if (!isRunId(id)) {
    res.status(400).json({ error: 'bad_request', message: `invalid run id "${id}"` });
    return null;
  }
  return id;
}

function fail(res: Response, err: unknown): void {
  if (err instanceof IllegalStateError) {
    res.status(409).json({ error: 'conflict', message: err.message });
  } else if (err instanceof PlanValidationError) {
    res.status(422).json({ error: 'plan_invalid', problems: err.problems });
  } else if (err instanceof NotFoundError) {
    res.status(404).json({ error: 'not_found', message: err.message });
  } else {
    res.status(500).json({ error: 'internal', message: (err as Error).message });
  }
}

/**
 * The HTTP API: `POST /api/runs` (a plan as the body; 202 with the run id), `GET /api/runs/:id`,
 * `GET /api/runs/:id/events` (Server-Sent Events, resumable with `Last-Event-ID` or `?from=`),
 * `POST /api/runs/:id/cancel`, `GET /api/runs/:id/audit`.
 */
export function createApiRouter(opts: ApiOptions): Router {
  const { client } = opts;
  const r = express.Router();
  r.use(express.json({ limit: opts.bodyLimit ?? '32mb' }));

  r.post('/runs', (req, res) => {
    client.submit(req.body).then(
      (runId) => res.status(202).location(`/api/runs/${runId}`).json({ runId }),
      (err: unknown) => fail(res, err),
    );
  });

  r.get('/runs/:id', (req, res) => {
    const id = runIdParam(req, res);
    if (id) client.status(id).then((s) => res.json(s), (err: unknown) => fail(res, err));
  });

  r.post('/runs/:id/cancel', (req, res) => {
    const id = runIdParam(req, res);
    if (id) client.cancel(id).then((s) => res.json(s), (err: unknown) => fail(res, err));
  });

  r.get('/runs/:id/audit', (req, res) => {
    const id = runIdParam(req, res);
    if (!id) return;
    if (!opts.audit) {
      res.status(501).json({ error: 'not_implemented', message: 'audit is not configured on this server' });
      return;
    }
    opts.audit(id).then((b) => res.json(b), (err: unknown) => fail(res, err));
  });

  r.get('/runs/:id/events', (req, res) => {
    const id = runIdParam(req, res);
    if (!id) return;
    const lastId = req.get('last-event-id') ?? (typeof req.query['from'] === 'string' ? String(Number(req.query['from']) - 1) : undefined);
    const fromSeq = lastId === undefined || !Number.isInteger(Number(lastId)) ? 0 : Number(lastId) + 1;
    const ac = new AbortController();
    req.on('close', () => ac.abort());
    client.status(id).then(
      async () => {
        res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
        res.flushHeaders();
        const send = (e: AgoraEvent): void => {
          res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        };
        try {
          for await (const e of client.watch(id, { fromSeq, signal: ac.signal, pollMs: 500 })) {
            send(e);
            if (e.type === 'run' && isTerminalRunState(e.state)) break;
          }
        } catch (err) {
          res.write(`event: error\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
        }
        res.end();
      },
      (err: unknown) => fail(res, err),
    );
  });

  r.use((req, res) => res.status(404).json({ error: 'not_found', message: `no route ${req.method} ${req.path}` }));
  // Malformed JSON bodies land here (express.json raises a SyntaxError with status 400).
  r.use((err: { status?: number; message?: string; type?: string }, _req: Request, res: Response, _next: express.NextFunction) => {
    res.status(err.status ?? 500).json({ error: err.type === 'entity.too.large' ? 'too_large' : 'bad_request', message: err.message });
  });
  return r;
}
