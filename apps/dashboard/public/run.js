// The run page (/runs/:id): the plan's DAG as SVG (laid out by the server with dagre), coloured by
// item state and kept live from the run's event stream; an item's panel on click; the audit
// verdict; cancel for keys with the submit or admin scope.
import { ApiError, ITEM_STATES, TERMINAL_RUN_STATES, api, el, formatDuration, formatTime, scopes, stateBadge, svg } from './common.js';

const runId = document.body.dataset.runId;
const base = `/api/runs/${encodeURIComponent(runId)}`;
const main = document.getElementById('main');
/** Largest log tail shown in the panel (the API returns up to 256 KiB). */
const LOG_TAIL_CHARS = 16 * 1024;
/** Grouped runs too big for a cell per item: how often the group counts are read again while it runs. */
const GROUP_REFRESH_MS = 5000;

/** Item id -> its state, and -> its element, for every item drawn. */
const states = new Map();
const nodes = new Map();
const counts = Object.fromEntries(ITEM_STATES.map((s) => [s, 0]));
let events;
let openItemId;
let graph;

const header = el('section', { class: 'run-head' });
const title = el('h1', {}, 'Run ', el('code', { id: 'run-id' }, runId));
const stateEl = el('span', { id: 'run-state', class: 'state' });
const meta = el('p', { class: 'meta', id: 'run-meta' });
const countsEl = el('p', { class: 'counts', id: 'run-counts' });
const audit = el('span', { id: 'audit', class: 'audit', 'data-verdict': 'pending' }, 'audit: …');
const cancelButton = el('button', { id: 'cancel', type: 'button', class: 'danger', hidden: true }, 'Cancel run');
const notice = el('p', { id: 'notice', class: 'notice', role: 'status' });
const legend = el('p', { class: 'legend' }, ...ITEM_STATES.map((s) => stateBadge(s)));
const failedEl = el('p', { class: 'failed-items', id: 'failed-items', hidden: true });
header.append(title, el('p', {}, stateEl, ' ', audit, ' ', cancelButton), meta, countsEl, failedEl, legend, notice);
const graphWrap = el('div', { id: 'graph-wrap', class: 'graph-wrap' });
const panel = el('aside', { id: 'panel', class: 'panel', hidden: true, 'aria-live': 'polite' });
main.replaceChildren(header, el('div', { class: 'run-body' }, graphWrap, panel));

function setRunState(s) {
  stateEl.textContent = s;
  stateEl.dataset.state = s;
  document.body.dataset.runState = s;
  const may = scopes().has('submit') || scopes().has('admin');
  cancelButton.hidden = !may || TERMINAL_RUN_STATES.has(s);
}

/** Why a rejected run was rejected (its run event's problems), as text. */
function showProblems(problems) {
  if (!Array.isArray(problems) || problems.length === 0) return;
  const box = el('div', { id: 'run-problems', class: 'problems' }, el('p', {}, 'rejected at acceptance:'), el('ul', {}, ...problems.map((p) => el('li', {}, String(p)))));
  const old = document.getElementById('run-problems');
  if (old) old.replaceWith(box);
  else notice.after(box);
}

function renderCounts(c) {
  countsEl.replaceChildren(...ITEM_STATES.filter((s) => c[s] > 0).map((s) => el('span', { class: 'count', 'data-state': s, 'data-count': s }, `${c[s]} ${s}`)));
  renderFailed();
}

/** How many failed items are named under the counts (the rest are counted). */
const FAILED_SHOWN = 10;

/**
 * The failed items by name, each opening its panel: in a big graph the one red node is otherwise
 * found by scrolling. Only items drawn one by one (a run past 20,000 items shows counts only).
 */
function renderFailed() {
  const failed = [];
  for (const [id, s] of states) if (s === 'failed') failed.push(id);
  failedEl.hidden = failed.length === 0;
  const open = (id) => {
    const b = el('button', { type: 'button', class: 'link', 'data-item-id': id }, id);
    b.addEventListener('click', () => openAndShow(id));
    return b;
  };
  const shown = failed.slice(0, FAILED_SHOWN).flatMap((id) => [' ', open(id)]);
  failedEl.replaceChildren('failed:', ...shown, ...(failed.length > FAILED_SHOWN ? [` and ${failed.length - FAILED_SHOWN} more`] : []));
}

/** Opens an item's panel and brings its node into view (after the panel took its room beside the graph). */
function openAndShow(id) {
  const opening = openItem(id);
  showNode(id);
  void opening;
}

/** Scrolls the graph (not the page) so the item's node is in the middle of its view. */
function showNode(id) {
  const node = nodes.get(id);
  if (!node) return;
  const n = node.getBoundingClientRect();
  const w = graphWrap.getBoundingClientRect();
  graphWrap.scrollLeft += n.left + n.width / 2 - (w.left + w.width / 2);
  graphWrap.scrollTop += n.top + n.height / 2 - (w.top + w.height / 2);
}

/** Shortens a long text for a table cell (the whole event is in the row's tooltip). */
const clip = (text, n = 200) => (text.length > n ? `${text.slice(0, n)}…` : text);
const from = (o) => (o ? `${o.runId} / ${o.itemId}` : '?');

/**
 * One event of an item in words, for the panel's table (the contract's fields: README, The watch
 * contract). A type this page does not know is shown as its JSON.
 */
function describeEvent(e) {
  if (e.type === 'item') {
    switch (e.state) {
      case 'waiting':
        return `waiting for ${clip((e.depends_on ?? []).join(', '))}`;
      case 'queued':
        return e.executor ? `queued for ${e.executor}` : 'queued: its dependencies ended';
      case 'running':
        return `running, attempt ${e.attempt} on ${e.runner}`;
      case 'done':
        if (e.reusedFrom) return `done, result reused from ${from(e.reusedFrom)}`;
        if (e.cachedFrom) return `done, result cached from ${from(e.cachedFrom)}`;
        return `done, attempt ${e.attempt} in ${formatDuration(e.durationMs ?? 0)}${e.exitCode !== undefined ? `, exit ${e.exitCode}` : ''}`;
      case 'failed':
        return `failed ${e.errorCode}${e.exitCode !== undefined ? ` (exit ${e.exitCode})` : ''}${e.attempt !== undefined ? `, attempt ${e.attempt}` : ''}: ${clip(e.error ?? '')}`;
      case 'skipped':
        return `skipped (${e.dependency} did not succeed): ${clip(e.reason ?? '')}`;
      case 'cancelled':
        return `cancelled: ${clip(e.reason ?? '')}`;
    }
  }
  if (e.type === 'lock') {
    switch (e.action) {
      case 'waiting':
        return `waits for lock ${e.lock} (position ${e.position})`;
      case 'acquired':
        return `acquired lock ${e.lock}, token ${e.token}`;
      case 'released':
        return `released lock ${e.lock}, token ${e.token}`;
      case 'lost':
        return `lost lock ${e.lock}, token ${e.token}`;
      case 'fenced':
        return `result refused: lock ${e.lock} token ${e.token} is stale (newest ${e.newestToken})`;
    }
  }
  if (e.type === 'retry') return `attempt ${e.attempt} failed (${e.reason}), retried in ${formatDuration(e.delayMs)}: ${clip(e.error)}`;
  if (e.type === 'handedBack') return `handed back by ${e.runner}, queued again: ${clip(e.reason)}`;
  if (e.type === 'message') return `message ${e.messageId}, ${e.bytes} bytes`;
  if (e.type === 'reused') return `reused the result of ${from(e.from)}`;
  if (e.type === 'cached') return `took the memoized result of ${from(e.from)}`;
  return clip(JSON.stringify(eventFields(e)), 400);
}

/** An event without what every event has (shown in its own columns, or the page's). */
function eventFields(e) {
  const rest = { ...e };
  for (const k of ['seq', 'at', 'type', 'runId', 'itemId', 'v']) delete rest[k];
  return rest;
}

/** One item's new state: its node's data-state (the colour follows from CSS), the counts, an open panel. */
function setItemState(id, s) {
  const old = states.get(id);
  if (old === s || !ITEM_STATES.includes(s)) return;
  states.set(id, s);
  if (old !== undefined) counts[old]--;
  counts[s]++;
  const node = nodes.get(id);
  if (node) {
    node.dataset.state = s;
    const t = node.querySelector('title');
    if (t) t.textContent = `${id}: ${s}`;
  }
  scheduleCounts();
  if (openItemId === id) void openItem(id);
}

let countsPending = false;
function scheduleCounts() {
  if (countsPending) return;
  countsPending = true;
  requestAnimationFrame(() => {
    countsPending = false;
    renderCounts(counts);
    updateGroupCounts();
  });
}

function points(ps) {
  return ps.map(([x, y]) => `${x},${y}`).join(' ');
}

const groupLabels = [];
function updateGroupCounts() {
  if (!graph || graph.view !== 'groups') return;
  for (const g of graph.groups) {
    const c = Object.fromEntries(ITEM_STATES.map((s) => [s, 0]));
    if (graph.nodes.length > 0) {
      for (const n of graph.nodes) if (n.group === g.index) c[states.get(n.id)]++;
    } else {
      Object.assign(c, g.counts);
    }
    const label = groupLabels[g.index];
    if (label) label.textContent = ITEM_STATES.filter((s) => c[s] > 0).map((s) => `${c[s]} ${s}`).join(' · ');
  }
}

/** Draws the graph answer: every item one element with data-item-id and data-state. */
function draw(g) {
  graph = g;
  const root = svg('svg', { id: 'graph', class: `graph view-${g.view}`, width: g.width, height: g.height, viewBox: `0 0 ${g.width} ${g.height}`, role: 'img', 'aria-label': `dependency graph of run ${runId}` });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrowhead' }));
  defs.append(marker);
  root.append(defs);
  const edgeLayer = svg('g', { class: 'edges' });
  for (const e of g.edges) edgeLayer.append(svg('polyline', { points: points(e.points), class: 'edge', 'marker-end': 'url(#arrow)', 'data-from': e.from, 'data-to': e.to }));
  const groupLayer = svg('g', { class: 'groups' });
  groupLabels.length = 0;
  for (const gr of g.groups) {
    const box = svg('g', { class: 'group', 'data-group': gr.index });
    box.append(svg('rect', { x: gr.x, y: gr.y, width: gr.width, height: gr.height, rx: 4 }));
    const head = svg('text', { x: gr.x + 8, y: gr.y + 14, class: 'group-title' });
    head.textContent = `depth ${gr.depthFrom === gr.depthTo ? gr.depthFrom : `${gr.depthFrom}–${gr.depthTo}`} · ${gr.items} items`;
    const sub = svg('text', { x: gr.x + 8, y: gr.y + (g.nodes.length > 0 ? gr.height + 12 : 34), class: 'group-counts' });
    groupLabels[gr.index] = sub;
    box.append(head, sub);
    groupLayer.append(box);
  }
  const nodeLayer = svg('g', { class: 'nodes' });
  states.clear();
  nodes.clear();
  for (const s of ITEM_STATES) counts[s] = 0;
  for (const n of g.nodes) {
    let node;
    if (g.view === 'items') {
      node = svg('g', { class: 'node', transform: `translate(${n.x},${n.y})`, tabindex: 0 });
      node.append(svg('rect', { width: n.width, height: n.height, rx: 5 }));
      const label = svg('text', { x: 8, y: n.height / 2 + 4 });
      label.textContent = n.id.length > 20 ? `${n.id.slice(0, 19)}…` : n.id;
      node.append(label);
    } else {
      node = svg('rect', { class: 'cell', x: n.x, y: n.y, width: n.width, height: n.height });
    }
    node.setAttribute('data-item-id', n.id);
    node.setAttribute('data-state', n.state);
    const t = svg('title');
    t.textContent = `${n.id}: ${n.state}`;
    node.append(t);
    nodeLayer.append(node);
    nodes.set(n.id, node);
    states.set(n.id, n.state);
    counts[n.state]++;
  }
  if (g.nodes.length === 0) for (const gr of g.groups) for (const s of ITEM_STATES) counts[s] += gr.counts[s] ?? 0;
  root.append(groupLayer, edgeLayer, nodeLayer);
  root.addEventListener('click', (ev) => {
    const target = ev.target.closest('[data-item-id]');
    if (target) void openItem(target.getAttribute('data-item-id'));
  });
  root.addEventListener('keydown', (ev) => {
    const target = ev.target.closest?.('[data-item-id]');
    if (target && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      void openItem(target.getAttribute('data-item-id'));
    }
  });
  const lookup = el('form', { class: 'lookup' }, el('input', { name: 'item', id: 'item-lookup', placeholder: 'item id', 'aria-label': 'open an item by id' }), el('button', { type: 'submit' }, 'Open item'));
  lookup.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = lookup.elements.item.value.trim();
    if (v) openAndShow(v);
  });
  const note =
    g.view === 'items'
      ? `${g.registered} items`
      : g.nodes.length > 0
        ? `${g.registered} items in ${g.groups.length} groups by dependency depth (one cell per item; edges join groups)`
        : `${g.registered} items in ${g.groups.length} groups by dependency depth (too many to draw one by one: open an item by id)`;
  // Zoom changes the drawing's size, not its coordinates (the viewBox stays): nodes keep their data.
  let zoom = 1;
  const setZoom = (z) => {
    zoom = Math.min(2, Math.max(0.1, z));
    root.setAttribute('width', String(Math.round(g.width * zoom)));
    root.setAttribute('height', String(Math.round(g.height * zoom)));
    graphWrap.dataset.zoom = zoom.toFixed(2);
  };
  const fit = () => setZoom(Math.min(1, Math.max(0.25, (graphWrap.clientWidth - 4) / Math.max(1, g.width))));
  const zoomButton = (label, title, fn) => {
    const b = el('button', { type: 'button', title }, label);
    b.addEventListener('click', fn);
    return b;
  };
  const zoomBar = el('span', { class: 'zoom' }, zoomButton('−', 'zoom out', () => setZoom(zoom / 1.25)), zoomButton('fit', 'fit the width', fit), zoomButton('1:1', 'actual size', () => setZoom(1)), zoomButton('+', 'zoom in', () => setZoom(zoom * 1.25)));
  graphWrap.replaceChildren(el('p', { class: 'muted graph-note' }, note, ' ', zoomBar, ' ', lookup), root);
  fit();
  document.body.dataset.view = g.view;
  renderCounts(counts);
  updateGroupCounts();
}

function follow(fromSeq) {
  events?.close();
  events = new EventSource(`${base}/events?from=${fromSeq}`);
  events.addEventListener('item', (m) => {
    const e = JSON.parse(m.data);
    if (nodes.size > 0) setItemState(e.itemId, e.state);
    // Group counts (no cell per item), or a graph drawn while the run was still registering its
    // items: read it again (refetch draws the items registered since).
    if (nodes.size === 0 || incomplete()) scheduleRefetch();
  });
  events.addEventListener('run', (m) => {
    const e = JSON.parse(m.data);
    setRunState(e.state);
    if (e.state === 'rejected') showProblems(e.problems);
    if (TERMINAL_RUN_STATES.has(e.state)) {
      // The stream ends here; a reconnect would only be told so again.
      events.close();
      document.body.dataset.live = 'ended';
      void loadVerdict();
      if (nodes.size === 0 || incomplete()) void refetch();
    }
  });
  // A server-side `event: error` has data; a dropped connection has none and EventSource retries
  // with Last-Event-ID (the stream is resumable).
  events.addEventListener('error', (m) => {
    if (m.data) notice.textContent = `event stream: ${JSON.parse(m.data).message}`;
  });
  events.addEventListener('open', () => {
    document.body.dataset.live = 'open';
  });
}

let refetchTimer;
function scheduleRefetch() {
  refetchTimer ??= setTimeout(() => {
    refetchTimer = undefined;
    void refetch();
  }, GROUP_REFRESH_MS);
}

/** Whether the graph drawn was read while the run was still registering its items. */
function incomplete() {
  return graph !== undefined && graph.registered < graph.total;
}

async function refetch() {
  const g = await api(`${base}/graph`).catch(() => undefined);
  if (g && g.registered !== graph.registered) {
    // More items registered than drawn: draw the fuller graph (states as of this answer; the
    // event stream goes on from there).
    draw(g);
    renderCounts(counts);
    updateGroupCounts();
    if (incomplete()) scheduleRefetch();
  } else if (g) {
    for (const gr of g.groups) graph.groups[gr.index].counts = gr.counts;
    for (const s of ITEM_STATES) counts[s] = 0;
    for (const gr of g.groups) for (const s of ITEM_STATES) counts[s] += gr.counts[s] ?? 0;
    renderCounts(counts);
    updateGroupCounts();
  }
}

async function loadVerdict() {
  try {
    const v = await api(`${base}/verdict`);
    audit.dataset.verdict = v.intact ? 'intact' : 'broken';
    audit.dataset.claim = v.claim;
    audit.dataset.guarantee = v.guarantee;
    audit.textContent = v.intact ? `audit: intact · ${v.claim} · ${v.guarantee}` : `audit: NOT intact · ${v.claim} · ${v.guarantee}`;
    const failed = v.checks.filter((c) => !c.ok).map((c) => `✗ ${c.name}: ${c.detail}`);
    audit.title = [...failed, ...v.warnings.map((w) => `! ${w}`), `${v.checks.length - failed.length}/${v.checks.length} checks passed (verified by this server)`].join('\n');
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      audit.dataset.verdict = 'pending';
      audit.textContent = 'audit: sealed when the run ends';
    } else {
      audit.dataset.verdict = 'error';
      audit.textContent = `audit: unavailable (${err.message})`;
    }
  }
}

cancelButton.addEventListener('click', async () => {
  if (!confirm(`Cancel run ${runId}? Items not started end cancelled; running ones are stopped.`)) return;
  cancelButton.disabled = true;
  try {
    const r = await api(`${base}/cancel`, { method: 'POST', body: '{}' });
    notice.textContent = `cancel requested: run ${r.state}${r.running ? `, stopping ${r.running} running items` : ''}`;
  } catch (err) {
    notice.textContent = `cancel failed: ${err.message}`;
  } finally {
    cancelButton.disabled = false;
  }
});

function row(label, value, field) {
  if (value === undefined || value === null || value === '') return [];
  return [el('dt', {}, label), el('dd', { 'data-field': field }, String(value))];
}

function tail(text) {
  return text.length > LOG_TAIL_CHARS ? `…${text.slice(-LOG_TAIL_CHARS)}` : text;
}

function logBlock(name, stream) {
  if (!stream) return [];
  return [
    el('h3', {}, `${name} (last ${Math.min(stream.text.length, LOG_TAIL_CHARS)} of ${stream.bytes} bytes${stream.truncated ? ', truncated' : ''})`),
    el('pre', { class: 'log', 'data-field': name }, tail(stream.text)),
  ];
}

let panelToken = 0;
async function openItem(id) {
  const token = ++panelToken;
  openItemId = id;
  for (const n of document.querySelectorAll('.selected')) n.classList.remove('selected');
  nodes.get(id)?.classList.add('selected');
  panel.hidden = false;
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'close' }, '×');
  close.addEventListener('click', () => {
    panel.hidden = true;
    openItemId = undefined;
    nodes.get(id)?.classList.remove('selected');
  });
  const path = `${base}/items/${encodeURIComponent(id)}`;
  let d;
  try {
    d = await api(path);
  } catch (err) {
    if (token === panelToken) panel.replaceChildren(close, el('h2', {}, id), el('p', { class: 'error' }, err.message));
    return;
  }
  const logs = await api(`${path}/logs`).catch((err) => ({ error: err.message }));
  if (token !== panelToken) return;
  const locks = d.resourceLocks ?? Object.keys(d.lockTokens ?? {});
  const deps = el('p', { class: 'deps' });
  for (const dep of d.dependsOn ?? []) {
    const b = el('button', { type: 'button', class: 'link' }, dep);
    b.addEventListener('click', () => void openItem(dep));
    deps.append(b, ' ');
  }
  panel.replaceChildren(
    close,
    el('h2', { id: 'panel-title', 'data-item-id': d.itemId }, d.itemId, ' ', stateBadge(d.state)),
    el(
      'dl',
      {},
      ...row('executor', d.executor, 'executor'),
      ...row('attempts', d.attempts, 'attempts'),
      ...row('started', formatTime(d.startedAt), 'startedAt'),
      ...row('ended', formatTime(d.endedAt), 'endedAt'),
      ...row('duration', d.durationMs !== undefined ? formatDuration(d.durationMs) : undefined, 'duration'),
      ...row('exit code', d.exitCode, 'exitCode'),
      ...row('error code', d.errorCode, 'errorCode'),
      ...row('reason', d.reason, 'reason'),
    ),
    ...(d.error ? [el('h3', {}, 'error'), el('pre', { class: 'error', 'data-field': 'error' }, d.error)] : []),
    ...(d.resultRef
      ? [
          el('h3', {}, 'result'),
          el('p', {}, el('a', { id: 'result-link', href: `/api/artifacts?uri=${encodeURIComponent(d.resultRef)}`, download: '' }, 'download result'), ' ', el('code', { class: 'ref', 'data-field': 'resultRef' }, d.resultRef)),
        ]
      : []),
    ...((d.dependsOn ?? []).length > 0 ? [el('h3', {}, 'depends on'), deps] : []),
    ...(locks.length > 0
      ? [
          el('h3', {}, 'locks'),
          el('table', { class: 'locks', 'data-field': 'locks' }, el('tr', {}, el('th', {}, 'lock'), el('th', {}, 'fencing token')), ...locks.map((l) => el('tr', {}, el('td', {}, l), el('td', {}, d.lockTokens?.[l] ?? '')))),
        ]
      : []),
    ...(d.retries.length > 0 ? [el('h3', {}, 'retries'), el('ul', { 'data-field': 'retries' }, ...d.retries.map((r) => el('li', {}, `attempt ${r.attempt} at ${formatTime(r.at)}: ${r.error}`)))] : []),
    ...(logs.error ? [el('p', { class: 'muted' }, `logs: ${logs.error}`)] : [...logBlock('stderr', logs.stderr), ...logBlock('stdout', logs.stdout)]),
    el('h3', {}, `events (${d.events.length})`),
    el(
      'table',
      { class: 'events', 'data-field': 'events' },
      el('tr', {}, ...['seq', 'at', 'type', 'what'].map((h) => el('th', {}, h))),
      // In words; the whole event (hashes, refs, trace id) in the row's tooltip.
      ...d.events.map((e) =>
        el('tr', { title: JSON.stringify(eventFields(e)) }, el('td', {}, e.seq), el('td', {}, formatTime(e.at)), el('td', {}, e.type), el('td', { class: 'what' }, describeEvent(e))),
      ),
    ),
  );
  history.replaceState(null, '', `#item=${encodeURIComponent(id)}`);
}

async function start() {
  let g;
  for (;;) {
    try {
      g = await api(`${base}/graph`);
      break;
    } catch (err) {
      // A run just submitted is on the scheduler's inbox until it is accepted; a run that is not
      // there either does not exist (a mistyped id waited here forever).
      if (err instanceof ApiError && err.status === 404) {
        const status = await api(base).catch((e) => e);
        if (status instanceof ApiError && status.status === 404) {
          // Not setRunState: nothing to cancel, so the button stays hidden.
          stateEl.textContent = 'unknown';
          stateEl.dataset.state = 'unknown';
          document.body.dataset.live = 'ended';
          notice.textContent = `${status.message}: no such run (neither accepted nor waiting to be)`;
          return;
        }
        notice.textContent = `${err.message}: waiting for the run to be accepted…`;
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      throw err;
    }
  }
  notice.textContent = '';
  setRunState(g.state);
  meta.replaceChildren(
    'plan ',
    el('code', { id: 'run-plan' }, g.planId),
    ' · queue ',
    el('code', {}, g.queue),
    ` · submitted ${formatTime(g.createdAt)}`,
    g.finishedAt ? ` · took ${formatDuration(Date.parse(g.finishedAt) - Date.parse(g.createdAt))}` : '',
  );
  draw(g);
  showProblems(g.problems);
  if (incomplete()) scheduleRefetch();
  if (TERMINAL_RUN_STATES.has(g.state)) {
    document.body.dataset.live = 'ended';
    void loadVerdict();
  } else {
    void loadVerdict();
    follow(g.seq);
  }
  const m = /^#item=(.+)$/.exec(location.hash);
  if (m) void openItem(decodeURIComponent(m[1]));
}

start().catch((err) => {
  notice.textContent = `Could not load the run: ${err.message}`;
});
