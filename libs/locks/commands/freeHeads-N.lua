--[[
  The head waiter of each lock that stands free while holders wait for it. A release names the
  new head to wake, but a holder that died releases nothing: its lease runs out and the lock
  stays free, kept for a head that sleeps until its own fallback re-check (which BullMQ puts at
  the back of a backlog). Read-only: the caller wakes the heads it is given.
  KEYS: per lock, 2 keys: redlock resource, waiters zset
  Output: per lock, the head member when the lock is free and has waiters, '' when it is held,
          '-' when nobody waits for it
]]
local out = {}
for i = 1, #KEYS, 2 do
  local head = redis.call('ZRANGE', KEYS[i + 1], 0, 0)[1]
  if not head then
    out[#out + 1] = '-'
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    out[#out + 1] = ''
  else
    out[#out + 1] = head
  end
end
return out
