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
--@bullmq destructureJobKey
--@bullmq moveParentToWaitIfNoPendingDependencies
--@bullmq removeJobKeys

-- True when job `jobId` of the queue whose keys start with `qk` (`<prefix>:<queue>:`) was parked
-- (delayed) and is now waiting; false when it was not delayed (running, already woken, or not
-- yet parked: the parker re-checks after parking, see apps/runner parking.ts). `front`: it is
-- the next job a worker takes (BullMQ's LIFO push), not the last of the wait list. For a lock's
-- head: the lock is kept for it (newcomers are refused while it waits), so every job ahead of it
-- in a backlog would be time the lock stands idle.
local function promoteParked(qk, jobId, front)
  if rcall('ZREM', qk .. 'delayed', jobId) ~= 1 then return false end
  local jobKey = qk .. jobId
  local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
  local pausedOrMaxed = isQueuePausedOrMaxed(qk .. 'meta', qk .. 'active')
  if priority == 0 then
    addJobInTargetList(qk .. 'wait', qk .. 'marker', front and 'RPUSH' or 'LPUSH', pausedOrMaxed, jobId)
  else
    addJobWithPriority(qk .. 'marker', qk .. 'prioritized', priority, jobId, qk .. 'pc', pausedOrMaxed)
  end
  rcall('XADD', qk .. 'events', '*', 'event', 'waiting', 'jobId', jobId, 'prev', 'delayed')
  rcall('HSET', jobKey, 'delay', 0)
  return true
end

-- Opens the gate `gateId` of the gates queue whose keys start with `qk` when it is parked
-- (delayed), as BullMQ's completion of a child job would: the gate leaves its parent's
-- dependencies, and the parent (the item job, in waiting-children) moves to wait or prioritized
-- when it has none left; the gate's keys are deleted (gates are removed on completion anyway).
-- No gate worker has to fetch and complete it. False when it was not delayed (a gate worker holds
-- it after its timer fired, or it is gone): the caller promotes it as before.
local function openGate(qk, gateId, nowMs)
  if rcall('ZREM', qk .. 'delayed', gateId) ~= 1 then return false end
  local gateKey = qk .. gateId
  local parentKey = rcall('HGET', gateKey, 'parentKey')
  if parentKey then
    local dependencies = parentKey .. ':dependencies'
    if rcall('SREM', dependencies, gateKey) == 1 then
      rcall('HSET', parentKey .. ':processed', gateKey, '"open"')
      local parentId = getJobIdFromKey(parentKey)
      moveParentToWaitIfNoPendingDependencies(getJobKeyPrefix(parentKey, ':' .. parentId), dependencies, parentKey, parentId, nowMs)
    end
  end
  removeJobKeys(gateKey)
  rcall('XADD', qk .. 'events', '*', 'event', 'removed', 'jobId', gateId, 'prev', 'delayed')
  return true
end

-- Wakes the jobs named in `wakes` (item job ids of `queue`, promoted; or gate ids, '-g', of its
-- gates queue, opened: libs/state item-jobs.ts gateJobId) and promotes the lock waiters named in
-- `heads` (members: JSON [queue, jobId, runId, itemId]). Returns the wakes it could not wake (the
-- runner promotes those) and `heads` with '' in place of each head it promoted. `prefix` ''
-- wakes nothing.
local function promoteWoken(prefix, queue, wakes, heads)
  if prefix == '' then return wakes, heads end
  local left, seen = {}, {}
  local nowMs
  for _, id in ipairs(wakes) do
    if not seen[id] then
      seen[id] = true
      local woken
      if string.sub(id, -2) == '-g' then
        if not nowMs then
          local t = rcall('TIME')
          nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        woken = openGate(prefix .. ':' .. queue .. '.gates:', id, nowMs)
      else
        woken = promoteParked(prefix .. ':' .. queue .. ':', id, false)
      end
      if not woken then left[#left + 1] = id end
    end
  end
  local out, promoted = {}, {}
  for i, h in ipairs(heads) do
    out[i] = h
    if promoted[h] then
      out[i] = ''
    elseif h ~= '' then
      local ok, m = pcall(cjson.decode, h)
      if ok and type(m) == 'table' and type(m[1]) == 'string' and type(m[2]) == 'string' and promoteParked(prefix .. ':' .. m[1] .. ':', m[2], true) then
        out[i] = ''
        promoted[h] = true
      end
    end
  end
  return left, out
end
