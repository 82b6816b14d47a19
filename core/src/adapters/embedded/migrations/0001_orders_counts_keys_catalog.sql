
    -- seq orders the listing (newest first) and is never reused, so cursors stay valid.
    CREATE TABLE orders (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id      TEXT NOT NULL UNIQUE,
        customer_id   TEXT NOT NULL,
        status        TEXT NOT NULL,
        total_cents   INTEGER NOT NULL,
        version       INTEGER NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        execution_arn TEXT,
        items         TEXT NOT NULL
    );
    CREATE INDEX orders_by_status ON orders (status, seq);
    CREATE INDEX orders_by_customer ON orders (customer_id, seq);
    CREATE INDEX orders_by_customer_status ON orders (customer_id, status, seq);

    -- How many orders of each listing scope fall in each block of 1024 seq numbers: totals without
    -- counting rows, and any page found by skipping whole blocks.
    CREATE TABLE order_counts (
        scope  TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        n      INTEGER NOT NULL,
        PRIMARY KEY (scope, bucket)
    ) WITHOUT ROWID;

    CREATE TABLE idempotency_keys (
        key           TEXT PRIMARY KEY,
        fingerprint   TEXT NOT NULL,
        order_id      TEXT NOT NULL,
        execution_arn TEXT NOT NULL,
        expires_at    INTEGER NOT NULL
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

    CREATE TABLE catalog (
        product_id       TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        unit_price_cents INTEGER NOT NULL
    );

    CREATE TABLE executions (
        execution_arn     TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        state_machine_arn TEXT NOT NULL,
        status            TEXT NOT NULL,
        input             TEXT NOT NULL,
        output            TEXT,
        error             TEXT,
        cause             TEXT,
        start_date        TEXT NOT NULL,
        stop_date         TEXT
    );
