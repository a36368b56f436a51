--[[
  Writes one memo-cache entry (replacing an older one under the same key) and keeps the cache
  bounded: past the cap, the oldest entries go. Dropping an entry only costs its item one more
  execution, so the bound is a plain FIFO by write time.
  KEYS: 1 entries (hash: key -> entry JSON), 2 index (sorted set: key by write time, ms)
  ARGV: 1 key, 2 entry (JSON), 3 now (ms), 4 most entries kept
  Output: how many older entries were dropped
]]
local key, entry, now, maxEntries = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('HSET', KEYS[1], key, entry)
redis.call('ZADD', KEYS[2], now, key)
local over = redis.call('ZCARD', KEYS[2]) - maxEntries
if over <= 0 then return 0 end
local old = redis.call('ZPOPMIN', KEYS[2], over)
for i = 1, #old, 2 do redis.call('HDEL', KEYS[1], old[i]) end
return over
