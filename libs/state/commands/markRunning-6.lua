--[[
  Marks a fully registered run as running (once; from accepted, or from queued when its first
  chunk of jobs was admitted) and records flow-chunk progress.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 flowChunks (-1 = do not record progress, only mark running)
  Output: 1 if the run moved to running, 0 otherwise
]]
--@include emit
local K = runKeys()
local fc = tonumber(ARGV[3])
if fc >= 0 then redis.call('HSET', K.meta, 'flowChunks', fc) end
local st = redis.call('HGET', K.meta, 'state')
if st == 'accepted' or st == 'queued' then
  redis.call('HSET', K.meta, 'state', 'running')
  emit(K.meta, K.events, ARGV[1], ARGV[2], event({ type = 'run', state = 'running' }))
  return 1
end
return 0
