-- The decision of beginItem-6.lua (see there), as a function of the run's keys K and the
-- arguments a: { runId, at, itemId, depsCsv, definitionHash, finishedChannel, running (encoded
-- event without attempt), jobId, maxStarts, before = { encoded events }, lockTokens = optional
-- { lock = token } added to the running event }. Shared with startItem, which claims the item's
-- locks first.
local function beginItem(K, a)
  local runId, at, itemId = a.runId, a.at, a.itemId
  local cur = redis.call('HGET', K.items, itemId)
  if not cur then return { 'terminal', 'unknown', '' } end
  -- 'ended' when this call ended the item (the runner counts it), 'terminal' when it had ended before.
  local function terminal(state, result, wakes, endedNow)
    local out = { endedNow and 'ended' or 'terminal', state, result }
    for _, j in ipairs(wakes) do out[#out + 1] = j end
    return out
  end
  local wakes = {}
  if isTerminal(cur) then
    readyDependents(K, itemId, wakes)
    -- A slot left free is passed on: the jobs of a cancelled run's items waiting for a slot drain
    -- one after another this way, and a wake lost to a runner's crash is made up for.
    local cap = runCap(K)
    if cap > 0 then
      redis.call('HDEL', K.pending, 'slot:' .. itemId)
      if tonumber(redis.call('HGET', K.meta, 'nRunning') or '0') < cap then wakeOneForSlot(K, wakes) end
    end
    return terminal(cur, redis.call('HGET', K.results, itemId) or '', wakes)
  end
  -- Runs accepted before definitions were registered have no hash to compare with.
  local registered = redis.call('HGET', K.pending, 'def:' .. itemId)
  if registered and registered ~= a.definitionHash then
    setTerminal(K, runId, at, itemId, 'failed', event({ type = 'item', itemId = itemId, state = 'failed', errorCode = 'INTEGRITY',
      error = 'the job data does not match the definition registered when the run was accepted; nothing was run',
      definitionHash = registered, jobDefinitionHash = a.definitionHash }), '', a.finishedChannel, nil, wakes)
    return terminal('failed', '', wakes, true)
  end
  if redis.call('HGET', K.meta, 'cancelRequested') == '1' then
    setTerminal(K, runId, at, itemId, 'cancelled', event({ type = 'item', itemId = itemId, state = 'cancelled', reason = 'run cancelled' }), '', a.finishedChannel, nil, wakes)
    return terminal('cancelled', '', wakes, true)
  end
  local left = tonumber(redis.call('HGET', K.pending, itemId) or '0')
  if left > 0 then
    -- Parked behind its gate (libs/state item-jobs.ts gateJobId: the job id + '-g') until the
    -- runner ending its last dependency wakes it (see setTerminal).
    redis.call('HSET', K.pending, 'wake:' .. itemId, a.jobId .. '-g')
    return { 'wait', left }
  end
  redis.call('HDEL', K.pending, 'wake:' .. itemId)
  local started = tonumber(redis.call('HGET', K.pending, 'runs:' .. itemId) or '0')
  local handedBack = tonumber(redis.call('HGET', K.pending, 'handbacks:' .. itemId) or '0')
  if started - handedBack >= tonumber(a.maxStarts) then
    setTerminal(K, runId, at, itemId, 'failed', event({ type = 'item', itemId = itemId, state = 'failed', errorCode = 'STALLED',
      error = 'started ' .. (started - handedBack) .. ' times without finishing: its runner died each time', attempt = started }), '', a.finishedChannel, nil, wakes)
    return terminal('failed', '', wakes, true)
  end
  local out = { 'run', 0 }
  for dep in string.gmatch(a.depsCsv, '[^,]+') do
    local s = redis.call('HGET', K.items, dep)
    if s ~= 'done' then
      setTerminal(K, runId, at, itemId, 'skipped', event({ type = 'item', itemId = itemId, state = 'skipped',
        reason = 'dependency ' .. dep .. ' ended ' .. (s or 'unknown'), dependency = dep }), '', a.finishedChannel, nil, wakes)
      return terminal('skipped', '', wakes, true)
    end
    out[#out + 1] = dep
    out[#out + 1] = redis.call('HGET', K.results, dep) or ''
  end
  -- The run's maxParallel (see releaseSlot). An item already "running" (its job run again after
  -- its runner died, a retry, a fenced holder) holds its slot still.
  if cur ~= 'running' then
    local cap = runCap(K)
    if cap > 0 then
      local n = tonumber(redis.call('HGET', K.meta, 'nRunning') or '0')
      if n >= cap then
        -- Parked until an item of the run leaves "running"; one FIFO entry per waiting item.
        if redis.call('HSETNX', K.pending, 'slot:' .. itemId, a.jobId) == 1 then
          local t = redis.call('HINCRBY', K.pending, 'slotq:t', 1) - 1
          redis.call('HSET', K.pending, 'slotq:' .. t, itemId)
        end
        return { 'throttled', n }
      end
      redis.call('HINCRBY', K.meta, 'nRunning', 1)
      redis.call('HDEL', K.pending, 'slot:' .. itemId)
    end
  end
  for _, e in ipairs(a.before) do emit(K.meta, K.events, runId, at, e) end
  redis.call('HSET', K.items, itemId, 'running')
  local attempt = redis.call('HINCRBY', K.pending, 'runs:' .. itemId, 1)
  out[2] = attempt
  local running = cjson.decode(a.running)
  running.attempt = attempt
  if a.lockTokens then running.lockTokens = a.lockTokens end
  emit(K.meta, K.events, runId, at, event(running))
  return out
end
