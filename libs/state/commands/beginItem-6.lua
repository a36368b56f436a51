--[[
  Decides, atomically, what a runner does with an item job it just took:
  - the item is already terminal (a retried or recovered job): do nothing but name its parked
    dependents that are ready, to be woken again;
  - the job's definition (executor, inputs, locks, dependencies, target, task) does not hash to
    the one registered when the run was accepted (someone edited the job's data in Redis or in
    Bull Board): the item ends "failed" with an INTEGRITY error, and nothing runs;
  - the run was cancelled: the item ends "cancelled";
  - a dependency outside the item's flow tree has not ended yet: the job must park ('wait');
  - a dependency did not end "done": the item ends "skipped";
  - it already started more often than its budget allows without ever finishing (its runners
    died each time; hand-backs do not count): the item ends "failed" with errorCode STALLED;
  - the run has maxParallel items running already (the plan's maxParallel): the job must park
    ('throttled') until one of them leaves "running" and names it (see releaseSlot);
  - otherwise the item becomes "running" and the dependencies' resultRefs are returned. Its
    event records the runner and the attempt: the number of times the item has started, counted
    here, so a retry, a stalled job run again and a hand-back each show the right number.
  KEYS: 1 meta, 2 items, 3 results, 4 pending, 5 dependents, 6 events
  ARGV: 1 runId, 2 at, 3 itemId, 4 depsCsv, 5 definition hash of the job's data, 6 finishedChannel,
        7 the running event (encoded, without `attempt`), 8 the item's job id (recorded to be
        woken when it must wait), 9 the most starts allowed (attempts + stalls), 10.. events
        emitted just before it (lock acquisitions, encoded), only when the item does run
  Output: { 'terminal' (ended before) or 'ended' (ended by this call), state, resultRef, job ids
          to wake... }, { 'wait', dependencies left }, { 'throttled', items of the run running }
          or { 'run', attempt, dep1, ref1, dep2, ref2, ... }
]]
--@include emit
--@include begin
return beginItem(runKeys(), {
  runId = ARGV[1], at = ARGV[2], itemId = ARGV[3], depsCsv = ARGV[4], definitionHash = ARGV[5],
  finishedChannel = ARGV[6], running = ARGV[7], jobId = ARGV[8], maxStarts = ARGV[9], before = { unpack(ARGV, 10) },
})
