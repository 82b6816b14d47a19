//! The SQLite database: a pool of connections in WAL mode (many readers, one writer at a time, safe
//! across processes), the schema and its migrations, and the blocking-call bridge to async code.

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{ErrorCode, Transaction, TransactionBehavior};

use crate::ports::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
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
"#,
];

/// The embedded database; cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

impl Database {
    /// Opens the file (creating it), sets it up for durable concurrent use, and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // WAL is a property of the file: set it once, on one connection, before the pool opens more
        // (connections racing to switch the journal mode would meet "database is locked").
        let first = rusqlite::Connection::open(path)
            .and_then(|conn| conn.busy_timeout(Duration::from_secs(10)).map(|()| conn))
            .and_then(|conn| conn.pragma_update(None, "journal_mode", "WAL").map(|()| conn))
            .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
        drop(first);
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            conn.busy_timeout(Duration::from_secs(10))?;
            // FULL: once a commit returns, it survives a crash of the machine, not only of the process.
            conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
        let database = Database { pool };
        database.migrate()?;
        Ok(database)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error)?;
        let applied: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(sql_error)?;
        let applied = usize::try_from(applied).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Internal(format!(
                "the database was written by a newer version (schema {applied}, this build knows {})",
                MIGRATIONS.len()
            )));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.execute_batch(migration).map_err(sql_error)?;
            tx.pragma_update(None, "user_version", index as i64 + 1).map_err(sql_error)?;
        }
        tx.commit().map_err(sql_error)
    }

    /// Runs `work` in a read transaction (one consistent snapshot) on a blocking thread.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(TransactionBehavior::Deferred, work).await
    }

    /// Runs `work` in a write transaction (taken at once, so checks and writes see the same data),
    /// committed when `work` succeeds and rolled back when it fails.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(TransactionBehavior::Immediate, work).await
    }

    async fn run<T, F>(&self, behavior: TransactionBehavior, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(pool_error)?;
            let tx = conn.transaction_with_behavior(behavior).map_err(sql_error)?;
            let result = work(&tx)?;
            tx.commit().map_err(sql_error)?;
            Ok(result)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }
}

/// Maps SQLite errors: lock contention is passing trouble, the rest is internal.
pub(crate) fn sql_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

fn pool_error(error: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {error}"))
}
