--[[
  Sends a message to an item's channel: appends it to the item's channel stream and records a
  `message` event in the run's stream, in one step, so every message the worker can read is in
  the record and nothing is recorded that was not queued for it.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events, 7 the item's channel stream,
        8 the run's closed channels (hash: item id -> when its runner closed it, its worker gone)
  ARGV: 1 runId, 2 at, 3 itemId, 4 line (the message as one JSON line), 5 bytes, 6 sha256 (hex),
        7 most messages per item (also the stream's MAXLEN), 8 TTL of the stream (ms),
        9 the pub/sub channel that tells runners (message `<runId> <itemId>`)
  Output: { seq, messageId } sent; { -1 } no such run; { -3 } no such item;
          { -2, state } the item (or the run) has ended; { -4, count } the item has had the most messages;
          { -5 } the item's worker has exited (its runner closed the channel; the item is ending);
          { -6 } the run was rejected at acceptance (it has no items);
          { -7, state } the run has ended, its item not yet (a cancelled run's item being stopped);
          { -8 } no such item yet: the run's acceptance is still registering its items
  Not idempotent: sending twice is two messages (each its own id and event).
]]
--@include emit
local K = runKeys()
local runState = redis.call('HGET', K.meta, 'state')
if not runState then return { -1 } end
-- A run rejected at acceptance has no items at all: say so, rather than that this one is unknown.
if runState == 'rejected' then return { -6 } end
local itemState = redis.call('HGET', K.items, ARGV[3])
if not itemState then
  -- Its acceptance is still registering the run's items (chunk by chunk): not known yet, not unknown.
  if redis.call('HLEN', K.items) < tonumber(redis.call('HGET', K.meta, 'total') or '0') then return { -8 } end
  return { -3 }
end
if isTerminal(itemState) then return { -2, itemState } end
-- Still running, its worker gone: a message taken now would reach no file. Handed back (queued),
-- the item takes messages again: its next start reads them from the first and opens the channel.
if itemState == 'running' and redis.call('HEXISTS', KEYS[8], ARGV[3]) == 1 then return { -5 } end
-- A finished run's stream is closed (appendEvent refuses too); its items have all ended anyway.
-- Its item may still be running (a cancel's runner stopping it): say the run ended, not the item.
if runState == 'succeeded' or runState == 'failed' or runState == 'cancelled' then return { -7, runState } end
local most = tonumber(ARGV[7])
local n = redis.call('XLEN', KEYS[7])
if n >= most then return { -4, n } end
-- MAXLEN is a second bound: the count check above already keeps the stream within it.
local id = redis.call('XADD', KEYS[7], 'MAXLEN', most, '*', 'm', ARGV[4])
redis.call('PEXPIRE', KEYS[7], ARGV[8])
local seq = emit(K.meta, K.events, ARGV[1], ARGV[2], event({ type = 'message', itemId = ARGV[3], messageId = id, bytes = tonumber(ARGV[5]), sha256 = ARGV[6] }))
redis.call('PUBLISH', ARGV[9], ARGV[1] .. ' ' .. ARGV[3])
return { seq, id }
