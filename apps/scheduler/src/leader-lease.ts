import type { RedisClient } from '@agora/state';
import { AgoraError, type Keys } from '@agora/core';

/**
 * Taking the lease bumps the epoch in the same script, so every holder has an epoch of its own:
 * the fencing token a write is checked against.
 * KEYS: 1 leader, 2 leaderEpoch. ARGV: 1 holder id, 2 ttl (ms). Output: the new epoch, or 0 when held.
 */
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`;

/**
 * Compare-and-extend. A lease that expired while nobody took it (the holder was slow, paused, or
 * cut off from Redis for a moment) is taken back when the epoch has not moved: no other scheduler
 * acted since, so continuing is safe and a needless failover is avoided.
 * KEYS: 1 leader, 2 leaderEpoch. ARGV: 1 holder id, 2 ttl (ms), 3 our epoch. Output: 1 held, 0 lost.
 */
const RENEW = `
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** Compare-and-delete, so a standby can take over at once after a clean shutdown. KEYS: 1 leader. ARGV: 1 holder id. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface LeaseCommands {
  agoraLeaseAcquire(leader: string, epoch: string, holder: string, ttlMs: number): Promise<number>;
  agoraLeaseRenew(leader: string, epoch: string, holder: string, ttlMs: number, ours: number): Promise<number>;
  agoraLeaseRelease(leader: string, holder: string): Promise<number>;
}

/** The scheduler acted (or was about to) without holding the newest lease: it must stop. */
export class LeaseLostError extends AgoraError {
  /** Our epoch, if we had one. */
  readonly epoch: number | undefined;
  /** The epoch in Redis when the loss was found, if read. */
  readonly newestEpoch: string | null | undefined;
  constructor(message: string, epoch?: number, newestEpoch?: string | null) {
    // Retryable: the work goes back to the queue for the scheduler that holds the lease now.
    super('FENCED', message, { retryable: true });
    this.epoch = epoch;
    this.newestEpoch = newestEpoch;
  }
}

/**
 * The active-scheduler lease: a key holding a random holder id with a TTL, taken with SET NX PX,
 * renewed by compare-and-extend, and a fencing epoch incremented on each acquisition. This class
 * only talks to Redis; the scheduler decides when to tick and what to start and stop.
 */
export class LeaderLease {
  /** Our epoch while we believe we hold the lease. */
  private heldEpoch: number | undefined;
  /** Local deadline: the lease cannot be trusted past this without asking Redis. */
  private until = 0;
  private readonly cmd: LeaseCommands;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly holder: string,
    readonly ttlMs: number,
  ) {
    // Defined before any command is sent on this connection (see RunStore's constructor).
    redis.defineCommand('agoraLeaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('agoraLeaseRenew', { numberOfKeys: 2, lua: RENEW });
    redis.defineCommand('agoraLeaseRelease', { numberOfKeys: 1, lua: RELEASE });
    this.cmd = redis as unknown as LeaseCommands;
  }

  get epoch(): number | undefined {
    return this.heldEpoch;
  }

  /** Whether the local deadline has passed (the process may have been paused). */
  get expiredLocally(): boolean {
    return Date.now() >= this.until;
  }

  /** Takes the lease if free; returns the new epoch, or undefined when another holds it. */
  async tryAcquire(): Promise<number | undefined> {
    const sent = Date.now();
    const epoch = Number(await this.cmd.agoraLeaseAcquire(this.keys.leader, this.keys.leaderEpoch, this.holder, this.ttlMs));
    if (epoch <= 0) return undefined;
    this.heldEpoch = epoch;
    // Measured from before the request: Redis may have started the TTL any time after it.
    this.until = sent + this.ttlMs;
    return epoch;
  }

  /** Extends the lease; false when it is no longer ours (then `epoch` is undefined). */
  async renew(): Promise<boolean> {
    const epoch = this.heldEpoch;
    if (epoch === undefined) return false;
    const sent = Date.now();
    const ok = (await this.cmd.agoraLeaseRenew(this.keys.leader, this.keys.leaderEpoch, this.holder, this.ttlMs, epoch)) === 1;
    if (!ok) this.heldEpoch = undefined;
    else if (this.heldEpoch === epoch) this.until = sent + this.ttlMs;
    return ok;
  }

  /** The epoch in Redis now (one GET): ours while we lead. */
  async newestEpoch(): Promise<string | null> {
    return this.redis.get(this.keys.leaderEpoch);
  }

  /** The epoch and the holder in Redis now (one MGET: both keys are in one slot). */
  async current(): Promise<{ epoch: string | null; holder: string | null }> {
    const [holder, epoch] = await this.redis.mget(this.keys.leader, this.keys.leaderEpoch);
    return { epoch: epoch ?? null, holder: holder ?? null };
  }

  /** Who holds the lease now, for logs. */
  async currentHolder(): Promise<string | null> {
    return this.redis.get(this.keys.leader);
  }

  /** Forgets the lease locally (found lost elsewhere). */
  drop(): void {
    this.heldEpoch = undefined;
  }

  /** Gives the lease up if still ours. */
  async release(): Promise<void> {
    this.heldEpoch = undefined;
    await this.cmd.agoraLeaseRelease(this.keys.leader, this.holder);
  }
}
