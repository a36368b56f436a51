--[[
  Appends one event to a run's stream (lock acquired/released, retry, ...), taking the next seq.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3.. events (each an encoded JSON object)
  Output: seq of the last event, -1 when the run does not exist, -2 when it already ended
]]
--@include emit
local K = runKeys()
local st = redis.call('HGET', K.meta, 'state')
if not st then return -1 end
-- A finished run's stream is closed: its terminal event stays last, and what was sealed is all.
if st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'rejected' then return -2 end
local seq = -1
for i = 3, #ARGV do seq = emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[i]) end
return seq
