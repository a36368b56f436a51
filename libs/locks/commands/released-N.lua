--[[
  Releases a holder's locks and returns whom to wake, in one step: deletes each redlock key that
  still holds this lease's value (a lease lost to someone else is left alone, as redlock's own
  release does), forgets the holder (only if its token is still the one recorded), and returns
  the waiter now at the head of each lock's queue. A final release also forgets the holder's
  remembered arrival (a hand-back keeps it, so the job rejoins at its place).
  KEYS: 1 remembered arrivals zset; then per lock, 5 keys: redlock resource, waiters, deadlines,
        token counter, holder hash
  ARGV: 1 lease value ('' when the redlock keys are not ours, e.g. a refused claim never
        recorded a holder), 2 now ms, 3 member whose arrival to forget ('' to keep it), then one
        token per lock ('' when none)
  Output: head waiter member per lock ('' when none)
]]
--@include waiters
--@include claim
return releaseLocks(KEYS[1], lockKeyTable(2), ARGV[1], ARGV[2], ARGV[3], { unpack(ARGV, 4) })
