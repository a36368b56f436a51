/**
 * What the suite concludes from the evidence: the workers' journal (what really ran, and with
 * which fencing tokens), the run's events (what the system recorded) and the run's final status.
 * Pure functions, so the rules can be read and checked apart from the process juggling.
 */
import type { AgoraEvent } from '@agora/core';
import type { JournalLine } from './worker.js';
import type { FaultRecord } from './faults.js';

const TERMINAL = new Set(['done', 'failed', 'skipped', 'cancelled']);
/** Event times are taken a moment before their write; journal times by other processes. */
const CLOCK_SLACK_MS = 5;

/** One worker process, from its start line and (if it wrote one) its end line. */
export interface Execution {
  readonly item: string;
  readonly attempt: number;
  readonly pid: number;
  readonly ppid: number;
  readonly tokens: Readonly<Record<string, number>>;
  readonly start: number;
  /** Its end line's time, else the best bound we have (see `endKind`). */
  readonly end: number;
  /**
   * finished: wrote its end line normally. sigterm: stopped by its runner (end line written).
   * killed: SIGKILLed by the harness with its runner (end = the kill). open: no end line and
   * nothing known about its death (end = its runner's exit, else the time of analysis).
   */
  readonly endKind: 'finished' | 'sigterm' | 'killed' | 'open';
  /** Whether the item's recorded result is this execution's (matched on the lock tokens). */
  stored: boolean;
  /** When the result was recorded (the `done` event), if `stored`. */
  storedAt?: number;
}

export function parseJournal(text: string): { lines: JournalLine[]; malformed: number } {
  const lines: JournalLine[] = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    try {
      const l = JSON.parse(raw) as JournalLine;
      if ((l.ev === 'start' || l.ev === 'end') && typeof l.item === 'string' && typeof l.start === 'number') lines.push(l);
      else malformed++;
    } catch {
      malformed++;
    }
  }
  return { lines, malformed };
}

export interface DeathInfo {
  /** Worker pid -> when the harness SIGKILLed it. */
  readonly killedWorkers: ReadonlyMap<number, number>;
  /** Runner pid -> when it exited (for whatever reason). */
  readonly runnerExits: ReadonlyMap<number, number>;
  readonly now: number;
}

export function buildExecutions(lines: readonly JournalLine[], death: DeathInfo): Execution[] {
  const byKey = new Map<string, { start?: JournalLine; end?: JournalLine }>();
  for (const l of lines) {
    const key = `${l.pid}:${l.item}:${l.start}`;
    const e = byKey.get(key) ?? {};
    if (l.ev === 'start') e.start = l;
    else e.end = l;
    byKey.set(key, e);
  }
  const out: Execution[] = [];
  for (const { start, end } of byKey.values()) {
    const l = start ?? end!;
    const base = { item: l.item, attempt: l.attempt, pid: l.pid, ppid: l.ppid, tokens: l.tokens, start: l.start, stored: false };
    if (end?.end != null) {
      out.push({ ...base, end: end.end, endKind: end.signal ? 'sigterm' : 'finished' });
      continue;
    }
    const killed = death.killedWorkers.get(l.pid);
    if (killed !== undefined) out.push({ ...base, end: killed, endKind: 'killed' });
    else out.push({ ...base, end: Math.max(l.start, death.runnerExits.get(l.ppid) ?? death.now), endKind: 'open' });
  }
  return out.sort((a, b) => a.start - b.start);
}

const ms = (iso: unknown): number => (typeof iso === 'string' ? Date.parse(iso) : NaN);

/** What the events say about each item's recorded result. */
export interface RecordedResult {
  readonly item: string;
  readonly at: number;
  readonly attempt: number | undefined;
  /** Tokens of the `lock released` events written with the `done` event (same script). */
  readonly tokens: Record<string, number>;
}

export function recordedResults(events: readonly AgoraEvent[]): Map<string, RecordedResult> {
  const out = new Map<string, RecordedResult>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'item' || e.state !== 'done' || !e.itemId) continue;
    const tokens: Record<string, number> = {};
    // finishItem appends the item's lock releases right after its own event, in one script.
    for (let j = i + 1; j < events.length; j++) {
      const r = events[j]!;
      if (r.type !== 'lock' || r['action'] !== 'released' || r.itemId !== e.itemId) break;
      tokens[String(r['lock'])] = Number(r['token']);
    }
    if (!out.has(e.itemId)) out.set(e.itemId, { item: e.itemId, at: ms(e.at), attempt: typeof e['attempt'] === 'number' ? e['attempt'] : undefined, tokens });
  }
  return out;
}

const sameTokens = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

/**
 * Marks the execution whose result was recorded. Matched on the lock tokens, which are unique
 * per acquisition; an item without locks has none to match, and is marked only when exactly one
 * of its executions finished (it cannot take part in a lock overlap anyway).
 */
export function markStored(execs: readonly Execution[], results: ReadonlyMap<string, RecordedResult>): void {
  const byItem = new Map<string, Execution[]>();
  for (const x of execs) byItem.set(x.item, [...(byItem.get(x.item) ?? []), x]);
  for (const [item, r] of results) {
    const xs = byItem.get(item) ?? [];
    const locked = Object.keys(r.tokens).length > 0;
    // Without tokens: the last execution that finished before the result was recorded (every
    // execution of an item writes the same output, so which one it was matters to no figure).
    const match = locked
      ? xs.filter((x) => sameTokens(x.tokens, r.tokens))
      : xs.filter((x) => x.endKind === 'finished' && x.end <= r.at + CLOCK_SLACK_MS).slice(-1);
    if (match.length === 1) {
      match[0]!.stored = true;
      match[0]!.storedAt = r.at;
    }
  }
}

export interface Overlap {
  readonly lock: string;
  readonly stale: { item: string; attempt: number; pid: number; token: number; start: number; end: number };
  readonly fresh: { item: string; attempt: number; pid: number; token: number; start: number; end: number };
  readonly overlapMs: number;
  /**
   * What became of the stale holder's result. fenced: refused on its token (`lock fenced`
   * event). lock-lost: the runner saw its lease lost and dropped it (`lock lost` event).
   * killed: the harness killed it with its runner. runner-died: it finished, but its runner
   * exited before recording anything. not-stored: none of these, and the result was not
   * recorded either. UNFENCED: the stale holder's result is the item's recorded result.
   */
  readonly outcome: 'fenced' | 'lock-lost' | 'killed' | 'runner-died' | 'not-stored' | 'UNFENCED';
}

export interface LockFindings {
  readonly overlaps: Overlap[];
  /** Two executions handed the same token for one lock: fencing would not tell them apart. */
  readonly tokenReuse: Array<{ lock: string; token: number; items: string[] }>;
}

/**
 * Two executions overlap on a lock when both held it (by their tokens) and their intervals
 * intersect. An execution holds from its start to its end line, or to when its result was
 * recorded if that is later: a holder whose result is stored after a newer holder started has
 * written under a stale token, even if its worker had finished.
 */
/** `runnerDeaths`: runner pid -> when it was killed or crashed (not its final shutdown). */
export function lockFindings(execs: readonly Execution[], events: readonly AgoraEvent[], runnerDeaths: ReadonlyMap<number, number> = new Map()): LockFindings {
  const fenced = new Set<string>();
  const lost = new Set<string>();
  for (const e of events) {
    if (e.type !== 'lock') continue;
    const key = `${e.itemId}|${String(e['lock'])}|${String(e['token'])}`;
    if (e['action'] === 'fenced') fenced.add(key);
    if (e['action'] === 'lost') lost.add(key);
  }
  const byLock = new Map<string, Execution[]>();
  for (const x of execs) for (const lock of Object.keys(x.tokens)) byLock.set(lock, [...(byLock.get(lock) ?? []), x]);
  const overlaps: Overlap[] = [];
  const tokenReuse: LockFindings['tokenReuse'] = [];
  for (const [lock, xs] of byLock) {
    const byToken = new Map<number, Execution[]>();
    for (const x of xs) byToken.set(x.tokens[lock]!, [...(byToken.get(x.tokens[lock]!) ?? []), x]);
    for (const [token, same] of byToken) if (same.length > 1) tokenReuse.push({ lock, token, items: same.map((x) => `${x.item}#${x.attempt}(pid ${x.pid})`) });
    const holdEnd = (x: Execution): number => Math.max(x.end, x.stored ? (x.storedAt ?? x.end) : x.end);
    const sorted = [...xs].sort((a, b) => a.start - b.start);
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i]!;
      for (let j = i + 1; j < sorted.length && sorted[j]!.start < holdEnd(a); j++) {
        const b = sorted[j]!;
        const overlapMs = Math.min(holdEnd(a), holdEnd(b)) - b.start;
        if (overlapMs <= 0) continue;
        const [stale, fresh] = a.tokens[lock]! < b.tokens[lock]! ? [a, b] : [b, a];
        const staleKeys = Object.entries(stale.tokens).map(([l, t]) => `${stale.item}|${l}|${t}`);
        const outcome: Overlap['outcome'] = stale.stored
          ? 'UNFENCED'
          : staleKeys.some((k) => fenced.has(k))
            ? 'fenced'
            : staleKeys.some((k) => lost.has(k))
              ? 'lock-lost'
              : stale.endKind === 'killed'
                ? 'killed'
                : (runnerDeaths.get(stale.ppid) ?? -Infinity) >= stale.end
                  ? 'runner-died'
                  : 'not-stored';
        const side = (x: Execution) => ({ item: x.item, attempt: x.attempt, pid: x.pid, token: x.tokens[lock]!, start: x.start, end: holdEnd(x) });
        overlaps.push({ lock, stale: side(stale), fresh: side(fresh), overlapMs, outcome });
      }
    }
  }
  return { overlaps, tokenReuse };
}

export interface ReExecutions {
  /** Items whose worker finished more than once. */
  readonly items: number;
  /** Finished executions beyond the first, over all items. */
  readonly extra: number;
  /** Executions that started after their item's result was already recorded. */
  readonly afterRecorded: number;
}

export function reExecutions(execs: readonly Execution[], results: ReadonlyMap<string, RecordedResult>): ReExecutions {
  const finished = new Map<string, number>();
  let afterRecorded = 0;
  for (const x of execs) {
    if (x.endKind === 'finished') finished.set(x.item, (finished.get(x.item) ?? 0) + 1);
    const r = results.get(x.item);
    if (r && x.start > r.at) afterRecorded++;
  }
  let items = 0;
  let extra = 0;
  for (const n of finished.values()) {
    if (n > 1) {
      items++;
      extra += n - 1;
    }
  }
  return { items, extra, afterRecorded };
}

export interface FaultRecovery {
  readonly kind: string;
  readonly atRunMs: number;
  readonly target: string;
  readonly note?: string;
  readonly workersKilled?: number;
  /** Items the runner was running when the fault hit (from the events). */
  readonly heldItems?: number;
  /**
   * Runner faults: from the fault until every item it held was running again elsewhere or had
   * ended. null when some never did (they are then lost items as well).
   */
  readonly heldResumedMs?: number | null;
  /** From the fault (Redis: from when it was back) until the next item was recorded done. */
  readonly nextDoneMs: number | null;
  /** Scheduler faults before the plan was fully enqueued: from the fault until it was. */
  readonly enqueuedAfterMs?: number;
}

/** Recovery figures per fault, from event times. See FaultRecovery for each definition. */
export function recoveries(faults: readonly FaultRecord[], events: readonly AgoraEvent[], enqueuedAt: number | undefined): FaultRecovery[] {
  const itemEvents = events.filter((e) => e.type === 'item' && e.itemId).map((e) => ({ e, t: ms(e.at) }));
  const doneTimes = itemEvents.filter(({ e }) => e.state === 'done').map(({ t }) => t).sort((a, b) => a - b);
  const firstAfter = (t: number): number | null => {
    const hit = doneTimes.find((d) => d >= t);
    return hit === undefined ? null : hit - t;
  };
  return faults.map((f) => {
    const from = f.kind === 'restart-redis' ? (f.liftedAt ?? f.at) : f.at;
    const base = {
      kind: f.kind,
      atRunMs: f.atRunMs,
      target: f.target,
      ...(f.note ? { note: f.note } : {}),
      ...(f.workersKilled !== undefined ? { workersKilled: f.workersKilled } : {}),
      nextDoneMs: firstAfter(from),
    };
    if (f.kind === 'kill-scheduler') {
      return enqueuedAt !== undefined && enqueuedAt > f.at ? { ...base, enqueuedAfterMs: enqueuedAt - f.at } : base;
    }
    if ((f.kind !== 'kill-runner' && f.kind !== 'pause-runner') || !f.runnerId) return base;
    // The items this runner was running at the fault: their last item event before it.
    const last = new Map<string, AgoraEvent>();
    for (const { e, t } of itemEvents) if (t <= f.at) last.set(e.itemId!, e);
    const held = [...last.values()].filter((e) => e.state === 'running' && e['runner'] === f.runnerId).map((e) => e.itemId!);
    let worst: number | null = 0;
    for (const item of held) {
      const next = itemEvents.find(({ e, t }) => t > f.at && e.itemId === item && (e.state === 'running' || TERMINAL.has(e.state ?? '')));
      if (!next) {
        worst = null;
        break;
      }
      worst = Math.max(worst, next.t - f.at);
    }
    return { ...base, heldItems: held.length, heldResumedMs: held.length === 0 ? 0 : worst };
  });
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}
