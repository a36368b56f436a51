--[[
  Invalidates one memo-cache entry, but only while it still names the given result: a runner
  that found the artifact gone must not drop an entry another runner has just rewritten.
  KEYS: 1 entries (hash), 2 index (sorted set)
  ARGV: 1 key, 2 resultRef the caller found gone
  Output: 1 dropped, 0 absent or naming another result
]]
local text = redis.call('HGET', KEYS[1], ARGV[1])
if not text then return 0 end
local ok, entry = pcall(cjson.decode, text)
if ok and type(entry) == 'table' and entry.resultRef ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
