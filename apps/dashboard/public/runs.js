// The runs list (/runs): newest first from GET /api/runs, filters and paging in the address bar.
import { api, el, formatDuration, formatTime, stateBadge } from './common.js';

const RUN_STATES = ['', 'submitted', 'accepted', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'rejected'];
const REFRESH_MS = 5000;

const main = document.getElementById('main');
const params = new URLSearchParams(location.search);

function query() {
  const q = new URLSearchParams();
  for (const k of ['state', 'queue', 'plan', 'cursor', 'limit']) {
    const v = params.get(k);
    if (v) q.set(k, v);
  }
  return q;
}

function filters() {
  const state = el('select', { name: 'state', id: 'filter-state' }, ...RUN_STATES.map((s) => el('option', { value: s, selected: params.get('state') === s || undefined }, s || 'any state')));
  const plan = el('input', { name: 'plan', id: 'filter-plan', placeholder: 'plan id', value: params.get('plan') ?? '' });
  const queue = el('input', { name: 'queue', id: 'filter-queue', placeholder: 'queue', value: params.get('queue') ?? '' });
  const form = el('form', { class: 'filters', method: 'get', action: '/runs' }, state, queue, plan, el('button', { type: 'submit' }, 'Filter'));
  // Empty fields would be sent as "?plan=" and refused by the API: leave them out.
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const f of [state, queue, plan]) if (f.value) q.set(f.name, f.value);
    location.search = q.toString();
  });
  return form;
}

function counts(c) {
  const parts = [];
  for (const s of ['done', 'failed', 'skipped', 'cancelled', 'unfinished']) {
    if (c[s] > 0) parts.push(el('span', { class: 'count', 'data-state': s === 'unfinished' ? 'running' : s, 'data-count': s, title: s }, `${c[s]} ${s}`));
  }
  return parts;
}

function row(r) {
  return el(
    'tr',
    { 'data-run-id': r.runId, 'data-state': r.state },
    el('td', {}, el('a', { href: `/runs/${encodeURIComponent(r.runId)}` }, r.runId)),
    el('td', {}, stateBadge(r.state)),
    el('td', { class: 'plan' }, r.planId),
    el('td', {}, r.queue),
    el('td', { class: 'counts' }, `${r.total} items `, ...counts(r.counts)),
    el('td', {}, formatTime(r.createdAt)),
    el('td', {}, r.durationMs !== undefined ? formatDuration(r.durationMs) : r.finishedAt ? '' : formatDuration(Date.now() - Date.parse(r.createdAt)) + ' so far'),
  );
}

async function load() {
  const page = await api(`/api/runs?${query().toString()}`);
  const table = el(
    'table',
    { class: 'runs', id: 'runs' },
    el('thead', {}, el('tr', {}, ...['run', 'state', 'plan', 'queue', 'items', 'submitted', 'duration'].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...page.runs.map(row)),
  );
  const nav = el('p', { class: 'paging' });
  if (params.get('cursor')) {
    const first = new URLSearchParams(query());
    first.delete('cursor');
    nav.append(el('a', { href: `/runs?${first.toString()}` }, '← newest'), ' ');
  }
  if (page.next) {
    const older = new URLSearchParams(query());
    older.set('cursor', page.next);
    nav.append(el('a', { href: `/runs?${older.toString()}`, id: 'older' }, 'older →'));
  }
  list.replaceChildren(page.runs.length === 0 ? el('p', { class: 'muted', id: 'no-runs' }, 'No runs match.') : table, nav);
}

function fail(err) {
  list.replaceChildren(el('p', { class: 'error', role: 'alert' }, `Could not list runs: ${err.message}`));
}

// Header and filters once; the refresh replaces only the list, so typing in a filter is not lost.
const list = el('div', { id: 'list' });
main.replaceChildren(el('h1', {}, 'Runs'), filters(), list);

await load().catch(fail);
// The first page follows new runs; an older page stays as it was.
if (!params.get('cursor')) setInterval(() => void load().catch(fail), REFRESH_MS);
