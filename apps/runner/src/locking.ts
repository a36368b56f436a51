/**
 * The runner's view of resource locks: @agora/locks itself. The item start and end scripts of
 * @agora/state claim and release the same keys in the same step as the run's writes, so another
 * implementation would have to keep libs/locks' key layout and Lua; there is no seam here.
 */
export type {
  AcquireResult,
  LockHolder,
  LockLease as LockLeaseLike,
  LockManager as LockServiceLike,
} from '@agora/locks';
