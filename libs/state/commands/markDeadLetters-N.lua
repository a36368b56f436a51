--[[
  Marks dead letters replayed by a new run, all or none: a letter already replayed is refused
  unless forced, and an unknown one refuses the whole set.
  KEYS: the letters' hashes
  ARGV: 1 the new run id, 2 when (ISO-8601), 3 '1' to replay letters already replayed
  Output: { 1 } marked; { 0, i... } refused: the 1-based KEYS indexes already replayed;
          { -1, i } the letter at KEYS[i] does not exist
]]
local replayed = { 0 }
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return { -1, i } end
  if ARGV[3] ~= '1' and redis.call('HEXISTS', KEYS[i], 'replayedBy') == 1 then replayed[#replayed + 1] = i end
end
if #replayed > 1 then return replayed end
for i = 1, #KEYS do
  -- A forced replay keeps the mark it replaces, for unmarkDeadLetters to put back when its
  -- submission fails (deleting the mark made the letter look never replayed).
  local by = redis.call('HGET', KEYS[i], 'replayedBy')
  if by then
    redis.call('HSET', KEYS[i], 'replayedByBefore', by, 'replayedAtBefore', redis.call('HGET', KEYS[i], 'replayedAt') or '')
  else
    redis.call('HDEL', KEYS[i], 'replayedByBefore', 'replayedAtBefore')
  end
  redis.call('HSET', KEYS[i], 'replayedBy', ARGV[1], 'replayedAt', ARGV[2])
end
return { 1 }
