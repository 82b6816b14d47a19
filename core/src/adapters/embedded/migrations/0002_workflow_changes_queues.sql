
    -- Executions of the embedded workflow engine (the statemachine crate): one row per execution,
    -- its record as JSON, and its history events.
    DROP TABLE executions;
    CREATE TABLE executions (
        execution_arn     TEXT PRIMARY KEY,
        state_machine_arn TEXT NOT NULL,
        status            TEXT NOT NULL,
        version           INTEGER NOT NULL,
        task_token        TEXT,
        record            TEXT NOT NULL
    );
    CREATE INDEX executions_by_status ON executions (state_machine_arn, status);
    CREATE INDEX executions_by_token ON executions (task_token) WHERE task_token IS NOT NULL;
    CREATE TABLE execution_history (
        execution_arn TEXT NOT NULL,
        event_id      INTEGER NOT NULL,
        event         TEXT NOT NULL,
        PRIMARY KEY (execution_arn, event_id)
    ) WITHOUT ROWID;

    -- A workflow waiting for the order to reach a status keeps its task token on the order.
    ALTER TABLE orders ADD COLUMN awaiting_status TEXT;
    ALTER TABLE orders ADD COLUMN task_token TEXT;

    -- The change feed (an outbox): one row per order change, written in the change's transaction,
    -- read in order by the stream processor as DynamoDB stream records.
    CREATE TABLE order_changes (
        sequence  INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id  TEXT NOT NULL,
        kind      TEXT NOT NULL CHECK (kind IN ('INSERT', 'MODIFY', 'REMOVE')),
        old_image TEXT,
        new_image TEXT,
        at        TEXT NOT NULL
    );
    CREATE TABLE feed_positions (
        consumer TEXT PRIMARY KEY,
        position INTEGER NOT NULL
    );

    -- Queues with SQS semantics. visible_at is in milliseconds since the epoch.
    CREATE TABLE queue_messages (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        queue          TEXT NOT NULL,
        message_id     TEXT NOT NULL UNIQUE,
        body           TEXT NOT NULL,
        attributes     TEXT NOT NULL,
        sent_at        INTEGER NOT NULL,
        visible_at     INTEGER NOT NULL,
        receive_count  INTEGER NOT NULL DEFAULT 0,
        receipt_handle TEXT UNIQUE
    );
    CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at, id);
