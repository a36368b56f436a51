--[[
  Marks a registered run as queued (once): its queue's maxWaiting leaves no room for its first
  chunk of jobs yet. markRunning moves it on when a chunk is admitted.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 the queued event (encoded)
  Output: 1 if the run moved to queued, 0 otherwise (not accepted: already queued, running, ended)
]]
--@include emit
local K = runKeys()
if redis.call('HGET', K.meta, 'state') ~= 'accepted' then return 0 end
redis.call('HSET', K.meta, 'state', 'queued')
emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[3])
return 1
