import type { Rng } from './prng.js';

export type FaultKind = 'kill-runner' | 'pause-runner' | 'kill-scheduler' | 'restart-redis';

/** A fault as planned from the seed: `atMs` after the plan was submitted. */
export interface PlannedFault {
  readonly kind: FaultKind;
  readonly atMs: number;
  /** Seeded choice among the candidates at that moment (index modulo their number). */
  readonly pick: number;
}

/** A fault as it happened. */
export interface FaultRecord {
  readonly kind: FaultKind;
  /** ms since the epoch, when the signal was sent */
  readonly at: number;
  /** ms after submission */
  readonly atRunMs: number;
  readonly target: string;
  readonly pid: number;
  /** `hostname:pid`, the runner id that events carry (runners only). */
  readonly runnerId?: string;
  /** How the target was chosen (schedulers: how the active one was told apart). */
  readonly note?: string;
  /** Worker processes killed with a runner (tree kill). */
  readonly workersKilled?: number;
  /** When the fault was lifted: SIGCONT for a pause, Redis listening again for a restart. */
  liftedAt?: number;
}

export interface ScheduleShape {
  /** Runner kills happen every 2-4 s inside this window after submission. */
  readonly faultWindowMs: number;
  readonly pauseMs: number;
}

/**
 * The fault timeline of a seed. Each single fault falls early enough that a run of the default
 * size is still going: the scheduler while the plan is being taken in, the pause and the Redis
 * restart in the first half of the window.
 */
export function planFaults(rng: Rng, shape: ScheduleShape): PlannedFault[] {
  const out: PlannedFault[] = [];
  const big = () => rng.int(0, 1_000_000);
  out.push({ kind: 'kill-scheduler', atMs: Math.round(rng.between(200, 1500)), pick: big() });
  out.push({ kind: 'pause-runner', atMs: Math.round(rng.between(6_000, 14_000)), pick: big() });
  out.push({ kind: 'restart-redis', atMs: Math.round(rng.between(18_000, 28_000)), pick: big() });
  for (let t = rng.between(2_000, 4_000); t < shape.faultWindowMs; t += rng.between(2_000, 4_000)) {
    out.push({ kind: 'kill-runner', atMs: Math.round(t), pick: big() });
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}
