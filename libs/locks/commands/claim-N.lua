--[[
  Runs right after the holder took the redlock keys of all its locks: says whether it may keep
  them. It may when, on every lock, the wait queue is empty or it is the head. Then it leaves the
  queues, each lock gets its next fencing token (strictly increasing per lock), and the holder is
  noted for `agora locks`. Otherwise it joins every queue (once: one arrival time serves all of a
  holder's locks, so all queues agree on who came first and no two holders can deadlock) and the
  caller gives the keys back. Waiters whose deadline passed (their runner vanished) are dropped
  first.
  KEYS: 1 the set of lock names in use; then per lock, 4 keys: waiters zset (member -> arrival),
        deadlines zset (member -> deadline), token counter, holder hash
  ARGV: 1 member, 2 arrival ms, 3 now ms, 4 waiter deadline ms, 5 runId, 6 itemId,
        7 since (ISO), 8 lease ms, 9.. the lock names (for KEYS[1])
  Output: { 0, token per lock... } when granted, else
          { index of the first lock where it waits (1-based), position (1-based) }
]]
--@include waiters
local member, arrival, now, deadline = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('SADD', KEYS[1], unpack(ARGV, 9))
local blockedAt = 0
for i = 2, #KEYS, 4 do
  local waiters, deadlines = KEYS[i], KEYS[i + 1]
  dropDeparted(waiters, deadlines, now, member)
  local head = redis.call('ZRANGE', waiters, 0, 0)[1]
  if blockedAt == 0 and head and head ~= member then blockedAt = (i + 2) / 4 end
end
if blockedAt > 0 then
  local position = 0
  for i = 2, #KEYS, 4 do
    redis.call('ZADD', KEYS[i], 'NX', arrival, member)
    redis.call('ZADD', KEYS[i + 1], deadline, member)
    if (i + 2) / 4 == blockedAt then position = redis.call('ZRANK', KEYS[i], member) + 1 end
  end
  return { blockedAt, position }
end
local out = { 0 }
for i = 2, #KEYS, 4 do
  redis.call('ZREM', KEYS[i], member)
  redis.call('ZREM', KEYS[i + 1], member)
  local token = redis.call('INCR', KEYS[i + 2])
  redis.call('HSET', KEYS[i + 3], 'runId', ARGV[5], 'itemId', ARGV[6], 'token', token, 'since', ARGV[7], 'member', member)
  redis.call('PEXPIRE', KEYS[i + 3], ARGV[8])
  out[#out + 1] = token
end
return out
