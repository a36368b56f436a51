import type { AgoraEvent } from '@agora/core';

/** States an item is counted under in the summary line, in the order shown. */
const SHOWN = ['running', 'done', 'failed', 'skipped', 'cancelled'] as const;
const ENDED: ReadonlySet<string> = new Set(['done', 'failed', 'skipped', 'cancelled']);

/**
 * Text from a run (a worker's stderr tail, a rejected plan's problems) as it may go to a person's
 * terminal: control characters shown as U+FFFD, so an escape sequence or a carriage return in it
 * cannot clear the screen, retitle the window or overwrite the summary line.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

/**
 * What `agora watch` shows a person on a terminal instead of JSON lines: one live line (the run's
 * state, a progress bar, counts by state) redrawn in place, and a line per failure as it happens.
 * Pure: it folds events and renders text; the caller writes it (so it is tested without a TTY).
 */
export class WatchSummary {
  private total = 0;
  private runState = 'submitted';
  private readonly itemState = new Map<string, string>();
  private readonly counts = new Map<string, number>();

  /** Folds one event; returns the lines to print above the live line (failures), if any. */
  add(e: AgoraEvent): string[] {
    const ev = e as unknown as Record<string, unknown> & { type: string; state?: string; itemId?: string };
    if (ev.type === 'run' && typeof ev.state === 'string') {
      this.runState = ev.state;
      if (ev.state === 'accepted' && typeof ev['items'] === 'number') this.total = ev['items'];
      if (ev.state === 'rejected' && Array.isArray(ev['problems'])) return (ev['problems'] as unknown[]).map((p) => `rejected: ${printable(String(p))}`);
      return [];
    }
    if (ev.type !== 'item' || typeof ev.itemId !== 'string' || typeof ev.state !== 'string') return [];
    const before = this.itemState.get(ev.itemId);
    if (before !== undefined) this.counts.set(before, (this.counts.get(before) ?? 0) - 1);
    this.itemState.set(ev.itemId, ev.state);
    this.counts.set(ev.state, (this.counts.get(ev.state) ?? 0) + 1);
    if (ev.state !== 'failed') return [];
    const code = typeof ev['errorCode'] === 'string' ? ` ${ev['errorCode']}` : '';
    const exit = typeof ev['exitCode'] === 'number' ? ` (exit ${ev['exitCode']})` : '';
    const error = typeof ev['error'] === 'string' ? `: ${printable(ev['error'].split('\n')[0]!.slice(0, 300))}` : '';
    return [`✗ ${ev.itemId} failed${code}${exit}${error}`];
  }

  /** The live line, `width` columns at most. */
  line(width = 100): string {
    const ended = [...this.itemState.values()].filter((s) => ENDED.has(s)).length;
    const total = Math.max(this.total, this.itemState.size);
    const barWidth = 24;
    const filled = total === 0 ? 0 : Math.round((ended / total) * barWidth);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
    const counts = SHOWN.map((s) => [s, this.counts.get(s) ?? 0] as const)
      .filter(([s, n]) => n > 0 || s === 'done')
      .map(([s, n]) => `${s} ${n}`)
      .join('  ');
    return `${this.runState.padEnd(10)} ${bar} ${ended}/${total}  ${counts}`.slice(0, Math.max(20, width));
  }
}
