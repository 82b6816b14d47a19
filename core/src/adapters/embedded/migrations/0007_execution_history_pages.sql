-- Execution history in pages: one row holds up to 64 events of an execution (more only when one
-- step writes more at once), as zstd-compressed JSON Lines, instead of one row per event keyed by
-- the ARN. A step appends to the execution's last page while it has room. Events stored one per row
-- before this migration stay in `execution_history` and are read before the pages.
-- From here on `executions.record` may also be a zstd-compressed BLOB: SQL cannot read into it.
CREATE TABLE execution_history_pages (
    execution_arn TEXT    NOT NULL,
    first_event   INTEGER NOT NULL,
    last_event    INTEGER NOT NULL,
    events        BLOB    NOT NULL,
    PRIMARY KEY (execution_arn, first_event)
) WITHOUT ROWID;
