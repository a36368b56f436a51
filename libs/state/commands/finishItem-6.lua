--[[
  Ends an item: done (with its resultRef), failed, skipped or cancelled. See setTerminal.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 state, 5 resultRef ('' for none), 6 event fragment, 7 finishedChannel
  Output: 1 moved, 0 already terminal, -1 unknown item
]]
--@include emit
local K = runKeys()
return setTerminal(K, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6], ARGV[5], ARGV[7])
