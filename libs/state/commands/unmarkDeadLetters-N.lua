--[[
  Undoes markDeadLetters for a replay whose submission failed: only the letters still marked by
  that run lose the mark.
  KEYS: the letters' hashes
  ARGV: 1 the run id that marked them
  Output: how many letters were unmarked
]]
local n = 0
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'replayedBy') == ARGV[1] then
    redis.call('HDEL', KEYS[i], 'replayedBy', 'replayedAt')
    n = n + 1
  end
end
return n
