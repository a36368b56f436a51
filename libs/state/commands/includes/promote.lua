-- Promotes parked BullMQ jobs from inside an item's end script, so the runner that ends an item
-- does not send a promote per job it wakes (one round trip less on every lock hand-off and every
-- dependency wake). The move is BullMQ's own (its functions, inlined from the installed bullmq
-- package): off the delayed set, into wait or prioritized by the job's priority, a marker for
-- blocked workers, a `waiting` event. Keys are built here from the queue's BullMQ prefix, which
-- shares the run keys' hash tag (the runner passes it only then), so the same Cluster slot.
local rcall = redis.call
--@bullmq addJobInTargetList
--@bullmq addJobWithPriority
--@bullmq isQueuePausedOrMaxed

-- True when job `jobId` of the queue whose keys start with `qk` (`<prefix>:<queue>:`) was parked
-- (delayed) and is now waiting; false when it was not delayed (running, already woken, or not
-- yet parked: the parker re-checks after parking, see apps/runner parking.ts).
local function promoteParked(qk, jobId)
  if rcall('ZREM', qk .. 'delayed', jobId) ~= 1 then return false end
  local jobKey = qk .. jobId
  local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
  local pausedOrMaxed = isQueuePausedOrMaxed(qk .. 'meta', qk .. 'active')
  if priority == 0 then
    addJobInTargetList(qk .. 'wait', qk .. 'marker', 'LPUSH', pausedOrMaxed, jobId)
  else
    addJobWithPriority(qk .. 'marker', qk .. 'prioritized', priority, jobId, qk .. 'pc', pausedOrMaxed)
  end
  rcall('XADD', qk .. 'events', '*', 'event', 'waiting', 'jobId', jobId, 'prev', 'delayed')
  rcall('HSET', jobKey, 'delay', 0)
  return true
end

-- Promotes the jobs named in `wakes` (item job ids of `queue`, or gate ids, '-g', of its gates
-- queue: libs/state item-jobs.ts gateJobId) and the lock waiters named in `heads` (members: JSON
-- [queue, jobId, runId, itemId]). Returns the wakes it could not promote (the runner promotes
-- those) and `heads` with '' in place of each head it promoted. `prefix` '' promotes nothing.
local function promoteWoken(prefix, queue, wakes, heads)
  if prefix == '' then return wakes, heads end
  local left, seen = {}, {}
  for _, id in ipairs(wakes) do
    if not seen[id] then
      seen[id] = true
      local q = queue
      if string.sub(id, -2) == '-g' then q = queue .. '.gates' end
      if not promoteParked(prefix .. ':' .. q .. ':', id) then left[#left + 1] = id end
    end
  end
  local out, promoted = {}, {}
  for i, h in ipairs(heads) do
    out[i] = h
    if promoted[h] then
      out[i] = ''
    elseif h ~= '' then
      local ok, m = pcall(cjson.decode, h)
      if ok and type(m) == 'table' and type(m[1]) == 'string' and type(m[2]) == 'string' and promoteParked(prefix .. ':' .. m[1] .. ':', m[2]) then
        out[i] = ''
        promoted[h] = true
      end
    end
  end
  return left, out
end
