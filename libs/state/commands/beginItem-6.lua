--[[
  Decides, atomically, what a runner does with an item job it just took:
  - the item is already terminal (a retried or recovered job): do nothing but name its parked
    dependents that are ready, to be woken again;
  - the job's definition (executor, inputs, locks, dependencies, target, task) does not hash to
    the one registered when the run was accepted (someone edited the job's data in Redis or in
    Bull Board): the item ends "failed" with an INTEGRITY error, and nothing runs;
  - the run was cancelled: the item ends "cancelled";
  - a dependency outside the item's flow tree has not ended yet: the job must park ('wait');
  - a dependency did not end "done": the item ends "skipped";
  - it already started more often than its budget allows without ever finishing (its runners
    died each time; hand-backs do not count): the item ends "failed" with errorCode STALLED;
  - otherwise the item becomes "running" and the dependencies' resultRefs are returned. Its
    event records the runner and the attempt: the number of times the item has started, counted
    here, so a retry, a stalled job run again and a hand-back each show the right number.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 depsCsv, 5 definition hash of the job's data, 6 finishedChannel,
        7 the running event (encoded, without `attempt`), 8 the item's job id (recorded to be
        woken when it must wait), 9 the most starts allowed (attempts + stalls), 10.. events
        emitted just before it (lock acquisitions, encoded), only when the item does run
  Output: { 'terminal', state, resultRef, job ids to wake... }, { 'wait', dependencies left }
          or { 'run', attempt, dep1, ref1, dep2, ref2, ... }
]]
--@include emit
local K = runKeys()
local runId, at, itemId = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', K.items, itemId)
if not cur then return { 'terminal', 'unknown', '' } end
local function terminal(state, result, wakes)
  local out = { 'terminal', state, result }
  for _, j in ipairs(wakes) do out[#out + 1] = j end
  return out
end
local wakes = {}
if isTerminal(cur) then
  readyDependents(K, itemId, wakes)
  return terminal(cur, redis.call('HGET', K.results, itemId) or '', wakes)
end
-- Runs accepted before definitions were registered have no hash to compare with.
local registered = redis.call('HGET', K.pending, 'def:' .. itemId)
if registered and registered ~= ARGV[5] then
  setTerminal(K, runId, at, itemId, 'failed', event({ type = 'item', itemId = itemId, state = 'failed', errorCode = 'INTEGRITY',
    error = 'the job data does not match the definition registered when the run was accepted; nothing was run',
    definitionHash = registered, jobDefinitionHash = ARGV[5] }), '', ARGV[6], nil, wakes)
  return terminal('failed', '', wakes)
end
if redis.call('HGET', K.meta, 'cancelRequested') == '1' then
  setTerminal(K, runId, at, itemId, 'cancelled', event({ type = 'item', itemId = itemId, state = 'cancelled', reason = 'run cancelled' }), '', ARGV[6], nil, wakes)
  return terminal('cancelled', '', wakes)
end
local left = tonumber(redis.call('HGET', K.pending, itemId) or '0')
if left > 0 then
  -- Parked until the runner ending its last dependency wakes this job (see setTerminal).
  redis.call('HSET', K.pending, 'wake:' .. itemId, ARGV[8])
  return { 'wait', left }
end
redis.call('HDEL', K.pending, 'wake:' .. itemId)
local started = tonumber(redis.call('HGET', K.pending, 'runs:' .. itemId) or '0')
local handedBack = tonumber(redis.call('HGET', K.pending, 'handbacks:' .. itemId) or '0')
if started - handedBack >= tonumber(ARGV[9]) then
  setTerminal(K, runId, at, itemId, 'failed', event({ type = 'item', itemId = itemId, state = 'failed', errorCode = 'STALLED',
    error = 'started ' .. (started - handedBack) .. ' times without finishing: its runner died each time', attempt = started }), '', ARGV[6], nil, wakes)
  return terminal('failed', '', wakes)
end
local out = { 'run', 0 }
for dep in string.gmatch(ARGV[4], '[^,]+') do
  local s = redis.call('HGET', K.items, dep)
  if s ~= 'done' then
    setTerminal(K, runId, at, itemId, 'skipped', event({ type = 'item', itemId = itemId, state = 'skipped',
      reason = 'dependency ' .. dep .. ' ended ' .. (s or 'unknown'), dependency = dep }), '', ARGV[6], nil, wakes)
    return terminal('skipped', '', wakes)
  end
  out[#out + 1] = dep
  out[#out + 1] = redis.call('HGET', K.results, dep) or ''
end
for i = 10, #ARGV do emit(K.meta, K.events, runId, at, ARGV[i]) end
redis.call('HSET', K.items, itemId, 'running')
local attempt = redis.call('HINCRBY', K.pending, 'runs:' .. itemId, 1)
out[2] = attempt
local running = cjson.decode(ARGV[7])
running.attempt = attempt
emit(K.meta, K.events, runId, at, event(running))
return out
