--[[
  Requests cancellation of a run: every item not yet started ends "cancelled" now; running items
  are told through the cancel channel and end "cancelled" when their workers stop.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 finishedChannel, 4 cancelChannel, 5 the cancelling event (encoded)
  Output: -1 no such run, 0 run already terminal, otherwise 1 + number of items running
]]
--@include emit
local K = runKeys()
local runId, at = ARGV[1], ARGV[2]
local st = redis.call('HGET', K.meta, 'state')
if not st then return -1 end
if st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'rejected' then return 0 end
if redis.call('HGET', K.meta, 'cancelRequested') ~= '1' then
  redis.call('HSET', K.meta, 'cancelRequested', '1')
  emit(K.meta, K.events, runId, at, ARGV[5])
end
local all = redis.call('HGETALL', K.items)
local running = 0
for i = 1, #all, 2 do
  local s = all[i + 1]
  if s == 'waiting' or s == 'queued' then
    setTerminal(K, runId, at, all[i], 'cancelled', event({ type = 'item', itemId = all[i], state = 'cancelled', reason = 'run cancelled' }), '', ARGV[3])
  elseif s == 'running' then
    running = running + 1
  end
end
redis.call('PUBLISH', ARGV[4], runId)
-- A run with nothing running ends here; otherwise the last running item ends it.
maybeFinishRun(K, runId, at, ARGV[3])
return 1 + running
