--[[
  Sent right behind redlock's acquisition of all of a holder's locks, on the same connection (one
  round trip for both): says whether the holder got the keys and may keep them.
  - The keys do not hold this lease's value (redlock found one taken): the holder joins every
    queue and is told where it stands.
  - They do, and on every lock the wait queue is empty or the holder is its head: it leaves the
    queues, each lock gets its next fencing token (strictly increasing per lock), and the holder
    is noted for `agora locks`.
  - They do, but an earlier waiter is queued: it joins the queues; the caller gives the keys back.
  Joining keeps the first arrival: one arrival time, remembered per holder until its final
  release, serves all of a holder's locks and every rejoin, so all queues agree on who came first
  and no two holders can deadlock. A holder granted the locks leaves the queues, but if its runner
  dies while holding, the retried job rejoins at its old place instead of at the back. Waiters
  whose deadline passed (their runner vanished) are dropped first.
  KEYS: 1 the set of lock names in use, 2 remembered arrivals zset (member -> arrival); then per
        lock, 5 keys: redlock resource, waiters zset (member -> arrival), deadlines zset
        (member -> deadline), token counter, holder hash
  ARGV: 1 member, 2 arrival ms, 3 now ms, 4 waiter deadline ms, 5 runId, 6 itemId,
        7 since (ISO), 8 lease ms, 9 lease value, 10.. the lock names (for KEYS[1])
  Output: { 0, token per lock... } when granted;
          { -1, index of the first lock where it waits or 0 when first everywhere, position }
          when the keys are not ours;
          { index of the first lock where it waits (1-based), position (1-based) } when refused
]]
--@include waiters
--@include claim
return claimLocks({ names = KEYS[1], arrivals = KEYS[2], locks = lockKeyTable(3) }, {
  member = ARGV[1], arrival = ARGV[2], now = ARGV[3], deadline = ARGV[4], runId = ARGV[5], itemId = ARGV[6],
  since = ARGV[7], ttl = ARGV[8], value = ARGV[9], lockNames = { unpack(ARGV, 10) },
})
