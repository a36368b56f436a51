-- The claim of a holder's locks, right after redlock's acquisition of their keys (see claim-N.lua
-- for the rules). Shared by claim-N.lua and the item start script of libs/state, which claims
-- and begins the item in one step.
--   L: { names = set key, arrivals = zset key, locks = { { resource, waiters, deadlines, token,
--        holder }, ... } }
--   A: { member, arrival, now, deadline, runId, itemId, since, ttl, value, lockNames = { ... } }
-- Returns { 0, token per lock... } when granted; { -1, index where it waits or 0, position } when
-- the keys are not ours; { index of the first lock where it waits (1-based), position } when refused.
local function claimLocks(L, A)
  local member, now, deadline = A.member, tonumber(A.now), A.deadline
  local arrival = rememberedArrival(L.arrivals, member, tonumber(A.arrival), now)
  redis.call('SADD', L.names, unpack(A.lockNames))
  local held = true
  local blockedAt = 0
  for i, lk in ipairs(L.locks) do
    if redis.call('GET', lk[1]) ~= A.value then held = false end
    dropDeparted(lk[2], lk[3], now, member)
    local head = redis.call('ZRANGE', lk[2], 0, 0)[1]
    if blockedAt == 0 and head and head ~= member then blockedAt = i end
  end
  if not held or blockedAt > 0 then
    local position = 1
    for i, lk in ipairs(L.locks) do
      redis.call('ZADD', lk[2], 'NX', arrival, member)
      redis.call('ZADD', lk[3], deadline, member)
      if i == blockedAt then position = redis.call('ZRANK', lk[2], member) + 1 end
    end
    if not held then return { -1, blockedAt, position } end
    return { blockedAt, position }
  end
  -- Granted: remember the arrival (the earliest the queues knew) until the final release.
  local first = redis.call('ZSCORE', L.locks[1][2], member)
  if first and tonumber(first) < arrival then arrival = tonumber(first) end
  redis.call('ZADD', L.arrivals, arrival, member)
  local out = { 0 }
  for _, lk in ipairs(L.locks) do
    redis.call('ZREM', lk[2], member)
    redis.call('ZREM', lk[3], member)
    local token = redis.call('INCR', lk[4])
    redis.call('HSET', lk[5], 'runId', A.runId, 'itemId', A.itemId, 'token', token, 'since', A.since, 'member', member)
    redis.call('PEXPIRE', lk[5], A.ttl)
    out[#out + 1] = token
  end
  return out
end

-- Releases a holder's locks (see released-N.lua): deletes each redlock key still holding `value`
-- ('' for none), forgets the holder where its token is still recorded ('' tokens skip it), forgets
-- the remembered arrival of `forget` ('' keeps it), and returns the head waiter per lock ('' none).
local function releaseLocks(arrivals, locks, value, now, forget, tokens)
  local heads = {}
  if forget ~= '' then redis.call('ZREM', arrivals, forget) end
  for i, lk in ipairs(locks) do
    if value ~= '' and redis.call('GET', lk[1]) == value then redis.call('DEL', lk[1]) end
    local token = tostring(tokens[i] or '')
    if token ~= '' and redis.call('HGET', lk[5], 'token') == token then redis.call('DEL', lk[5]) end
    dropDeparted(lk[2], lk[3], now, nil)
    heads[#heads + 1] = redis.call('ZRANGE', lk[2], 0, 0)[1] or ''
  end
  return heads
end

-- The first lock (1-based) whose newest fencing token is not the one this holder was issued
-- (someone took the lock after this holder's lease lapsed), with both tokens; nil when fresh.
local function staleLock(locks, tokens)
  for i, lk in ipairs(locks) do
    local newest = redis.call('GET', lk[4])
    if tostring(newest) ~= tostring(tokens[i]) then return i, tonumber(tokens[i]), tonumber(newest or '0') end
  end
  return nil
end

-- Lock keys given as KEYS[first..], 5 per lock, as a table of { resource, waiters, deadlines,
-- token, holder }.
local function lockKeyTable(first)
  local locks = {}
  for i = first, #KEYS, 5 do locks[#locks + 1] = { KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3], KEYS[i + 4] } end
  return locks
end
