--[[
  Deletes dead letters: their hashes, their index entries and their runs' set members.
  KEYS: 1 the index, 2.. the letters' hashes
  ARGV: 1 the dead-letter key prefix, 2.. the letters' ids (in KEYS order from KEYS[2])
  Output: how many letters existed and were deleted
]]
local n = 0
for i = 2, #KEYS do
  local id = ARGV[i]
  n = n + redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], id)
  local dot = string.find(id, '.', 1, true)
  if dot then redis.call('SREM', ARGV[1] .. 'run:' .. string.sub(id, 1, dot - 1), id) end
end
return n
