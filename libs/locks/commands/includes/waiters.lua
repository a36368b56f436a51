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
