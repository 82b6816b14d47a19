-- When an execution stopped (milliseconds since the epoch; NULL while it runs): finished executions
-- and their history are removed once they are older than the retention (`orders serve
-- --execution-retention-days`), as Step Functions removes them after 90 days.
ALTER TABLE executions ADD COLUMN stopped_at INTEGER;
UPDATE executions
   SET stopped_at = CAST(ROUND((julianday(json_extract(record, '$.stopDate')) - 2440587.5) * 86400000) AS INTEGER)
 WHERE json_extract(record, '$.stopDate') IS NOT NULL;
CREATE INDEX executions_by_stop ON executions (stopped_at) WHERE stopped_at IS NOT NULL;
