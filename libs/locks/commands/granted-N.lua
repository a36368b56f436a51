--[[
  Records a successful acquisition: the holder leaves the wait queues, each lock gets its next
  fencing token (strictly increasing per lock), and the holder is noted for `agora locks`.
  KEYS: per lock, 4 keys: waiters, deadlines, token counter, holder hash
  ARGV: 1 member, 2 runId, 3 itemId, 4 since (ISO), 5 ttl ms
  Output: the new token of each lock, in KEYS order
]]
local tokens = {}
for i = 1, #KEYS, 4 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
  local token = redis.call('INCR', KEYS[i + 2])
  redis.call('HSET', KEYS[i + 3], 'runId', ARGV[2], 'itemId', ARGV[3], 'token', token, 'since', ARGV[4], 'member', ARGV[1])
  redis.call('PEXPIRE', KEYS[i + 3], ARGV[5])
  tokens[#tokens + 1] = token
end
return tokens
