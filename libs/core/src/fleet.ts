import { z } from 'zod';
import { ValueError } from './errors.js';

/**
 * Fleet rules shared by the fleet providers, the CLI and the autoscaler: the config entry of a
 * fleet, the runner-count cap per host, and the autoscaler's decision. Pure functions only.
 */

/** A fleet's name: it becomes part of container names, labels and a folder under the data dir. */
export const FLEET_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** Bounds of the autoscaler: it keeps the replica count in `[min, max]` from the queues' depth. */
export const fleetAutoscaleSchema = z
  .object({
    /** Fewest replicas. @default 0 */
    min: z.number().int().nonnegative().max(1000).default(0),
    /** Most replicas (the provider's count rule may cap it further). */
    max: z.number().int().positive().max(1000),
    /** Unfinished item jobs (waiting + active) one replica is meant to carry. @default 10 */
    targetWaitingPerRunner: z.number().int().positive().max(1_000_000).default(10),
    /** Plan queues whose depth counts. @default every configured queue */
    queues: z.array(z.string().min(1)).min(1).optional(),
    /** How often `agora fleet autoscale` decides. @default 15000 */
    intervalMs: z.number().int().min(1000).max(3_600_000).default(15_000),
  })
  .strict()
  .refine((a) => a.min <= a.max, { message: 'autoscale.min must not exceed autoscale.max' });

export type FleetAutoscale = z.infer<typeof fleetAutoscaleSchema>;

/** `fleet.<name>` in the config: which provider keeps the runners, its options, and an optional autoscaler. */
export const fleetRefSchema = z
  .object({
    /** Registry alias: `local`, `docker`, `ecs`. */
    provider: z.string().min(1),
    /** The provider's own options, checked by the provider (each has a strict schema). */
    options: z.record(z.string(), z.unknown()).default({}),
    autoscale: fleetAutoscaleSchema.optional(),
  })
  .strict();

export const fleetConfigSchema = z
  .record(z.string(), fleetRefSchema)
  // Checked here rather than by the key schema: zod reports a bad record key only as "Invalid key in record".
  .superRefine((fleets, ctx) => {
    for (const name of Object.keys(fleets)) {
      if (!FLEET_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `invalid fleet name ${JSON.stringify(name.slice(0, 40))}: fleet names are 1-32 of [a-z0-9_-]` });
    }
  })
  .default({});

export type FleetRef = z.infer<typeof fleetRefSchema>;

/**
 * What runners started by a fleet provider need to join this deployment, besides the namespace
 * and data dir of the factory context: the Redis URL (given to them in the environment, never on
 * a command line) and the config file the caller loaded, if any. The CLI passes it.
 */
export interface RunnerLaunch {
  readonly redisUrl: string;
  /** Absolute path of the config file, or undefined when the caller ran on defaults. */
  readonly configFile?: string | undefined;
}

/**
 * Where a provider places its runners: on one machine it knows (`host`: local processes, one
 * Docker engine) or on cloud capacity (`cloud`: an ECS service).
 */
export type RunnerPlacement = 'host' | 'cloud';

/**
 * The runner-count cap of one host: `max(1, min(vcpu, count))`. Without a count, a host runs one
 * runner, and cloud capacity one per vCPU. More runners than CPUs only contend for them (each
 * runner already runs `max(1, min(cpus, concurrency))` items at once).
 *
 * Requires `vcpu >= 1` (a fractional count of CPUs is floored, never below 1).
 */
export function fleetRunnerCount(count: number | undefined, vcpu: number, placement: RunnerPlacement): number {
  if (!Number.isFinite(vcpu) || vcpu < 1) throw new ValueError(`vcpu must be a number >= 1, got ${String(vcpu)}`);
  const cpus = Math.floor(vcpu);
  if (count === undefined) return placement === 'cloud' ? cpus : 1;
  if (!Number.isInteger(count) || count < 0) throw new ValueError(`a runner count must be a non-negative integer, got ${String(count)}`);
  return Math.max(1, Math.min(cpus, count));
}

/**
 * The replicas a fleet provider starts for `agora fleet scale <replicas>`: 0 stops them all;
 * otherwise the host cap `fleetRunnerCount` (`vcpu` undefined: no cap, the number as given).
 * Refuses anything but a non-negative integer.
 */
export function fleetScaleTarget(replicas: number, vcpu: number | undefined, placement: RunnerPlacement): number {
  if (!Number.isInteger(replicas) || replicas < 0) throw new ValueError(`replicas must be a non-negative integer, got ${String(replicas)}`);
  return replicas === 0 || vcpu === undefined ? replicas : fleetRunnerCount(replicas, vcpu, placement);
}

/** What the autoscaler looks at: the queues' unfinished item jobs, and the replicas now. */
export interface AutoscaleInput {
  /** Item jobs waiting to start (wait, prioritized, delayed) across the fleet's queues. */
  readonly waiting: number;
  /** Item jobs running now. */
  readonly active: number;
  /** The fleet's desired replica count now. */
  readonly current: number;
}

/**
 * The replica count the autoscaler sets: enough replicas that each carries about
 * `targetWaitingPerRunner` unfinished jobs (`ceil((waiting + active) / target)`), within
 * `[min, max]`. Running jobs count too: scaling below the work in hand would hand items back
 * only to start them again. Scaling down waits until the queue is at most half the target per
 * remaining replica (hysteresis), so a depth near a boundary does not flap the count.
 */
export function autoscaleDecision(input: AutoscaleInput, bounds: Pick<FleetAutoscale, 'min' | 'max' | 'targetWaitingPerRunner'>): number {
  const work = Math.max(0, input.waiting) + Math.max(0, input.active);
  const clamp = (n: number): number => Math.min(bounds.max, Math.max(bounds.min, n));
  const wanted = clamp(Math.ceil(work / bounds.targetWaitingPerRunner));
  if (wanted >= input.current) return wanted;
  // Down: only to the count at which each replica would carry at most half the target.
  const down = clamp(Math.ceil(work / (bounds.targetWaitingPerRunner / 2)));
  return Math.min(clamp(input.current), Math.max(wanted, down));
}

/**
 * Parses a fleet provider's `options` with its strict schema; a problem names its path
 * (`fleet.<name>.options.vcpu: …`) so the config author finds it.
 */
export function parseFleetOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.infer<S> {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  throw new ValueError(parsed.error.issues.map((i) => `${where}.options${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; '));
}
