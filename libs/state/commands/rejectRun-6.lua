--[[
  Records a plan the scheduler refused (it failed validation after it was queued).
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 planId, 4 the rejected event (encoded), 5 the queue the submitted plan
        named ("" when none can be told: the field is then left out, as before)
  Output: 1 recorded, 0 the run already existed
]]
--@include emit
local K = runKeys()
if redis.call('EXISTS', K.meta) == 1 then return 0 end
redis.call('HSET', K.meta, 'id', ARGV[1], 'createdAt', ARGV[2], 'planId', ARGV[3], 'state', 'rejected', 'seq', 0,
  'total', 0, 'terminal', 0, 'finishedAt', ARGV[2])
if ARGV[5] and ARGV[5] ~= '' then redis.call('HSET', K.meta, 'queue', ARGV[5]) end
emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[4])
return 1
