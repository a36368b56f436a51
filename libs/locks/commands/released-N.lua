--[[
  After a holder released its locks: forgets it as holder (only if it still is: a lease lost to
  someone else must not erase the new holder) and returns the waiter now at the head of each
  lock's queue, to be woken.
  KEYS: per lock, 4 keys: waiters, deadlines, token counter, holder hash
  ARGV: 1 member, 2 now ms, then one token per lock
  Output: head waiter member per lock ('' when none)
]]
local heads = {}
local n = 0
for i = 1, #KEYS, 4 do
  n = n + 1
  if redis.call('HGET', KEYS[i + 3], 'token') == ARGV[2 + n] then redis.call('DEL', KEYS[i + 3]) end
  local dead = redis.call('ZRANGEBYSCORE', KEYS[i + 1], '-inf', '(' .. ARGV[2])
  for _, m in ipairs(dead) do
    redis.call('ZREM', KEYS[i], m)
    redis.call('ZREM', KEYS[i + 1], m)
  end
  local head = redis.call('ZRANGE', KEYS[i], 0, 0)
  heads[#heads + 1] = head[1] or ''
end
return heads
