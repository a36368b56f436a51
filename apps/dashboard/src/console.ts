import { fileURLToPath } from 'node:url';
import express, { type RequestHandler, type Response, type Router } from 'express';
import { ITEM_STATES, type DashboardScope } from '@agora/core';
import type { AgoraClient, RunGraph } from '@agora/sdk';
import type { verifyEvidence } from '@agora/evidence';
import { fail, runIdParam } from './api.js';
import { principalOf } from './auth.js';
import { layoutRunGraph, type GraphLayout } from './run-graph-layout.js';

/** The verifier's report on a run's evidence (libs/evidence `verifyEvidence`). */
export type AuditVerdict = Awaited<ReturnType<typeof verifyEvidence>>;

export interface ConsoleOptions {
  readonly client: AgoraClient;
  /** The verifier's report on the run's bundle, computed by this server (never the bundle's own `report`). */
  readonly verdict: (runId: string) => Promise<AuditVerdict>;
  readonly authorize: (scope: DashboardScope) => RequestHandler;
  /** The deployment's namespace, shown in the page titles. */
  readonly namespace: string;
  /**
   * The queue named by the plan submitted under this run id, while its inbox job is kept: a run
   * rejected at acceptance records no queue of its own.
   */
  readonly submittedQueue?: (runId: string) => Promise<string | undefined>;
}

/** The static files of the console pages (apps/dashboard/public: plain ES modules and CSS, no build step). */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** Layouts kept: a run's structure never changes once registered, only its states do. */
const LAYOUT_CACHE_MAX = 32;

/** `&<>"'` as entities: every value put into a page goes through this. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, opts: { title: string; script: string; body: Record<string, string>; namespace: string }): void {
  const attrs = Object.entries(opts.body)
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join('');
  // The scopes go into the page so it can offer only what the key may do; the server checks again.
  res
    .type('html')
    .set('Cache-Control', 'no-store')
    .send(
      `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)} · Agora · ${escapeHtml(opts.namespace)}</title>
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/${opts.script}"></script>
</head>
<body${attrs}>
<header class="top"><a href="/runs" class="brand">Agora · ${escapeHtml(opts.namespace)}</a><nav><a href="/runs">Runs</a> <a href="/queues">Queues</a></nav></header>
<main id="main"><p class="muted">Loading…</p></main>
<noscript>The console needs JavaScript; the same data is at /api/runs.</noscript>
</body>
</html>
`,
    );
}

/** The graph answer: the cached layout with the states and counts as they are now. */
function graphBody(g: RunGraph, l: GraphLayout, problems: readonly string[] | undefined): Record<string, unknown> {
  const state = new Map(g.items.map((i) => [i.id, i.state]));
  const zero = (): Record<string, number> => Object.fromEntries(ITEM_STATES.map((s) => [s, 0]));
  const counts = l.groups.map(() => zero());
  if (l.groupOf) {
    for (const [id, group] of l.groupOf) {
      const s = state.get(id);
      const c = counts[group];
      if (s !== undefined && c && s in c) c[s] = (c[s] ?? 0) + 1;
    }
  }
  return {
    runId: g.runId,
    state: g.state,
    planId: g.planId,
    queue: g.queue,
    createdAt: g.createdAt,
    ...(g.finishedAt !== undefined ? { finishedAt: g.finishedAt } : {}),
    seq: g.seq,
    total: g.total,
    registered: g.items.length,
    view: l.view,
    width: l.width,
    height: l.height,
    nodes: l.nodes.map((n) => ({ ...n, state: state.get(n.id) ?? 'waiting' })),
    edges: l.edges,
    groups: l.groups.map((gr, i) => ({ ...gr, counts: counts[i] })),
    ...(problems !== undefined ? { problems } : {}),
  };
}

/** Problems shown for a rejected run: the first ones, each cut short (a plan can have thousands). */
const MAX_PROBLEMS = 50;

/**
 * Why a rejected run was rejected: the problems of its `run` event (its only event, or nearly).
 * The page showed a rejected run as an empty graph without a word of why.
 */
async function rejectionProblems(client: AgoraClient, runId: string): Promise<string[]> {
  const events = await client.events(runId);
  const e = events.find((x) => x.type === 'run' && x.state === 'rejected') as { problems?: unknown } | undefined;
  const problems = Array.isArray(e?.problems) ? e.problems.filter((p): p is string => typeof p === 'string') : [];
  return problems.slice(0, MAX_PROBLEMS).map((p) => p.slice(0, 1000));
}

/**
 * The run console: the pages `/runs` and `/runs/:id` with their static files under `/console/`,
 * and the two API routes only they need, `GET /api/runs/:id/graph` and `GET /api/runs/:id/verdict`.
 * Every route needs the `read` scope; the pages are shells filled in by the browser from the API.
 */
export function createConsole(opts: ConsoleOptions): { pages: Router; api: Router } {
  const { client, authorize } = opts;
  const layouts = new Map<string, { registered: number; layout: GraphLayout }>();

  function layoutOf(g: RunGraph): GraphLayout {
    const hit = layouts.get(g.runId);
    if (hit && hit.registered === g.items.length) return hit.layout;
    const l = layoutRunGraph(g.items);
    // Only a fully registered run's layout is final; a run still registering is laid out again.
    if (g.items.length >= g.total) {
      layouts.delete(g.runId);
      layouts.set(g.runId, { registered: g.items.length, layout: l });
      if (layouts.size > LAYOUT_CACHE_MAX) layouts.delete(layouts.keys().next().value!);
    }
    return l;
  }

  const api = express.Router();
  api.get('/runs/:id/graph', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (!id) return;
    client
      .graph(id)
      .then(async (g) => (g.queue === '' && opts.submittedQueue ? { ...g, queue: (await opts.submittedQueue(id).catch(() => undefined)) ?? '' } : g))
      .then(async (g) => res.json(graphBody(g, layoutOf(g), g.state === 'rejected' ? await rejectionProblems(client, id) : undefined)))
      .catch((err: unknown) => fail(res, err));
  });
  api.get('/runs/:id/verdict', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (id) opts.verdict(id).then((r) => res.json({ runId: id, intact: r.intact, claim: r.claim, guarantee: r.guarantee, checks: r.checks, warnings: r.warnings }), (err: unknown) => fail(res, err));
  });

  const pages = express.Router();
  const scopesOf = (res: Response): string => [...principalOf(res).scopes].sort().join(' ');
  // `redirect: false`: /console answered a 301 (an HTML page) to /console/, itself a 404.
  pages.use('/console', authorize('read'), express.static(PUBLIC_DIR, { index: false, fallthrough: false, maxAge: 0, redirect: false }));
  pages.get('/runs', authorize('read'), (_req, res) => {
    page(res, { title: 'Runs', script: 'runs.js', namespace: opts.namespace, body: { page: 'runs', scopes: scopesOf(res) } });
  });
  pages.get('/runs/:id', authorize('read'), (req, res) => {
    const id = runIdParam(req, res);
    if (id) page(res, { title: `Run ${id}`, script: 'run.js', namespace: opts.namespace, body: { page: 'run', 'run-id': id, scopes: scopesOf(res) } });
  });
  return { pages, api };
}
