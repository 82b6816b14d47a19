//! The SQLite database: one file in WAL mode (safe across processes), read through a pool of
//! connections (`pool`), written by one thread that group-commits the writes arriving together
//! (`writer`), its schema brought up to date when it opens (`migrations`); the read leases of the
//! request threads (`pool`); and the helpers the adapters run their SQL with.

mod migrations;
mod pool;
mod writer;

use std::path::Path;
use std::sync::{Arc, mpsc};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::ErrorCode;

use self::pool::pool_error;
pub use self::pool::{READ_LEASE, allow_read_leases, end_expired_read_leases, end_read_leases};
use self::writer::QueuedWrite;
use crate::ports::StoreError;

/// The embedded database; cheap to clone (a pool handle and the writer's queue).
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: Arc<mpsc::Sender<QueuedWrite>>,
    /// The file's path; also what identifies this database to the threads' point-read connections.
    file: Arc<std::path::PathBuf>,
}

impl Database {
    /// Opens the file (creating it), sets it up for durable concurrent use, and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_restarting_log_after(path, writer::LOG_RESTART_FRAMES)
    }

    fn open_restarting_log_after(path: &Path, log_frames: i64) -> Result<Self, StoreError> {
        let pool = pool::open(path)?;
        migrations::migrate(&mut *pool.get().map_err(pool_error)?)?;
        let writer = writer::start(pool.get().map_err(pool_error)?, path, log_frames)?;
        Ok(Database { pool, writer: Arc::new(writer), file: Arc::new(path.to_path_buf()) })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    async fn given_commits_in_the_log_then_the_checkpointer_copies_them_into_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let database = Database::open(&path).expect("the database opens");
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
        let before = size();
        // When many writes commit (the writer itself never checkpoints)
        for n in 0..300 {
            insert_product(&database, n, false).await.expect("a write");
        }
        // Then the database file grows with them, while the log is still open
        orders_testkit::eventually("the log copied into the file", async || {
            if size() > before { Ok(()) } else { Err(format!("still {} bytes", size())) }
        })
        .await;
        assert_eq!(catalog_rows(&database), 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_readers_always_inside_the_log_then_the_log_still_starts_over_and_stays_bounded() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let log = dir.path().join("orders.db-wal");
        // Given a log that starts over past 64 frames, and readers that always hold a snapshot
        let database = Database::open_restarting_log_after(&path, 64).expect("the database opens");
        let reading = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (database, reading) = (database.clone(), Arc::clone(&reading));
                std::thread::spawn(move || {
                    while reading.load(std::sync::atomic::Ordering::Relaxed) {
                        database
                            .read_by_key(|tx| {
                                tx.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get::<_, i64>(0))
                                    .map_err(sql_error)
                            })
                            .expect("a read");
                    }
                })
            })
            .collect();
        // When writes of about 8 MB commit one after another
        let mut largest_log = 0;
        for n in 0..2_000 {
            database
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO catalog (product_id, name, unit_price_cents) VALUES (?1, ?2, 1)",
                        (format!("p-{n}"), "n".repeat(4_000)),
                    )
                    .map_err(sql_error)
                })
                .await
                .expect("a write");
            largest_log = largest_log.max(std::fs::metadata(&log).map(|m| m.len()).unwrap_or_default());
        }
        reading.store(false, std::sync::atomic::Ordering::Relaxed);
        readers.into_iter().for_each(|reader| reader.join().expect("the reader ends"));
        // Then the log never held more than a small part of them, however the threads were scheduled
        assert!(largest_log < 2 << 20, "the log grew to {largest_log} bytes");
        assert_eq!(catalog_rows(&database), 2_000);
    }

    #[tokio::test]
    async fn given_point_reads_that_fail_or_panic_then_their_connections_come_back_without_a_snapshot() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");
        // Given reads that fail, and reads that panic, on every pooled connection
        for n in 0..20 {
            let failed = database.read_by_key(|conn| {
                conn.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get::<_, i64>(0)).map_err(sql_error)?;
                Err::<(), _>(StoreError::Internal(format!("read {n} gives up")))
            });
            assert!(failed.is_err());
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                database.read_by_key(|_| -> Result<(), StoreError> { panic!("read {n} panics") })
            }));
            assert!(panicked.is_err());
        }
        // When a write commits
        insert_product(&database, 1, false).await.expect("a write");
        // Then every later read sees it: no connection kept an old snapshot open
        for _ in 0..20 {
            let seen = database
                .read_by_key(|conn| {
                    conn.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get::<_, i64>(0)).map_err(sql_error)
                })
                .expect("a read");
            assert_eq!(seen, 1);
        }
    }

    #[test]
    fn given_databases_dropped_then_the_threads_point_read_connections_to_them_close() {
        let count = || pool::POINT_READERS.with(|readers| readers.borrow().len());
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("a temporary directory")).collect();
        // Given three databases read on this thread, each through a connection of the thread's own
        let databases: Vec<_> =
            dirs.iter().map(|dir| Database::open(&dir.path().join("orders.db")).expect("opens")).collect();
        for database in &databases {
            database.read_by_key(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_error)).expect("a read");
        }
        assert_eq!(count(), 3);
        // When two are dropped and the third is read again
        let kept = databases.into_iter().next().expect("the first");
        kept.read_by_key(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_error)).expect("a read");
        // Then only its connection is left
        assert_eq!(count(), 1);
    }

    fn count_products(database: &Database) -> i64 {
        database
            .read_one_statement(|conn| {
                conn.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get(0)).map_err(sql_error)
            })
            .expect("a read")
    }

    /// Whether this thread's point-read connection to `database` is inside a read transaction.
    fn holds_a_snapshot(database: &Database) -> bool {
        pool::POINT_READERS
            .with(|readers| readers.borrow().iter().any(|reader| reader.is_for(database) && !reader.is_idle()))
    }

    #[tokio::test]
    async fn given_a_thread_with_read_leases_when_this_process_commits_then_its_next_read_sees_the_write() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");
        // Given a thread whose point reads share a lease
        allow_read_leases();
        assert_eq!(count_products(&database), 0);
        assert!(holds_a_snapshot(&database), "the read left its lease open for the next one");
        for n in 1..=50 {
            // When this process commits a write (and answers it)
            insert_product(&database, n, false).await.expect("a write");
            // Then the very next read sees it, and every write before it
            assert_eq!(count_products(&database), n as i64);
            assert_eq!(
                database
                    .read_by_key(|conn| {
                        conn.query_row("SELECT COUNT(*) FROM catalog", [], |row| row.get::<_, i64>(0))
                            .map_err(sql_error)
                    })
                    .expect("a read"),
                n as i64
            );
        }
        // And when the thread goes idle, its lease ends
        end_read_leases();
        assert!(!holds_a_snapshot(&database));
    }

    #[tokio::test]
    async fn given_a_read_lease_when_another_process_commits_then_reads_see_it_once_the_lease_is_over() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let database = Database::open(&path).expect("the database opens");
        allow_read_leases();
        assert_eq!(count_products(&database), 0);
        // When another process (a connection of its own, outside this process's writers) commits
        let other = rusqlite::Connection::open(&path).expect("another connection");
        other
            .execute("INSERT INTO catalog (product_id, name, unit_price_cents) VALUES ('elsewhere', 'p', 1)", [])
            .expect("its insert");
        // Then a read once the lease's time is over sees it
        std::thread::sleep(READ_LEASE + Duration::from_millis(1));
        assert_eq!(count_products(&database), 1);
    }

    #[tokio::test]
    async fn given_a_lease_past_its_time_when_a_task_poll_ends_then_the_lease_ends() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database = Database::open(&dir.path().join("orders.db")).expect("the database opens");
        allow_read_leases();
        // Given a lease, past its time on a thread that neither reads again nor parks
        assert_eq!(count_products(&database), 0);
        assert!(holds_a_snapshot(&database));
        std::thread::sleep(READ_LEASE);
        // When a task's poll ends on that thread
        end_expired_read_leases();
        // Then the lease is over
        assert!(!holds_a_snapshot(&database));
    }

    #[test]
    fn given_a_point_read_connection_left_inside_a_transaction_then_later_reads_do_not_use_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let database = Database::open(&path).expect("the database opens");
        // Given this thread's connection left inside a read transaction it could not end (no lease
        // holds it)
        assert_eq!(count_products(&database), 0);
        pool::POINT_READERS.with(|readers| {
            let readers = readers.borrow();
            let reader = readers.iter().find(|reader| reader.is_for(&database)).expect("the thread's connection");
            reader.begin_a_stray_snapshot();
        });
        assert!(holds_a_snapshot(&database));
        // When another connection commits
        rusqlite::Connection::open(&path)
            .expect("another connection")
            .execute("INSERT INTO catalog (product_id, name, unit_price_cents) VALUES ('p', 'p', 1)", [])
            .expect("its insert");
        // Then the next read is not answered from the old snapshot
        assert_eq!(count_products(&database), 1);
    }

    #[test]
    fn given_a_runtime_whose_workers_end_their_leases_when_idle_then_an_idle_server_lets_the_log_restart() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("orders.db");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_unpark(allow_read_leases)
            .on_thread_park(end_read_leases)
            .build()
            .expect("a runtime");
        let database = Database::open(&path).expect("the database opens");
        runtime.block_on(async {
            // Given writes in the log and a read on the runtime's worker, taking a lease there
            for n in 0..20 {
                insert_product(&database, n, false).await.expect("a write");
            }
            // (a worker takes leases from its first wake-up on)
            tokio::task::yield_now().await;
            let reader = database.clone();
            let read = tokio::spawn(async move { count_products(&reader) });
            assert_eq!(read.await.expect("the read ends"), 20);
            // When the server goes idle, then a checkpoint that must wait for every reader to leave
            // the log (what restarts it) finishes: no lease is left holding a snapshot
            let checkpointer = rusqlite::Connection::open(&path).expect("a connection");
            orders_testkit::eventually("a checkpoint that restarts the log", async || {
                let (busy, _, _): (i64, i64, i64) = checkpointer
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .expect("the checkpoint runs");
                busy == 0
            })
            .await;
        });
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
