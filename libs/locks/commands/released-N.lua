--[[
  Releases a holder's locks and returns whom to wake, in one step: deletes each redlock key that
  still holds this lease's value (a lease lost to someone else is left alone, as redlock's own
  release does), forgets the holder (only if its token is still the one recorded), and returns
  the waiter now at the head of each lock's queue. A final release also forgets the holder's
  remembered arrival (a hand-back keeps it, so the job rejoins at its place).
  KEYS: 1 remembered arrivals zset; then per lock, 5 keys: redlock resource, waiters, deadlines,
        token counter, holder hash
  ARGV: 1 lease value ('' when the redlock keys are not ours, e.g. a refused claim never
        recorded a holder), 2 now ms, 3 member whose arrival to forget ('' to keep it), then one
        token per lock ('' when none)
  Output: head waiter member per lock ('' when none)
]]
--@include waiters
local heads = {}
local n = 0
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[1], ARGV[3]) end
for i = 2, #KEYS, 5 do
  n = n + 1
  if ARGV[1] ~= '' and redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  if ARGV[3 + n] ~= '' and redis.call('HGET', KEYS[i + 4], 'token') == ARGV[2 + n] then redis.call('DEL', KEYS[i + 4]) end
  dropDeparted(KEYS[i + 1], KEYS[i + 2], ARGV[2], nil)
  local head = redis.call('ZRANGE', KEYS[i + 1], 0, 0)
  heads[#heads + 1] = head[1] or ''
end
return heads
