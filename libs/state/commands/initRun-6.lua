--[[
  Creates a run record, once. Re-running it for an existing run returns the registration progress,
  so a scheduler that crashed half-way resumes where it stopped.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 total, 4 queue, 5 planId, 6 the accepted event (encoded),
        7 the run's traceparent ('' for none; kept from the first call, like the accepted event)
  Output: { registeredChunks, flowChunks, state, traceparent, createdAt }
]]
--@include emit
local K = runKeys()
if redis.call('EXISTS', K.meta) == 1 then
  local m = redis.call('HMGET', K.meta, 'registered', 'flowChunks', 'state', 'traceparent', 'createdAt')
  return { tonumber(m[1] or '0'), tonumber(m[2] or '0'), m[3] or '', m[4] or '', m[5] or '' }
end
redis.call('HSET', K.meta, 'id', ARGV[1], 'createdAt', ARGV[2], 'total', ARGV[3], 'queue', ARGV[4], 'planId', ARGV[5],
  'state', 'accepted', 'seq', 0, 'terminal', 0, 'registered', 0, 'flowChunks', 0)
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', K.meta, 'traceparent', ARGV[7]) end
emit(K.meta, K.events, ARGV[1], ARGV[2], ARGV[6])
return { 0, 0, 'accepted', ARGV[7] or '', ARGV[2] }
