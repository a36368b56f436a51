-- Drops waiters whose deadline passed (their runner stopped checking in), except `keep`.
local function dropDeparted(waiters, deadlines, now, keep)
  local dead = redis.call('ZRANGEBYSCORE', deadlines, '-inf', '(' .. now)
  for _, m in ipairs(dead) do
    if m ~= keep then
      redis.call('ZREM', waiters, m)
      redis.call('ZREM', deadlines, m)
    end
  end
end

-- How long a remembered arrival outlives a holder that never came back (its job removed, its run
-- cancelled while it was held by a dead runner): one day.
local ARRIVAL_MEMORY_MS = 86400000

-- The arrival a holder joins the queues with, the same in every queue and on every rejoin: the
-- one remembered from its first arrival (kept while it waits, holds, or handed its job back; a
-- waiter dropped from one queue for a missed check-in rejoins it at that time too, or its queues
-- would disagree on who came first and two holders could each wait for the other), else
-- `arrival`, which is then remembered. Prunes memories older than a day.
local function rememberedArrival(arrivals, member, arrival, now)
  redis.call('ZREMRANGEBYSCORE', arrivals, '-inf', '(' .. (now - ARRIVAL_MEMORY_MS))
  local kept = redis.call('ZSCORE', arrivals, member)
  if kept and tonumber(kept) <= arrival then return tonumber(kept) end
  redis.call('ZADD', arrivals, arrival, member)
  return arrival
end
