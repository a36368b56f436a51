-- Shared helpers. Included (textually) by the scripts that need them.
-- Every event of a run goes through emit(): it takes the next seq from the run hash and appends
-- the event to the run's stream with entry id 0-<seq+1>, so a reader can resume from any seq.
-- Events are encoded, never spliced from raw text: `body` is a JSON object made by an encoder
-- (event() below, or the TypeScript encoder `encodeEventBody`, which validates first), and the
-- stream's own fields are encoded by cjson and joined in front of it as one more object member
-- list. An id holding quotes or control characters therefore cannot add or forge a field.
local function event(fields)
  return cjson.encode(fields)
end

local function emit(metaKey, eventsKey, runId, at, body)
  if string.sub(body, 1, 2) ~= '{"' or string.sub(body, -1) ~= '}' then
    error('event body is not an encoded JSON object')
  end
  local seq = redis.call('HINCRBY', metaKey, 'seq', 1) - 1
  local head = cjson.encode({ seq = seq, runId = runId, at = at })
  redis.call('XADD', eventsKey, '0-' .. (seq + 1), 'e', string.sub(head, 1, -2) .. ',' .. string.sub(body, 2))
  return seq
end

local function isTerminal(s)
  return s == 'done' or s == 'failed' or s == 'skipped' or s == 'cancelled'
end

-- Ends the run once every item is terminal. Called with the run's key table K.
local function maybeFinishRun(K, runId, at, finishedChannel)
  local meta = redis.call('HMGET', K.meta, 'terminal', 'total', 'cancelRequested', 'n_failed', 'n_skipped', 'n_cancelled', 'n_done', 'state')
  local terminal, total = tonumber(meta[1] or '0'), tonumber(meta[2] or '-1')
  if terminal < total then return nil end
  if meta[8] == 'succeeded' or meta[8] == 'failed' or meta[8] == 'cancelled' then return nil end
  local failed, skipped, cancelled, done = tonumber(meta[4] or '0'), tonumber(meta[5] or '0'), tonumber(meta[6] or '0'), tonumber(meta[7] or '0')
  local st = 'succeeded'
  if meta[3] == '1' then st = 'cancelled'
  elseif failed + skipped + cancelled > 0 then st = 'failed' end
  redis.call('HSET', K.meta, 'state', st, 'finishedAt', at)
  emit(K.meta, K.events, runId, at, event({ type = 'run', state = st, done = done, failed = failed, skipped = skipped, cancelled = cancelled }))
  redis.call('PUBLISH', finishedChannel, runId)
  return st
end

-- The parked jobs to wake among an item's dependents: those whose every dependency has ended
-- and whose job is parked (`wake:<item>` holds its job id from the moment it is parked, at
-- registration or by beginItem, until it begins). Added to `wakes`. Read again whenever asked,
-- so a wake lost to a crash is repeated when the item's job is retried.
local function readyDependents(K, itemId, wakes)
  local deps = redis.call('HGET', K.dependents, itemId)
  if not deps then return end
  for d in string.gmatch(deps, '[^,]+') do
    if tonumber(redis.call('HGET', K.pending, d) or '0') <= 0 then
      local job = redis.call('HGET', K.pending, 'wake:' .. d)
      if job then wakes[#wakes + 1] = job end
    end
  end
end

-- The plan's maxParallel: a run whose meta has `maxParallel` counts its items in state "running"
-- in `nRunning`, changed only where an item enters "running" (beginItem) or leaves it (setTerminal,
-- handBackItem), so the count follows the item states and a runner that dies mid-item leaks no
-- slot (its item stays "running" and its job, run again, keeps the slot). A start that finds every
-- slot taken parks its job in a FIFO kept in the pending hash: `slotq:h` and `slotq:t` (head and
-- tail positions), `slotq:<n>` (an item id), and `slot:<item>` (its job id while it has an entry).
local function runCap(K)
  return tonumber(redis.call('HGET', K.meta, 'maxParallel') or '0')
end

-- Names the first item still waiting for a slot (its job id added to `wakes`) and deletes its
-- `slot:` mark, which tells a job that parks just as it is named to wake itself. Entries whose
-- mark is gone (the item got a slot some other way, or was named before) are skipped.
local function wakeOneForSlot(K, wakes)
  local h = tonumber(redis.call('HGET', K.pending, 'slotq:h') or '0')
  local t = tonumber(redis.call('HGET', K.pending, 'slotq:t') or '0')
  if h >= t then return end
  while h < t do
    local f = 'slotq:' .. h
    local id = redis.call('HGET', K.pending, f)
    redis.call('HDEL', K.pending, f)
    h = h + 1
    local job = id and redis.call('HGET', K.pending, 'slot:' .. id)
    if job then
      redis.call('HDEL', K.pending, 'slot:' .. id)
      wakes[#wakes + 1] = job
      break
    end
  end
  redis.call('HSET', K.pending, 'slotq:h', h)
end

-- An item left "running": its slot is free, and the first item waiting for one is woken.
local function releaseSlot(K, wakes)
  if runCap(K) <= 0 then return end
  redis.call('HINCRBY', K.meta, 'nRunning', -1)
  if wakes then wakeOneForSlot(K, wakes) end
end

-- Moves an item to a terminal state (once), records its result, counts it, releases its
-- dependents' pending counters (a dependent whose last dependency ended becomes "queued", and
-- its parked job, if it has one, is added to `wakes`) and ends the run when it was the last
-- item. `body` is the item's own event (encoded); `extra` (optional) are events emitted right
-- after it. Returns 1 if it
-- moved, 0 if already terminal, -1 if unknown.
local function setTerminal(K, runId, at, itemId, state, body, result, finishedChannel, extra, wakes)
  local cur = redis.call('HGET', K.items, itemId)
  if not cur then return -1 end
  if isTerminal(cur) then return 0 end
  if cur == 'running' then releaseSlot(K, wakes) end
  redis.call('HSET', K.items, itemId, state)
  if result and result ~= '' then redis.call('HSET', K.results, itemId, result) end
  emit(K.meta, K.events, runId, at, body)
  -- Events that belong with this item's end (lock releases) come before any cascade, so the
  -- run's terminal event is always the last one of the stream.
  if extra then for _, e in ipairs(extra) do emit(K.meta, K.events, runId, at, e) end end
  redis.call('HINCRBY', K.meta, 'n_' .. state, 1)
  redis.call('HINCRBY', K.meta, 'terminal', 1)
  local deps = redis.call('HGET', K.dependents, itemId)
  if deps then
    for d in string.gmatch(deps, '[^,]+') do
      local left = redis.call('HINCRBY', K.pending, d, -1)
      if left <= 0 then
        if redis.call('HGET', K.items, d) == 'waiting' then
          redis.call('HSET', K.items, d, 'queued')
          emit(K.meta, K.events, runId, at, event({ type = 'item', itemId = d, state = 'queued' }))
        end
        if wakes then
          local job = redis.call('HGET', K.pending, 'wake:' .. d)
          if job then wakes[#wakes + 1] = job end
        end
      end
    end
  end
  maybeFinishRun(K, runId, at, finishedChannel)
  return 1
end

local function runKeys()
  return { meta = KEYS[1], items = KEYS[2], results = KEYS[3], pending = KEYS[4], dependents = KEYS[5], events = KEYS[6] }
end
