--[[
  Starts an item that names resource locks, in one step right behind redlock's acquisition of
  their keys (sent on the same connection: one round trip for both): claims the locks (libs/locks
  claim rules: FIFO, one arrival per holder, a fencing token per lock) and, when they are granted,
  decides what the runner does with the item (beginItem rules). When the item does not run (it
  ended, was cancelled, or must wait for a dependency) the locks are released here too, and the
  waiters now at the head of their queues are named, to be woken.
  KEYS: 1-6 the run's meta, items, results, pending, dependents, events; 7 the set of lock names
        in use, 8 remembered arrivals; then per lock, 5 keys: redlock resource, waiters,
        deadlines, token counter, holder hash
  ARGV: 1 runId, 2 at, 3 itemId, 4 depsCsv, 5 definition hash, 6 finishedChannel, 7 the running
        event (encoded, without attempt and tokens), 8 job id, 9 most starts allowed,
        10 lock member, 11 arrival ms, 12 now ms, 13 waiter deadline ms, 14 since (ISO),
        15 lease ms, 16 lease value, 17.. the lock names
  Output: { claim, begin, heads }: claim as claim-N.lua's output; begin as beginItem-6.lua's
          ({} when the claim was not granted); heads: waiter members to wake ({} unless released)
]]
--@include emit
--@include begin
--@include waiters
--@include claim
local K = runKeys()
local locks = lockKeyTable(9)
local names = { unpack(ARGV, 17) }
local claim = claimLocks({ names = KEYS[7], arrivals = KEYS[8], locks = locks }, {
  member = ARGV[10], arrival = ARGV[11], now = ARGV[12], deadline = ARGV[13], runId = ARGV[1], itemId = ARGV[3],
  since = ARGV[14], ttl = ARGV[15], value = ARGV[16], lockNames = names,
})
if claim[1] ~= 0 then return { claim, {}, {} } end
local tokens, acquired = {}, {}
for i, name in ipairs(names) do
  tokens[name] = claim[i + 1]
  acquired[i] = event({ type = 'lock', action = 'acquired', itemId = ARGV[3], lock = name, token = claim[i + 1] })
end
local begin = beginItem(K, {
  runId = ARGV[1], at = ARGV[2], itemId = ARGV[3], depsCsv = ARGV[4], definitionHash = ARGV[5],
  finishedChannel = ARGV[6], running = ARGV[7], jobId = ARGV[8], maxStarts = ARGV[9], before = acquired,
  lockTokens = tokens,
})
if begin[1] == 'run' then return { claim, begin, {} } end
-- Not run now: the locks go back at once (a parked item keeps no lock while it waits).
local heads = releaseLocks(KEYS[8], locks, ARGV[16], ARGV[12], ARGV[10], { unpack(claim, 2) })
return { claim, begin, heads }
