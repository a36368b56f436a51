--[[
  Queues a holder on each of its locks (once, at its first arrival) and says whether it is at the
  head of every queue: only then may it try to take the locks. One arrival time serves all of a
  holder's locks, so all queues agree on who came first, and no two holders can each be first on
  one lock and second on the other (no deadlock). Waiters whose deadline passed (their runner
  vanished) are dropped first.
  A holder whose runner died while it held its locks rejoins at its remembered arrival.
  KEYS: 1 the set of lock names in use, 2 remembered arrivals zset; then per lock, 2 keys: waiters
        zset (member -> arrival), deadlines zset (member -> deadline)
  ARGV: 1 member, 2 arrival ms, 3 now ms, 4 deadline ms, 5.. the lock names (for KEYS[1])
  Output: { 0 } when at every head, else { index of the first lock where it waits (1-based), position (1-based) }
]]
--@include waiters
local member, now, deadline = ARGV[1], tonumber(ARGV[3]), ARGV[4]
local arrival = rememberedArrival(KEYS[2], member, tonumber(ARGV[2]), now)
local blockedAt, position = 0, 0
redis.call('SADD', KEYS[1], unpack(ARGV, 5))
for i = 3, #KEYS, 2 do
  local waiters, deadlines = KEYS[i], KEYS[i + 1]
  dropDeparted(waiters, deadlines, now, member)
  redis.call('ZADD', waiters, 'NX', arrival, member)
  redis.call('ZADD', deadlines, deadline, member)
  local rank = redis.call('ZRANK', waiters, member)
  if rank > 0 and blockedAt == 0 then
    blockedAt = (i - 1) / 2
    position = rank + 1
  end
end
if blockedAt == 0 then return { 0 } end
return { blockedAt, position }
