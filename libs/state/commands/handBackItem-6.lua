--[[
  Hands a running item back to the queue: a runner shutting down stopped its worker before it
  finished, and its job goes back to wait for another runner. The item becomes "queued" again
  (once: a repeat finds it no longer running) and the start does not count against the item's
  stall budget (see beginItem). Its event has type "handedBack".
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 the handedBack event (encoded), 5.. events right after it (lock
        releases, encoded)
  Output: 1 handed back, 0 the item was not running (already ended, or handed back before)
]]
--@include emit
local K = runKeys()
if redis.call('HGET', K.items, ARGV[3]) ~= 'running' then return 0 end
redis.call('HSET', K.items, ARGV[3], 'queued')
-- Its slot (maxParallel) is free; no waiter is woken: this job itself goes back to wait and takes it.
releaseSlot(K, nil)
redis.call('HINCRBY', K.pending, 'handbacks:' .. ARGV[3], 1)
emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[4])
for i = 5, #ARGV do emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[i]) end
return 1
