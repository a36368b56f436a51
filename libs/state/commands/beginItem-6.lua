--[[
  Decides, atomically, what a runner does with an item job it just took:
  - the item is already terminal (a retried or recovered job): do nothing but release its gates;
  - the run was cancelled: the item ends "cancelled";
  - a dependency did not end "done": the item ends "skipped";
  - otherwise the item becomes "running" (an event records the attempt and runner) and the
    dependencies' resultRefs are returned.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 depsCsv, 5 attempt, 6 runner, 7 finishedChannel,
        8 extra fields of the running event ('' for none), 9.. events emitted just before it
        (lock acquisitions), only when the item does run
  Output: { 'terminal', state, resultRef } or { 'run', dep1, ref1, dep2, ref2, ... }
]]
--@include emit
local K = runKeys()
local runId, at, itemId = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', K.items, itemId)
if not cur then return { 'terminal', 'unknown', '' } end
if isTerminal(cur) then return { 'terminal', cur, redis.call('HGET', K.results, itemId) or '' } end
local item = '"type":"item","itemId":"' .. itemId .. '",'
if redis.call('HGET', K.meta, 'cancelRequested') == '1' then
  setTerminal(K, runId, at, itemId, 'cancelled', item .. '"state":"cancelled","reason":"run cancelled"', '', ARGV[7])
  return { 'terminal', 'cancelled', '' }
end
local out = { 'run' }
for dep in string.gmatch(ARGV[4], '[^,]+') do
  local s = redis.call('HGET', K.items, dep)
  if s ~= 'done' then
    setTerminal(K, runId, at, itemId, 'skipped',
      item .. '"state":"skipped","reason":"dependency ' .. dep .. ' ended ' .. (s or 'unknown') .. '","dependency":"' .. dep .. '"', '', ARGV[7])
    return { 'terminal', 'skipped', '' }
  end
  out[#out + 1] = dep
  out[#out + 1] = redis.call('HGET', K.results, dep) or ''
end
for i = 9, #ARGV do emit(K.meta, K.events, runId, at, ARGV[i]) end
redis.call('HSET', K.items, itemId, 'running')
emit(K.meta, K.events, runId, at, item .. '"state":"running","attempt":' .. tonumber(ARGV[5]) .. ',"runner":"' .. ARGV[6] .. '"' .. ARGV[8])
return out
