--[[
  Appends one event to a run's stream (lock acquired/released, retry, ...), taking the next seq.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3.. event fragments (one event each)
  Output: seq of the last event, or -1 when the run does not exist
]]
--@include emit
local K = runKeys()
if redis.call('EXISTS', K.meta) == 0 then return -1 end
local seq = -1
for i = 3, #ARGV do seq = emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[i]) end
return seq
