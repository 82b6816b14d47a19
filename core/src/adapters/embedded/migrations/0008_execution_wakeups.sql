-- When a running execution next has something due (milliseconds since the epoch): its wait, retry
-- interval, task timeout or heartbeat, or its own timeout; NULL once it has ended or when nothing is
-- due. The executor keeps only the timers due soon in memory and reads the next ones through this
-- index. The rows already stored are filled in by this migration's Rust step (their records are
-- compressed: SQL cannot read the time out of them).
ALTER TABLE executions ADD COLUMN next_wakeup INTEGER;
CREATE INDEX executions_by_wakeup ON executions (state_machine_arn, next_wakeup) WHERE next_wakeup IS NOT NULL;
