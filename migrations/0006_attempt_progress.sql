-- Where a running attempt is in its epoch, from its worker's heartbeats (at most
-- one write per attempt every 2 s): the epoch under way, the step reached and
-- the steps of that epoch, and when. NULL: no heartbeat with a step yet (or a
-- worker that does not say, or an attempt from before this migration).
ALTER TABLE attempts ADD COLUMN progress_epoch INTEGER;
ALTER TABLE attempts ADD COLUMN progress_step INTEGER;
ALTER TABLE attempts ADD COLUMN progress_steps INTEGER;
ALTER TABLE attempts ADD COLUMN progress_at TEXT;
