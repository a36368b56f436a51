--[[
  The head waiter of each lock that stands free while holders wait for it. A release names the
  new head to wake, but a holder that died releases nothing: its lease runs out and the lock
  stays free, kept for a head that sleeps until its own fallback re-check (which BullMQ puts at
  the back of a backlog). The caller wakes the heads it is given: a runner for the locks it
  parked waiters on, and every runner for one page of all the locks in use (the runner that
  parked a head may have died too). A lock that is free with nobody waiting leaves the set of
  lock names in use (atomically here: a claim adds its names in its own script, so it cannot
  come in between the look and the removal).
  KEYS: 1 the set of lock names in use; then per lock, 2 keys: redlock resource, waiters zset
  ARGV: the lock names, in the order of their keys
  Output: per lock, the head member when the lock is free and has waiters, '' when it is held
          with waiters, '-' when nobody waits for it
]]
local out = {}
for i = 2, #KEYS, 2 do
  local head = redis.call('ZRANGE', KEYS[i + 1], 0, 0)[1]
  local held = redis.call('EXISTS', KEYS[i]) == 1
  if not head then
    if not held then redis.call('SREM', KEYS[1], ARGV[i / 2]) end
    out[#out + 1] = '-'
  elseif held then
    out[#out + 1] = ''
  else
    out[#out + 1] = head
  end
end
return out
