//! The connections to the file: the pool every read and the writer take theirs from (WAL mode,
//! durable commits, memory-mapped reads, a statement cache each), the read transactions, and the
//! read leases of the request threads.
//!
//! **Read leases.** A read transaction in WAL mode takes a read lock in the `-shm` file (an `fcntl`
//! under a mutex every connection of the process shares) and releases it at its end: on two request
//! threads that was about a seventh of a `GET /orders/{id}`'s CPU time, half of it waiting for the
//! other thread's hold of the mutex. On a thread that allows them ([`allow_read_leases`]: the HTTP
//! server's), point reads share one read transaction, a lease, for up to [`READ_LEASE`]. A lease ends
//! before the next read once any writer of this process has committed since it began ([`COMMITS`],
//! counted after each commit and before its callers are answered), so a read always sees every
//! write this process has answered; a write committed by another process (an operator command) is
//! seen once the lease ends, at most [`READ_LEASE`] later. A lease also ends when its thread goes
//! idle ([`end_read_leases`], from the runtime's park hook), so an idle server holds no snapshot
//! that would keep a checkpoint from finishing, and after the poll of a request's task once it is
//! past its time ([`end_expired_read_leases`]), so a busy one holds none for longer than that.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Transaction, TransactionBehavior};

use super::{Database, execute_cached, sql_error};
use crate::ports::StoreError;

/// The longest a lease serves reads: how late a read may see another process's commit.
pub const READ_LEASE: Duration = Duration::from_millis(1);

/// Commits made by this process's writers (every database), counted once each has committed and
/// before its writes are answered.
pub(super) static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Counts a commit of this process (see [`COMMITS`]).
pub(super) fn count_commit() {
    COMMITS.fetch_add(1, Ordering::Release);
}

thread_local! {
    /// Whether this thread's point reads take leases ([`allow_read_leases`]).
    static LEASES_ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Lets this thread's point reads share a read transaction for up to [`READ_LEASE`] (see the
/// module doc). Only for a thread whose idle moments end its leases: a Tokio runtime's worker with
/// [`end_read_leases`] as its park hook.
pub fn allow_read_leases() {
    LEASES_ALLOWED.set(true);
}

/// Ends this thread's read leases, if it holds any: for a runtime's park hook.
pub fn end_read_leases() {
    each_lease(|_| true);
}

/// Ends this thread's leases older than [`READ_LEASE`]: for after each poll of a task that may
/// have read, so that a worker kept busy without reading (it never parks) does not hold a snapshot
/// past its time.
pub fn end_expired_read_leases() {
    each_lease(|lease| lease.since.elapsed() >= READ_LEASE);
}

/// Ends this thread's leases that `ends` picks.
fn each_lease(ends: impl Fn(&Lease) -> bool) {
    let _ = POINT_READERS.try_with(|readers| {
        if let Ok(mut readers) = readers.try_borrow_mut() {
            for reader in readers.iter_mut() {
                if reader.lease.as_ref().is_some_and(&ends) {
                    reader.end_lease();
                }
            }
        }
    });
}

/// Prepared statements kept per connection (the adapters use about 50 distinct ones).
const STATEMENT_CACHE: usize = 128;

/// How much of the database file each connection reads through a memory map (address space, not
/// memory: the pages are the OS page cache's).
const MMAP_BYTES: i64 = 4 << 30;

/// How long a connection waits for another's lock on the file before the write fails as
/// unavailable (in tries one millisecond apart).
const LOCK_WAIT_TRIES: i32 = 10_000;

/// How large the write-ahead log file stays once a checkpoint has started it over: what it grew to
/// beyond this is given back to the file system.
const LOG_FILE_LIMIT_BYTES: i64 = 64 << 20;

/// Caps the log file's size after the log starts over (`journal_size_limit`, a per-connection
/// setting that applies on whichever connection restarts it).
pub(super) fn limit_log_size(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_size_limit", LOG_FILE_LIMIT_BYTES)
}

/// SQLite's busy handler for every connection: tries again every millisecond, for up to about 10 s.
/// SQLite's own busy timeout backs off to 100 ms between tries, and a server whose writer commits
/// group after group leaves the lock free only between groups (see `writer::YIELD_EVERY`): tries
/// that far apart missed those moments, and `orders import` beside a busy server failed with
/// "database is locked".
pub(super) fn wait_for_lock(tries: i32) -> bool {
    if tries >= LOCK_WAIT_TRIES {
        return false;
    }
    std::thread::sleep(Duration::from_millis(1));
    true
}

/// A connection of its own to the file, outside the pool, waiting for other processes' locks as
/// pooled connections do.
pub(super) fn connect(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    rusqlite::Connection::open(path)
        .and_then(|conn| conn.busy_handler(Some(wait_for_lock)).map(|()| conn))
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))
}

/// A connection of its own to the file, which must exist: a thread's point-read connection. Opening
/// one must never create the file: a file deleted under a running server would otherwise come back
/// empty at the next thread's first read, and reads would answer from it.
fn connect_existing(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))
}

/// Sets up a connection of the pool, or a thread's point-read connection.
fn configure(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_lock))?;
    // Room for every statement the adapters run, so none is parsed twice.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // FULL: once a commit returns, it survives a crash of the machine, not only of the process.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    limit_log_size(conn)?;
    // Temporary data in memory: above all the savepoint journal of a group run again after a
    // write failed (each write then in a savepoint, whose journal holds the first copy of every
    // page it changes). In a file (SQLite spills it there past 64 KiB) its writes were a fifth of
    // the writer thread's time when every group ran that way.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Reads through a memory map of the file: pages come from the OS page cache, shared by
    // every connection, without a read(2) and a copy each (what random listing pages of a
    // large database are made of). Writes still go through the WAL.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)
}

/// Opens the pool on the file, switching the file to WAL mode first.
pub(super) fn open(path: &Path) -> Result<r2d2::Pool<SqliteConnectionManager>, StoreError> {
    // WAL is a property of the file: set it once, on one connection, before the pool opens more
    // (connections racing to switch the journal mode would meet "database is locked").
    let first = connect(path)?;
    first
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))?;
    drop(first);
    let manager = SqliteConnectionManager::file(path).with_init(configure);
    r2d2::Pool::builder()
        // A connection to a local file does not go stale as a network one does: no check (an empty
        // statement) at every checkout.
        .test_on_check_out(false)
        .max_size(8)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .map_err(|e| StoreError::Internal(format!("cannot open {}: {e}", path.display())))
}

impl Database {
    /// Runs `work` in a read transaction (one consistent snapshot) on a blocking thread: for reads
    /// that may walk many rows (listings, the change feed, queues).
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let database = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = database.pool.get().map_err(pool_error)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(sql_error)?;
            let result = work(&tx)?;
            tx.commit().map_err(sql_error)?;
            Ok(result)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `work` in a read transaction on the calling thread: for reads of a few rows by key.
    /// Through the memory map they take microseconds, less than handing them to a blocking thread
    /// and back, which was a third of `GET /orders/{id}`'s CPU time (docs/BENCHMARKS.md). Readers
    /// never wait for the writer in WAL mode; each thread reads on a connection of its own
    /// ([`PointReader`]), so a read waits for nothing. `BEGIN` and `COMMIT` go through the
    /// statement cache: parsed at every read, as a `rusqlite::Transaction` does, they were a sixth
    /// of a `GET`'s CPU time.
    pub(crate) fn read_by_key<T>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.point_read(Snapshot::OwnTransaction, work)
    }

    /// As [`Database::read_by_key`], for a read that is one statement: SQLite runs a statement
    /// outside a transaction in a snapshot of its own, taken and released by the statement, so
    /// `BEGIN` and `COMMIT` around it would only add two statements (`GET /orders/{id}`).
    pub(crate) fn read_one_statement<T>(
        &self,
        statement: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.point_read(Snapshot::Statement, statement)
    }

    /// Runs `read` on the thread's own connection to this file when it has one (or can open one),
    /// else on a pooled one (a read inside another read on the same thread, say): in the thread's
    /// lease where it takes leases, else in a snapshot of its own (`snapshot`).
    fn point_read<T>(
        &self,
        snapshot: Snapshot,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut read = Some(read);
        let on_own = POINT_READERS
            .try_with(|readers| {
                let mut readers = readers.try_borrow_mut().ok()?;
                let reader = self.point_reader(&mut readers)?;
                let read = read.take()?;
                Some(if LEASES_ALLOWED.get() { reader.read_leased(read) } else { snapshot.read(&reader.conn, read) })
            })
            .ok()
            .flatten();
        match (on_own, read) {
            (Some(result), _) => result,
            (None, Some(read)) => snapshot.read(&*self.pool.get().map_err(pool_error)?, read),
            (None, None) => Err(StoreError::Internal("a point read ran without an answer".to_owned())),
        }
    }

    /// This thread's point-read connection to the file, opened on first use; connections to
    /// databases since dropped are closed on the way.
    fn point_reader<'r>(&self, readers: &'r mut Vec<PointReader>) -> Option<&'r mut PointReader> {
        readers.retain(|reader| reader.database.strong_count() > 0 && reader.is_usable());
        let index =
            match readers.iter().position(|reader| std::ptr::eq(reader.database.as_ptr(), Arc::as_ptr(&self.file))) {
                Some(index) => index,
                None => {
                    let mut conn = connect_existing(&self.file).ok()?;
                    configure(&mut conn).ok()?;
                    readers.push(PointReader { database: Arc::downgrade(&self.file), conn, lease: None });
                    readers.len() - 1
                }
            };
        readers.get_mut(index)
    }
}

/// How a point read outside a lease gets its snapshot.
#[derive(Clone, Copy)]
enum Snapshot {
    /// A read transaction around the whole read (several statements, one snapshot).
    OwnTransaction,
    /// The statement's own: SQLite runs a statement outside a transaction in a snapshot of its
    /// own.
    Statement,
}

impl Snapshot {
    fn read<T>(
        self,
        conn: &rusqlite::Connection,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Snapshot::OwnTransaction => read_in_snapshot(conn, read),
            Snapshot::Statement => read(conn),
        }
    }
}

/// Runs `work` in one read transaction on `conn`.
fn read_in_snapshot<T>(
    conn: &rusqlite::Connection,
    work: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let snapshot = ReadSnapshot::begin(conn)?;
    let result = work(conn)?;
    snapshot.end()?;
    Ok(result)
}

/// A thread's own connection for point reads of one database, kept for as long as the thread and
/// the database live: a pooled connection's checkout and return (a lock and a wake-up each) were 7%
/// of a `GET`'s CPU time. Point reads are synchronous, so a thread never needs two at once.
pub(super) struct PointReader {
    database: std::sync::Weak<std::path::PathBuf>,
    conn: rusqlite::Connection,
    /// The read transaction the thread's reads share, while it lasts.
    lease: Option<Lease>,
}

/// An open read transaction shared by a thread's point reads.
struct Lease {
    /// When it began (before its snapshot was taken).
    since: Instant,
    /// [`COMMITS`] before its snapshot was taken.
    commits: u64,
}

impl PointReader {
    /// Runs `read` in the thread's lease, beginning a new one when there is none, it is older than
    /// [`READ_LEASE`], or a commit of this process came after it. A read that fails ends it.
    fn read_leased<T>(
        &mut self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Counted before the snapshot is taken: a commit counted later ends the lease, even one
        // the snapshot already holds.
        let commits = COMMITS.load(Ordering::Acquire);
        let current =
            self.lease.as_ref().is_some_and(|lease| lease.commits == commits && lease.since.elapsed() < READ_LEASE)
                && !self.conn.is_autocommit();
        if !current {
            self.end_lease();
            execute_cached(&self.conn, "BEGIN", []).map_err(sql_error)?;
            self.lease = Some(Lease { since: Instant::now(), commits });
        }
        let result = read(&self.conn);
        if result.is_err() {
            self.end_lease();
        }
        result
    }

    /// Whether this is the connection to `database`'s file.
    #[cfg(test)]
    pub(super) fn is_for(&self, database: &Database) -> bool {
        std::ptr::eq(self.database.as_ptr(), Arc::as_ptr(&database.file))
    }

    /// Opens a read transaction no lease holds, as a failed `ROLLBACK` would leave one.
    #[cfg(test)]
    pub(super) fn begin_a_stray_snapshot(&self) {
        self.conn.execute_batch("BEGIN; SELECT COUNT(*) FROM catalog;").expect("a snapshot");
    }

    /// Whether the connection is outside any transaction.
    #[cfg(test)]
    pub(super) fn is_idle(&self) -> bool {
        self.conn.is_autocommit()
    }

    /// Ends the lease, if there is one.
    fn end_lease(&mut self) {
        self.lease = None;
        if !self.conn.is_autocommit() {
            // A read changed nothing: rolling back only ends the snapshot. Should it fail, the
            // connection is dropped at the thread's next point read (`point_reader`).
            let _ = execute_cached(&self.conn, "ROLLBACK", []);
        }
    }

    /// Whether the connection can serve the next read: it is inside a transaction only while a
    /// lease holds one (a snapshot that could not be ended must not answer later reads).
    fn is_usable(&self) -> bool {
        self.lease.is_some() || self.conn.is_autocommit()
    }
}

thread_local! {
    pub(super) static POINT_READERS: std::cell::RefCell<Vec<PointReader>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A read transaction on a pooled connection, ended however the read ends: a connection must not
/// go back to the pool with its snapshot still open, or its next user would read old data.
struct ReadSnapshot<'c> {
    conn: &'c rusqlite::Connection,
    open: bool,
}

impl<'c> ReadSnapshot<'c> {
    fn begin(conn: &'c rusqlite::Connection) -> Result<Self, StoreError> {
        execute_cached(conn, "BEGIN", []).map_err(sql_error)?;
        Ok(ReadSnapshot { conn, open: true })
    }

    fn end(mut self) -> Result<(), StoreError> {
        self.open = false;
        execute_cached(self.conn, "COMMIT", []).map(|_| ()).map_err(sql_error)
    }
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        if self.open {
            // A read changed nothing: rolling back only ends the snapshot.
            let _ = execute_cached(self.conn, "ROLLBACK", []);
        }
    }
}

pub(super) fn pool_error(error: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {error}"))
}
