--[[
  Ends an item that held resource locks, in one step: the fencing check (every lock's newest
  token must still be the one this holder was issued), the item's terminal state and events
  (finishItem rules, with a `lock released` event per lock right after the item's own), and the
  release of its locks (libs/locks release rules), naming whom to wake: parked dependents and
  the waiters now first in line.
  A fenced holder (a newer token was issued: its lease lapsed and someone else took a lock) has
  its result refused: a `lock fenced` event is appended, the item stays running (its job is
  retried under fresh locks), and only what is still its own is released.
  KEYS: 1-6 the run's meta, items, results, pending, dependents, events; 7 remembered arrivals;
        then per lock, 5 keys: redlock resource, waiters, deadlines, token counter, holder hash
  ARGV: 1 runId, 2 at, 3 itemId, 4 state, 5 resultRef ('' none), 6 the item's event (encoded),
        7 finishedChannel, 8 lease value, 9 now ms, 10 member whose arrival to forget ('' keeps it),
        11 the BullMQ prefix to promote woken jobs with ('' none: see promote), 12 the item's
        queue, 13 number of locks n, 14..13+n their tokens, 14+n..13+2n their names, then events
        appended after the lock releases (encoded)
  Output: { 'ended', moved (1 | 0 already terminal | -1 unknown), { job ids to wake }, { heads } }
          or { 'fenced', lock name, this holder's token, the newest token, { heads } }; the job ids
          and heads this script promoted itself are left out ('' in heads)
]]
--@include emit
--@include waiters
--@include claim
--@include promote
local K = runKeys()
local runId, at, itemId = ARGV[1], ARGV[2], ARGV[3]
local locks = lockKeyTable(8)
local n = tonumber(ARGV[13])
local tokens = { unpack(ARGV, 14, 13 + n) }
local names = { unpack(ARGV, 14 + n, 13 + 2 * n) }
local stale, mine, newest = staleLock(locks, tokens)
if stale then
  emit(K.meta, K.events, runId, at, event({ type = 'lock', action = 'fenced', itemId = itemId, lock = names[stale], token = mine, newestToken = newest }))
  local _, heads = promoteWoken(ARGV[11], ARGV[12], {}, releaseLocks(KEYS[7], locks, ARGV[8], ARGV[9], ARGV[10], tokens))
  return { 'fenced', names[stale], mine, newest, heads }
end
local extra = {}
for i, name in ipairs(names) do
  extra[#extra + 1] = event({ type = 'lock', action = 'released', itemId = itemId, lock = name, token = tonumber(tokens[i]) })
end
for i = 14 + 2 * n, #ARGV do extra[#extra + 1] = ARGV[i] end
local wakes = {}
local moved = setTerminal(K, runId, at, itemId, ARGV[4], ARGV[6], ARGV[5], ARGV[7], extra, wakes)
if moved == 0 then readyDependents(K, itemId, wakes) end
local heads = releaseLocks(KEYS[7], locks, ARGV[8], ARGV[9], ARGV[10], tokens)
wakes, heads = promoteWoken(ARGV[11], ARGV[12], wakes, heads)
return { 'ended', moved, wakes, heads }
