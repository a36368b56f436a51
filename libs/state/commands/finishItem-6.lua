--[[
  Ends an item: done (with its resultRef), failed, skipped or cancelled. See setTerminal.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 state, 5 resultRef ('' for none), 6 the item's event (encoded),
        7 finishedChannel, 8 the BullMQ prefix to promote woken jobs with ('' none: see promote),
        9 the item's queue, 10.. events appended right after the item's own (encoded), before any
        cascade
  Output: { 1 moved | 0 already terminal | -1 unknown item, job ids of parked dependents to wake
          that this script did not promote itself... }
]]
--@include emit
--@include promote
local K = runKeys()
local extra = {}
for i = 10, #ARGV do extra[#extra + 1] = ARGV[i] end
-- When the item was already terminal nothing is appended: the run may have ended, and its
-- terminal event must stay the last of the stream. Its ready dependents are named again (a
-- retried job repeats wakes a crash may have lost).
local wakes = {}
local moved = setTerminal(K, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6], ARGV[5], ARGV[7], extra, wakes)
if moved == 0 then readyDependents(K, ARGV[3], wakes) end
wakes = promoteWoken(ARGV[8], ARGV[9], wakes, {})
local out = { moved }
for _, j in ipairs(wakes) do out[#out + 1] = j end
return out
