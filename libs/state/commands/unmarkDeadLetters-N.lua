--[[
  Undoes markDeadLetters for a replay whose submission failed: only the letters still marked by
  that run lose the mark, and get back the one a forced replay replaced (replayedByBefore).
  KEYS: the letters' hashes
  ARGV: 1 the run id that marked them
  Output: how many letters were unmarked
]]
local n = 0
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'replayedBy') == ARGV[1] then
    local before = redis.call('HGET', KEYS[i], 'replayedByBefore')
    if before then
      redis.call('HSET', KEYS[i], 'replayedBy', before, 'replayedAt', redis.call('HGET', KEYS[i], 'replayedAtBefore') or '')
    else
      redis.call('HDEL', KEYS[i], 'replayedBy', 'replayedAt')
    end
    redis.call('HDEL', KEYS[i], 'replayedByBefore', 'replayedAtBefore')
    n = n + 1
  end
end
return n
