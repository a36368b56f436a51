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
local member, now, deadline = ARGV[1], tonumber(ARGV[3]), ARGV[4]
local arrival = rememberedArrival(KEYS[2], member, tonumber(ARGV[2]), now)
redis.call('SADD', KEYS[1], unpack(ARGV, 10))
local held = true
local blockedAt = 0
for i = 3, #KEYS, 5 do
  if redis.call('GET', KEYS[i]) ~= ARGV[9] then held = false end
  local waiters, deadlines = KEYS[i + 1], KEYS[i + 2]
  dropDeparted(waiters, deadlines, now, member)
  local head = redis.call('ZRANGE', waiters, 0, 0)[1]
  if blockedAt == 0 and head and head ~= member then blockedAt = (i + 2) / 5 end
end
if not held or blockedAt > 0 then
  local position = 1
  for i = 3, #KEYS, 5 do
    redis.call('ZADD', KEYS[i + 1], 'NX', arrival, member)
    redis.call('ZADD', KEYS[i + 2], deadline, member)
    if (i + 2) / 5 == blockedAt then position = redis.call('ZRANK', KEYS[i + 1], member) + 1 end
  end
  if not held then return { -1, blockedAt, position } end
  return { blockedAt, position }
end
-- Granted: remember the arrival (the earliest the queues knew) until the final release.
local first = redis.call('ZSCORE', KEYS[4], member)
if first and tonumber(first) < arrival then arrival = tonumber(first) end
redis.call('ZADD', KEYS[2], arrival, member)
local out = { 0 }
for i = 3, #KEYS, 5 do
  redis.call('ZREM', KEYS[i + 1], member)
  redis.call('ZREM', KEYS[i + 2], member)
  local token = redis.call('INCR', KEYS[i + 3])
  redis.call('HSET', KEYS[i + 4], 'runId', ARGV[5], 'itemId', ARGV[6], 'token', token, 'since', ARGV[7], 'member', member)
  redis.call('PEXPIRE', KEYS[i + 4], ARGV[8])
  out[#out + 1] = token
end
return out
