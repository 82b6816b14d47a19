//! The SQLite database: a pool of reading connections in WAL mode (safe across processes), one
//! writer thread that group-commits the writes arriving together, the schema and its migrations,
//! and the blocking-call bridge to async code.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
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
    r#"
    -- What made an order's create idempotent, kept on the order so that its change records and
    -- backups carry it (a restore then protects the key again). Existing orders take theirs from
    -- the live key records.
    ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
    ALTER TABLE orders ADD COLUMN idempotency_fingerprint TEXT;
    ALTER TABLE orders ADD COLUMN idempotency_expires_at INTEGER;
    UPDATE orders SET idempotency_key = k.key, idempotency_fingerprint = k.fingerprint,
                      idempotency_expires_at = k.expires_at
      FROM idempotency_keys AS k WHERE k.order_id = orders.order_id;

    -- Every order deleted here: a restore must never bring one back, also when its backup
    -- tombstone is not written yet.
    CREATE TABLE deleted_orders (
        order_id     TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL,
        deleted_at   TEXT NOT NULL
    ) WITHOUT ROWID;
"#,
];

/// Prepared statements kept per connection (the adapters use about 50 distinct ones).
const STATEMENT_CACHE: usize = 128;

/// How much of the database file each connection reads through a memory map (address space, not
/// memory: the pages are the OS page cache's).
const MMAP_BYTES: i64 = 4 << 30;

/// Most writes one group commit takes: bounds how long the first of them waits for the commit.
const MAX_GROUP: usize = 256;

/// The embedded database; cheap to clone (a pool handle and the writer's queue).
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: Arc<mpsc::Sender<WriteJob>>,
}

/// A write waiting for the writer thread. Given the group's transaction, it runs and returns
/// whether it failed (its changes are then rolled back alone) and how to answer once the group
/// commits; given the error that keeps the group from running, it answers with it at once.
type WriteJob = Box<dyn FnOnce(Result<&Transaction<'_>, &rusqlite::Error>) -> Option<JobDone> + Send>;

/// A write that ran: whether it failed, and its answer, given the group's commit result.
struct JobDone {
    failed: bool,
    answer: Answer,
}

/// Sends a write's result to its caller once the group's commit has succeeded or failed.
type Answer = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;

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
            // Room for every statement the adapters run, so none is parsed twice.
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            // FULL: once a commit returns, it survives a crash of the machine, not only of the process.
            conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
            // Reads through a memory map of the file: pages come from the OS page cache, shared by
            // every connection, without a read(2) and a copy each (what random listing pages of a
            // large database are made of). Writes still go through the WAL.
            conn.pragma_update(None, "mmap_size", MMAP_BYTES)
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
        migrate(&mut *pool.get().map_err(pool_error)?)?;
        let connection = pool.get().map_err(pool_error)?;
        let mut files = OpenedFiles::of(path);
        let (writer, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_groups(connection, &jobs, &mut files))
            .map_err(|e| StoreError::Internal(format!("cannot start the database writer: {e}")))?;
        Ok(Database { pool, writer: Arc::new(writer) })
    }
    /// Runs `work` in a read transaction (one consistent snapshot) on a blocking thread: for reads
    /// that may walk many rows (listings, the change feed, queues).
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let database = self.clone();
        tokio::task::spawn_blocking(move || database.read_by_key(work))
            .await
            .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `work` in a read transaction on the calling thread: for reads of a few rows by key.
    /// Through the memory map they take microseconds, less than handing them to a blocking thread
    /// and back, which was a third of `GET /orders/{id}`'s CPU time (docs/BENCHMARKS.md). Readers
    /// never wait for the writer in WAL mode; a caller waits only when every pooled connection is
    /// in use, for one to come back.
    pub(crate) fn read_by_key<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(sql_error)?;
        let result = work(&tx)?;
        tx.commit().map_err(sql_error)?;
        Ok(result)
    }

    /// Runs `work` as one atomic write: its checks and changes see the same data, its changes are
    /// kept when it succeeds and undone when it fails, and it returns only once they are on disk.
    ///
    /// Writes go to one writer thread, which runs the writes waiting together (up to
    /// [`MAX_GROUP`]) in one transaction, each inside its own savepoint, and commits them with one
    /// fsync: concurrent writers share the disk's flush instead of queueing for one each.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |tx| {
            let tx = match tx {
                Ok(tx) => tx,
                Err(error) => {
                    let _ = reply.send(Err(commit_error(error)));
                    return None;
                }
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| work(tx)))
                .unwrap_or_else(|_| Err(StoreError::Internal("a database write panicked".to_owned())));
            Some(JobDone {
                failed: outcome.is_err(),
                answer: Box::new(move |committed| {
                    let result = match committed {
                        Ok(()) => outcome,
                        Err(error) => outcome.and(Err(commit_error(error))),
                    };
                    // The caller may have gone (a dropped request): nothing to answer then.
                    let _ = reply.send(result);
                }),
            })
        });
        self.writer.send(job).map_err(|_| StoreError::Internal("the database writer has stopped".to_owned()))?;
        answer.await.map_err(|_| StoreError::Internal("the database writer dropped a write".to_owned()))?
    }
}

/// Applies the migrations this database has not had yet, in one transaction.
fn migrate(conn: &mut rusqlite::Connection) -> Result<(), StoreError> {
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

/// The database file and its write-ahead log as they were when opened. A process keeps writing
/// into files it has open even after they are deleted or replaced on disk, and those writes are
/// gone at the next start: every write would be acknowledged and then lost. So before each group
/// the writer checks that the paths still name the files it opened (device and inode), and once
/// they do not, it refuses every write for good.
struct OpenedFiles {
    /// Each file's path and identity at open (files that did not exist then are not checked).
    files: Vec<(PathBuf, FileId)>,
    /// Set once a file is found gone: why every write is refused.
    lost: Option<String>,
}

/// A file's device and inode.
type FileId = (u64, u64);

impl OpenedFiles {
    fn of(database: &Path) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let files = [database.to_owned(), PathBuf::from(wal)]
            .into_iter()
            .filter_map(|p| file_id(&p).map(|id| (p, id)))
            .collect();
        OpenedFiles { files, lost: None }
    }

    /// Why writes must be refused, if they must.
    fn check(&mut self) -> Option<&str> {
        if self.lost.is_none()
            && let Some((path, _)) = self.files.iter().find(|(path, id)| file_id(path) != Some(*id))
        {
            let reason = format!(
                "{} was deleted or replaced while this process had it open: writes are refused, since \
                 they would be lost; restore the file or restart on the new one",
                path.display()
            );
            tracing::error!(%reason, "database file lost");
            self.lost = Some(reason);
        }
        self.lost.as_deref()
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<FileId> {
    // No inode to compare: the check is off.
    None
}

/// The writer thread: takes the writes waiting, runs them in one transaction and commits them
/// together, until every [`Database`] handle is gone.
fn write_groups(
    mut connection: r2d2::PooledConnection<SqliteConnectionManager>,
    jobs: &mpsc::Receiver<WriteJob>,
    files: &mut OpenedFiles,
) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(reason) = files.check() {
            let error = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(reason.to_owned()),
            );
            for job in group {
                job(Err(&error));
            }
            continue;
        }
        write_group(&mut connection, group);
    }
}

/// One group commit. A write that fails is rolled back to its savepoint and the others go on; if
/// the transaction itself cannot begin or commit, every write of the group gets that error.
fn write_group(connection: &mut rusqlite::Connection, group: Vec<WriteJob>) {
    let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => {
            for job in group {
                job(Err(&error));
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(group.len());
    let mut broken: Option<rusqlite::Error> = None;
    for job in group {
        if let Some(error) = &broken {
            job(Err(error));
            continue;
        }
        if let Err(error) = tx.execute_batch("SAVEPOINT write") {
            job(Err(&error));
            broken = Some(error);
            continue;
        }
        let Some(done) = job(Ok(&tx)) else { continue };
        let closed = if done.failed {
            tx.execute_batch("ROLLBACK TO write; RELEASE write")
        } else {
            tx.execute_batch("RELEASE write")
        };
        answers.push(done.answer);
        if let Err(error) = closed {
            broken = Some(error);
        }
    }
    let committed = match broken {
        // Dropping the transaction rolls the whole group back.
        Some(error) => Err(error),
        None => tx.commit(),
    };
    for answer in answers {
        answer(committed.as_ref().map(|_| ()));
    }
}

/// Runs one statement through the connection's prepared-statement cache (parsing and planning the
/// SQL once per connection rather than at every call).
pub(crate) fn execute_cached(
    tx: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Reads one row through the connection's prepared-statement cache.
pub(crate) fn query_row_cached<T>(
    tx: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    tx.prepare_cached(sql)?.query_row(params, read)
}

/// Maps SQLite errors: lock contention is passing trouble, the rest is internal.
pub(crate) fn sql_error(error: rusqlite::Error) -> StoreError {
    commit_error(&error)
}

/// The error a group's failed begin or commit gives each of its writes.
fn commit_error(error: &rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}

fn pool_error(error: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog_rows(database: &Database) -> i64 {
        let conn = database.pool.get().expect("a connection");
        conn.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get(0)).expect("a count")
    }

    async fn insert_product(database: &Database, n: usize, fail: bool) -> Result<usize, StoreError> {
        database
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO catalog (product_id, name, unit_price_cents) VALUES (?1, 'p', 1)",
                    [format!("p-{n}")],
                )
                .map_err(sql_error)?;
                if fail {
                    return Err(StoreError::Internal(format!("write {n} refused after its insert")));
                }
                Ok(n)
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn given_concurrent_writes_when_some_fail_then_only_their_changes_are_undone() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");

        // When 300 writes arrive together and every seventh fails after its insert.
        let writes: Vec<_> = (0..300)
            .map(|n| {
                let database = database.clone();
                tokio::spawn(async move { insert_product(&database, n, n % 7 == 0).await })
            })
            .collect();
        let mut succeeded = 0;
        for (n, write) in writes.into_iter().enumerate() {
            match write.await.expect("the task ends") {
                Ok(value) => {
                    assert_eq!(value, n, "each write gets its own answer");
                    assert_ne!(n % 7, 0);
                    succeeded += 1;
                }
                Err(error) => {
                    assert_eq!(n % 7, 0, "write {n} failed: {error}");
                    assert!(error.to_string().contains(&format!("write {n} refused")), "{error}");
                }
            }
        }

        // Then exactly the successful writes are stored, and stored for good.
        assert_eq!(succeeded, 300 - 43);
        assert_eq!(catalog_rows(&database), 300 - 43);
        drop(database);
        let reopened = Database::open(&dir.path().join("orders.db")).expect("the database reopens");
        assert_eq!(catalog_rows(&reopened), 300 - 43);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_slow_reads_holding_the_pool_then_point_reads_wait_their_turn_and_see_every_commit() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");
        let everything = async {
            // Given twenty slow reads on the blocking pool: more than the pool has connections
            let slow: Vec<_> = (0..20)
                .map(|_| {
                    let database = database.clone();
                    tokio::spawn(async move {
                        database
                            .read(|tx| {
                                std::thread::sleep(Duration::from_millis(20));
                                tx.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get::<_, i64>(0))
                                    .map_err(sql_error)
                            })
                            .await
                    })
                })
                .collect();
            // When 100 tasks each write a product and read it back by key on their async thread
            let point_reads: Vec<_> = (0..100)
                .map(|n| {
                    let database = database.clone();
                    tokio::spawn(async move {
                        insert_product(&database, n, false).await?;
                        database.read_by_key(|tx| {
                            let sql = "SELECT name FROM catalog WHERE product_id = ?1";
                            tx.query_row(sql, [format!("p-{n}")], |row| row.get::<_, String>(0)).map_err(sql_error)
                        })
                    })
                })
                .collect();
            // Then every point read finds the write before it, and every read ends
            for read in point_reads {
                assert_eq!(read.await.expect("the task ends").expect("the read succeeds"), "p");
            }
            for read in slow {
                read.await.expect("the task ends").expect("the slow read succeeds");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), everything).await.expect("no read is stuck");
    }

    #[tokio::test]
    async fn given_a_write_that_panics_then_it_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");

        let panicked = database
            .write(|tx| -> Result<(), StoreError> {
                tx.execute("INSERT INTO catalog (product_id, name, unit_price_cents) VALUES ('x', 'x', 1)", [])
                    .map_err(sql_error)?;
                panic!("a bug in a write");
            })
            .await;

        assert!(matches!(panicked, Err(StoreError::Internal(ref m)) if m.contains("panicked")), "{panicked:?}");
        assert_eq!(insert_product(&database, 1, false).await.expect("the next write works"), 1);
        assert_eq!(catalog_rows(&database), 1, "the panicking write's insert was undone");
    }

    #[tokio::test]
    async fn given_the_file_deleted_or_replaced_while_open_then_every_write_is_refused_for_good() {
        for replace in [false, true] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("orders.db");
            let database = Database::open(&path).expect("the database opens");
            insert_product(&database, 1, false).await.expect("a write before the loss");

            std::fs::remove_file(&path).expect("the file is deleted");
            if replace {
                std::fs::write(&path, b"").expect("another file in its place");
            }

            let refused = insert_product(&database, 2, false).await;
            assert!(
                matches!(&refused, Err(StoreError::Internal(m)) if m.contains("was deleted or replaced")),
                "{refused:?}"
            );
            let again = insert_product(&database, 3, false).await;
            assert!(again.is_err(), "still refused: {again:?}");
        }
    }

    #[tokio::test]
    async fn given_a_write_that_breaks_a_constraint_then_the_error_is_its_own() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");
        insert_product(&database, 1, false).await.expect("the first insert");

        let duplicate = insert_product(&database, 1, false).await;

        assert!(matches!(duplicate, Err(StoreError::Internal(ref m)) if m.contains("UNIQUE")), "{duplicate:?}");
        assert_eq!(catalog_rows(&database), 1);
    }
}
