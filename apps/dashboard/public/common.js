// Shared helpers of the console pages. Plain ES module, served as is (no build step).
// Every value from the API is user input (plan ids, item ids, errors, logs): it reaches the page
// only through textContent and setAttribute, never as HTML.

export const SVG_NS = 'http://www.w3.org/2000/svg';
export const ITEM_STATES = ['waiting', 'queued', 'running', 'done', 'failed', 'skipped', 'cancelled'];
export const TERMINAL_RUN_STATES = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

/** An HTML element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) e.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  return e;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  return e;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** GET (or POST with a JSON body) against this dashboard's API; same origin, so the browser sends its login. */
export async function api(path, init = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.headers ?? {}) } });
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** The scopes the page was served for (the server checks every call again). */
export function scopes() {
  return new Set((document.body.dataset.scopes ?? '').split(' ').filter(Boolean));
}

/** A state label coloured like the graph. */
export function stateBadge(state) {
  return el('span', { class: 'state', 'data-state': state }, state);
}
