--[[
  One page of the fleet-wide sweep for heads a dead holder stranded (see freeHeads-N.lua, which
  looks only at the locks a runner parked waiters on). For locks no live runner watches: the
  runner that parked the head died as well as the holder. Also forgets, from the set of lock
  names in use, each lock that is free and has nobody waiting (atomically here: a claim adds its
  names in its own script, so it cannot come in between the look and the removal).
  KEYS: 1 the set of lock names in use; then per lock, 2 keys: redlock resource, waiters zset
  ARGV: the lock names, in the order of their keys
  Output: per lock, the head member when the lock is free and has waiters, '' otherwise
]]
local out = {}
for i = 2, #KEYS, 2 do
  local name = ARGV[i / 2]
  local head = redis.call('ZRANGE', KEYS[i + 1], 0, 0)[1]
  local held = redis.call('EXISTS', KEYS[i]) == 1
  if head and not held then
    out[#out + 1] = head
  else
    if not head and not held then redis.call('SREM', KEYS[1], name) end
    out[#out + 1] = ''
  end
end
return out
