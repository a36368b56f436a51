--[[
  Promotes parked lock waiters whose turn came to the front of their queue's wait list, so the
  next free worker takes them (see promoteParked: the lock is kept for its head, and a head sent
  to the back of a backlog leaves the lock idle until the backlog drains).
  KEYS: 1 the queue's delayed set (`<prefix>:<queue>:delayed`: routes the call to its slot)
  ARGV: 1 the queue's key prefix (`<prefix>:<queue>:`), 2.. job ids
  Output: the job ids it did not promote (not parked: running, woken already, not yet parked;
          the parker re-checks after parking)
]]
--@include promote
local left = {}
for i = 2, #ARGV do
  if not promoteParked(ARGV[1], ARGV[i], true) then left[#left + 1] = ARGV[i] end
end
return left
