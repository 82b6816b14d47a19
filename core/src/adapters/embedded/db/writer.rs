//! The writes: one thread that runs the writes waiting together in one transaction and commits
//! them with one fsync; a second thread that copies the write-ahead log into the database file
//! behind it (checkpoints); and the guard that stops writing once the file it opened is deleted or
//! replaced on disk.
//!
//! A write that fails must leave no trace while the others of its group commit. Most fail on a
//! check, before they change a row (a status that does not allow the move, an order that is gone),
//! and leave nothing to undo. A group runs first without savepoints: a savepoint around each write
//! copied every page the write touched that the group had already changed (the tail pages of every
//! table, for every write) into SQLite's sub-journal, about a sixth of the writer's time. Only
//! when a write fails after changing rows is the transaction rolled back and the group run again,
//! that write left out and each of the others in a savepoint of its own, so one run more is the
//! most a group ever costs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Transaction, TransactionBehavior};

use super::{Database, commit_error, execute_cached};
use crate::ports::StoreError;

/// Most writes one group commit takes: bounds how long the first of them waits for the commit.
const MAX_GROUP: usize = 256;

/// Most background writes a group takes while clients' writes wait
/// ([`client_waiting`](crate::client_waiting)): a client's write then waits for a few of them
/// rather than for a full group, and the background still moves on.
const BACKGROUND_BESIDE_CLIENTS: usize = 8;

/// A write waiting for the writer thread.
pub(super) trait Write: Send {
    /// Runs the write in the group's transaction and keeps its outcome; true when it failed. It may
    /// run again (the group run once more without another write), and then keeps the new outcome.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers its caller once the group's commit has succeeded or failed.
    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
    /// Answers its caller with the error that kept the group from running.
    fn refuse(self: Box<Self>, error: &rusqlite::Error);
}

/// A write in the writer's queue, and whether a client waits for it.
pub(super) struct QueuedWrite {
    write: Box<dyn Write>,
    client_waiting: bool,
}

/// The work of a [`Database::write`] call, its last outcome and where the answer goes.
struct Job<T, F> {
    work: F,
    outcome: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Job<T, F>
where
    T: Send + 'static,
    F: FnMut(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.work)(tx)))
            .unwrap_or_else(|_| Err(StoreError::Internal("a database write panicked".to_owned())));
        let failed = outcome.is_err();
        self.outcome = Some(outcome);
        failed
    }

    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let result = match (self.outcome, committed) {
            (Some(outcome), Ok(())) => outcome,
            (Some(outcome), Err(error)) => outcome.and(Err(commit_error(error))),
            // Not reached by a second run that broke off: the error that broke it.
            (None, Err(error)) => Err(commit_error(error)),
            (None, Ok(())) => Err(StoreError::Internal("a database write did not run".to_owned())),
        };
        // The caller may have gone (a dropped request): nothing to answer then.
        let _ = self.reply.send(result);
    }

    fn refuse(self: Box<Self>, error: &rusqlite::Error) {
        let _ = self.reply.send(Err(commit_error(error)));
    }
}

/// Starts the writer thread on `connection`, the writer of the file at `path`, and its checkpointer
/// (restarting the log past `restart_log_after_frames`): the sender of its queue of writes.
pub(super) fn start(
    connection: r2d2::PooledConnection<SqliteConnectionManager>,
    path: &Path,
    restart_log_after_frames: i64,
) -> Result<mpsc::Sender<QueuedWrite>, StoreError> {
    let mut files = OpenedFiles::of(path);
    let checkpoints = start_checkpointer(path, restart_log_after_frames)?;
    // The checkpointer copies the log into the file; the writer only appends to the log, unless
    // the checkpointer falls far behind (`restart_overlong_log`).
    connection.pragma_update(None, "wal_autocheckpoint", 0).map_err(super::sql_error)?;
    connection.wal_hook(Some(note_log_length));
    refuse_commits_but_the_groups(&connection).map_err(super::sql_error)?;
    let (writer, jobs) = mpsc::channel::<QueuedWrite>();
    std::thread::Builder::new()
        .name("sqlite-writer".to_owned())
        .spawn(move || {
            LOG_FRAMES_LIMIT.set(restart_log_after_frames.saturating_mul(LOG_LIMIT_OVER_RESTART));
            write_groups(connection, &jobs, &mut files, &checkpoints)
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the database writer: {e}")))?;
    Ok(writer)
}

/// How long the writer commits group after group before it leaves the file's write lock free for a
/// moment ([`YIELD_FOR`]): other processes on the file (`orders import`, `orders dlq replay`) write
/// too, and without a gap between groups they would wait for the lock until they gave up. About 4%
/// of the writer's time under continuous load.
const YIELD_EVERY: Duration = Duration::from_millis(50);

/// How long the writer leaves the lock free: two of the other process's tries, one millisecond
/// apart (`pool::wait_for_lock`).
const YIELD_FOR: Duration = Duration::from_millis(2);

/// How long the checkpointer lets commits gather in the log before copying them into the file.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// Frames in the write-ahead log (pages of 4 KiB: about 32 MiB) past which the checkpointer starts
/// the log over from its beginning. Under steady load a passive checkpoint never does: some reader
/// always holds a snapshot inside the log when the writer begins, so the log only grows (to 2.2 GB
/// in a 100,000-order import), every frame lands in a newly allocated block, and a reader looks a
/// page up through one more hash table per 4,096 frames.
pub(super) const LOG_RESTART_FRAMES: i64 = 8_192;

/// How many times [`LOG_RESTART_FRAMES`] the log may reach before the writer restarts it itself.
const LOG_LIMIT_OVER_RESTART: i64 = 4;

thread_local! {
    /// Frames past which the writer thread restarts the log itself (SQLite's write-ahead-log hook is
    /// a plain function, so its limit lives with the thread that commits).
    static LOG_FRAMES_LIMIT: std::cell::Cell<i64> = const { std::cell::Cell::new(i64::MAX) };
    /// Whether the writer's last commit left the log past [`LOG_FRAMES_LIMIT`].
    static LOG_OVERLONG: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set only while the writer commits a group: any other commit on its connection is refused
    /// (its commit hook).
    static COMMITTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes the writer's connection refuse every commit but a group's own ([`COMMITTING`]): after an
/// I/O error, a full disk or an interrupt SQLite may roll the group's transaction back by itself
/// and return to committing each statement alone, and a write that went on after such an error
/// would then commit its rest piecemeal. The hook turns every such commit back into a rollback.
fn refuse_commits_but_the_groups(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.commit_hook(Some(|| !COMMITTING.get()))
}

/// How long the writer waits, past the log's limit, for the checkpoint lock before it gives up
/// until [`RESTART_WAIT`] later: another process's checkpoint copying a long log holds it that long.
const RESTART_WAIT: Duration = Duration::from_secs(1);

/// Called by SQLite after each of the writer's commits with the frames now in the log: notes
/// whether the log is past its limit. The checkpointer keeps the log short while it gets a core;
/// starved of one (two cores, every thread busy), it falls behind and the log would grow with every
/// commit. Past [`LOG_LIMIT_OVER_RESTART`] times its restart point the writer restarts the log
/// itself, between two groups ([`restart_overlong_log`], once the group is answered), so the log
/// stays bounded however the threads are scheduled. Never an error: the group has committed.
fn note_log_length(_log: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_OVERLONG.set(i64::from(frames) > LOG_FRAMES_LIMIT.get());
    Ok(())
}

/// Restarts the log when the last commit left it past its limit, unless a restart gave up less than
/// [`RESTART_WAIT`] ago (`gave_up_at`).
///
/// A checkpoint takes the file's checkpoint lock without SQLite's busy handler: while the
/// checkpointer is inside its own copy, the restart fails at once. The checkpointer may be holding
/// it without a core, so the writer sleeps between tries (giving it one) for up to
/// [`RESTART_WAIT`]; readers still inside the log are waited for by the busy handler. This runs
/// after the group's answers have gone out, so only the writes queued behind wait for it.
fn restart_overlong_log(connection: &rusqlite::Connection, gave_up_at: &mut Option<Instant>) {
    if !LOG_OVERLONG.get() || gave_up_at.is_some_and(|at| at.elapsed() < RESTART_WAIT) {
        return;
    }
    let started = Instant::now();
    loop {
        // The pragma answers (busy, frames in the log, frames copied): busy when the checkpoint
        // lock or a reader kept it from finishing.
        let busy = connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get::<_, i64>(0));
        match busy {
            Ok(0) => {
                LOG_OVERLONG.set(false);
                *gave_up_at = None;
                return;
            }
            Ok(_) if started.elapsed() < RESTART_WAIT => std::thread::sleep(Duration::from_millis(1)),
            gave_up => {
                tracing::warn!(
                    error = gave_up.err().map(|error| error.to_string()),
                    waited_ms = started.elapsed().as_millis() as u64,
                    "the log is past its limit and cannot start over yet"
                );
                *gave_up_at = Some(Instant::now());
                return;
            }
        }
    }
}

/// Starts the thread that copies the write-ahead log into the database file (a passive checkpoint)
/// after commits; returns what the writer tells it about a commit with. SQLite would otherwise run
/// that copy, and the database file's fsync, inside every few commits on the writer thread, and
/// every write waiting behind them would wait for it too. A passive checkpoint never blocks the
/// writer or the readers; it copies what no reader still needs. Once the log holds more than
/// `restart_after_frames`, the checkpoint is a restarting one: it takes the write lock between two
/// groups, copies the rest, waits for the readers still inside the log (reads of a few rows take
/// microseconds) and leaves the log to be written again from its start, so the writer waits a few
/// milliseconds every few tens of megabytes. The thread ends with the writer.
fn start_checkpointer(path: &Path, restart_after_frames: i64) -> Result<mpsc::SyncSender<()>, StoreError> {
    let connection = super::pool::connect(path)?;
    connection.execute_batch("PRAGMA synchronous = FULL").map_err(super::sql_error)?;
    super::pool::limit_log_size(&connection).map_err(super::sql_error)?;
    // One pending wake-up is enough: a checkpoint copies every commit before it.
    let (commits, committed) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpointer".to_owned())
        .spawn(move || {
            while committed.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_PAUSE);
                while committed.try_recv().is_ok() {}
                if let Err(error) = checkpoint(&connection, restart_after_frames) {
                    tracing::warn!(%error, "checkpoint failed; the next commit tries again");
                }
            }
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the database checkpointer: {e}")))?;
    Ok(commits)
}

/// One checkpoint: passive, then restarting if the log is still longer than `restart_after_frames`.
fn checkpoint(connection: &rusqlite::Connection, restart_after_frames: i64) -> rusqlite::Result<()> {
    // The pragma answers (busy, frames in the log, frames copied into the file).
    let log_frames: i64 = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if log_frames > restart_after_frames {
        connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl Database {
    /// Runs `work` as one atomic write: its checks and changes see the same data, its changes are
    /// kept when it succeeds and undone when it fails, and it returns only once they are on disk.
    ///
    /// Writes go to one writer thread, which runs the writes waiting together (up to
    /// [`MAX_GROUP`]) in one transaction and commits them with one fsync: concurrent writers share
    /// the disk's flush instead of queueing for one each. `work` may run more than once, each time
    /// in a transaction where its earlier run left no trace (see the module's note): it must not
    /// act outside the database.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let write = Box::new(Job { work, outcome: None, reply });
        let queued = QueuedWrite { write, client_waiting: crate::client_waiting::is_client_waiting() };
        self.writer.send(queued).map_err(|_| StoreError::Internal("the database writer has stopped".to_owned()))?;
        answer.await.map_err(|_| StoreError::Internal("the database writer dropped a write".to_owned()))?
    }
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
    jobs: &mpsc::Receiver<QueuedWrite>,
    files: &mut OpenedFiles,
    checkpoints: &mpsc::SyncSender<()>,
) {
    let mut busy_since: Option<Instant> = None;
    let mut restart_gave_up_at: Option<Instant> = None;
    let mut waiting = WaitingWrites::default();
    loop {
        if waiting.is_empty() {
            match jobs.try_recv() {
                Ok(queued) => waiting.push(queued),
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {
                    // Idle: the lock is free for other processes while this waits.
                    busy_since = None;
                    match jobs.recv() {
                        Ok(queued) => waiting.push(queued),
                        Err(_) => return,
                    }
                }
            }
        }
        let since = *busy_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= YIELD_EVERY {
            std::thread::sleep(YIELD_FOR);
            busy_since = Some(Instant::now());
        }
        while let Ok(queued) = jobs.try_recv() {
            waiting.push(queued);
        }
        let group = waiting.next_group();
        if let Some(reason) = files.check() {
            let error = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(reason.to_owned()),
            );
            for write in group {
                write.refuse(&error);
            }
            continue;
        }
        write_group(&mut connection, group);
        restart_overlong_log(&connection, &mut restart_gave_up_at);
        // Full means a checkpoint is already due.
        let _ = checkpoints.try_send(());
    }
}

/// The writes taken from the queue and not yet run, clients' apart from the background's.
#[derive(Default)]
struct WaitingWrites {
    clients: std::collections::VecDeque<Box<dyn Write>>,
    background: std::collections::VecDeque<Box<dyn Write>>,
}

impl WaitingWrites {
    fn push(&mut self, queued: QueuedWrite) {
        if queued.client_waiting {
            self.clients.push_back(queued.write)
        } else {
            self.background.push_back(queued.write)
        }
    }

    fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.background.is_empty()
    }

    /// The next group: clients' writes first, each queue in arrival order; beside clients' writes,
    /// at most [`BACKGROUND_BESIDE_CLIENTS`] background ones.
    fn next_group(&mut self) -> Vec<Box<dyn Write>> {
        let clients = self.clients.len().min(MAX_GROUP);
        let room = MAX_GROUP - clients;
        let background =
            self.background.len().min(if clients > 0 { room.min(BACKGROUND_BESIDE_CLIENTS) } else { room });
        self.clients.drain(..clients).chain(self.background.drain(..background)).collect()
    }
}

/// One group commit. A write that fails without changing a row leaves nothing to undo; one that
/// fails after changing rows sends the group round once more, without it and each write in a
/// savepoint of its own. If the transaction itself cannot begin or commit, every write of the group
/// gets that error.
fn write_group(connection: &mut rusqlite::Connection, mut group: Vec<Box<dyn Write>>) {
    let mut left_out = Vec::new();
    let mut savepoints = false;
    let committed = loop {
        let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(error) => {
                for write in group.into_iter().chain(left_out) {
                    write.refuse(&error);
                }
                return;
            }
        };
        let ran = if savepoints { run_in_savepoints(&tx, &mut group) } else { run_until_undo_needed(&tx, &mut group) };
        match ran {
            Ran::All => {
                COMMITTING.set(true);
                let committed = tx.commit();
                COMMITTING.set(false);
                break committed;
            }
            // Dropping the transaction rolls the whole group back.
            Ran::Broken(error) => break Err(error),
            Ran::FailedAfterChanges(at) => {
                drop(tx);
                left_out.push(group.remove(at));
                savepoints = true;
            }
        }
    };
    // Before any answer: a caller's next read must not be served from a lease older than its write.
    super::pool::count_commit();
    for write in group.into_iter().chain(left_out) {
        write.answer(committed.as_ref().map(|_| ()));
    }
}

/// How a run of a group's writes ended.
enum Ran {
    /// Every write ran; those that failed left nothing behind.
    All,
    /// The write at this index failed after changing rows: the run stopped there.
    FailedAfterChanges(usize),
    /// The transaction cannot go on.
    Broken(rusqlite::Error),
}

/// Runs the writes one after the other, with no savepoint, until one fails after changing rows.
fn run_until_undo_needed(tx: &Transaction<'_>, group: &mut [Box<dyn Write>]) -> Ran {
    for (at, write) in group.iter_mut().enumerate() {
        let changes_before = tx.total_changes();
        let failed = write.run(tx);
        if let Some(gone) = transaction_gone(tx) {
            return gone;
        }
        if failed && tx.total_changes() != changes_before {
            return Ran::FailedAfterChanges(at);
        }
    }
    Ran::All
}

/// [`Ran::Broken`] when SQLite has rolled the group's transaction back by itself, which it does
/// after some errors (I/O, a full disk, an interrupt) whichever write met them: every write of the
/// group then fails, and none is kept.
fn transaction_gone(tx: &Transaction<'_>) -> Option<Ran> {
    tx.is_autocommit().then(|| {
        Ran::Broken(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("SQLite rolled the group's transaction back after an error in one of its writes".to_owned()),
        ))
    })
}

/// Runs each write in a savepoint of its own, rolled back alone when the write fails.
fn run_in_savepoints(tx: &Transaction<'_>, group: &mut [Box<dyn Write>]) -> Ran {
    for write in group.iter_mut() {
        if let Err(error) = execute_cached(tx, "SAVEPOINT write", []) {
            return Ran::Broken(error);
        }
        let failed = write.run(tx);
        if let Some(gone) = transaction_gone(tx) {
            return gone;
        }
        let closed = if failed {
            execute_cached(tx, "ROLLBACK TO write", []).and_then(|_| execute_cached(tx, "RELEASE write", []))
        } else {
            execute_cached(tx, "RELEASE write", [])
        };
        if let Err(error) = closed {
            return Ran::Broken(error);
        }
    }
    Ran::All
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A write that notes its id when answered.
    struct Noting {
        id: usize,
        ran: Arc<Mutex<Vec<usize>>>,
    }

    impl Write for Noting {
        fn run(&mut self, _tx: &Transaction<'_>) -> bool {
            false
        }
        fn answer(self: Box<Self>, _committed: Result<(), &rusqlite::Error>) {
            self.ran.lock().unwrap_or_else(|e| e.into_inner()).push(self.id);
        }
        fn refuse(self: Box<Self>, _error: &rusqlite::Error) {
            self.ran.lock().unwrap_or_else(|e| e.into_inner()).push(self.id);
        }
    }

    fn write(id: usize, ran: &Arc<Mutex<Vec<usize>>>, client_waiting: bool) -> QueuedWrite {
        QueuedWrite { write: Box::new(Noting { id, ran: ran.clone() }), client_waiting }
    }

    fn run(group: Vec<Box<dyn Write>>) {
        let error = rusqlite::Error::InvalidQuery;
        for write in group {
            write.refuse(&error);
        }
    }

    #[test]
    fn clients_writes_go_first_beside_a_few_background_ones_and_the_background_then_gets_whole_groups() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = WaitingWrites::default();
        // Given 300 background writes queued, then 10 writes clients wait for
        for id in 0..300 {
            waiting.push(write(id, &ran, false));
        }
        for id in 1000..1010 {
            waiting.push(write(id, &ran, true));
        }
        // Then the next group is the clients' 10, then the oldest background writes
        // (BACKGROUND_BESIDE_CLIENTS of them)
        run(waiting.next_group());
        let first: Vec<usize> = (1000..1010).chain(0..BACKGROUND_BESIDE_CLIENTS).collect();
        assert_eq!(*ran.lock().unwrap(), first);
        // And with no client waiting, the background fills whole groups, in order
        ran.lock().unwrap().clear();
        run(waiting.next_group());
        assert_eq!(
            *ran.lock().unwrap(),
            (BACKGROUND_BESIDE_CLIENTS..BACKGROUND_BESIDE_CLIENTS + MAX_GROUP).collect::<Vec<_>>()
        );
        run(waiting.next_group());
        assert!(waiting.is_empty());
    }

    /// What a scripted write does in the group's transaction.
    #[derive(Clone, Copy)]
    enum Script {
        /// Inserts its row.
        Insert,
        /// Fails on a check, before changing anything.
        RefuseFirst,
        /// Inserts its row, then fails.
        FailAfterInsert,
        /// Inserts its row, then panics.
        PanicAfterInsert,
        /// Is interrupted in its insert (SQLite then rolls the whole transaction back), and goes
        /// on as if it had not been: inserts row `id + 100` and succeeds.
        InterruptedAndGoesOn,
    }

    /// Where a scripted write's answer comes.
    type Answer = tokio::sync::oneshot::Receiver<Result<i64, StoreError>>;

    /// A write scripted to insert row `id` into table `t`; returns its answer and how many times it ran.
    fn scripted(id: i64, script: Script) -> (Box<dyn Write>, Answer, Arc<Mutex<usize>>) {
        let runs = Arc::new(Mutex::new(0));
        let counted = runs.clone();
        let work = move |tx: &Transaction<'_>| {
            *counted.lock().unwrap() += 1;
            if let Script::RefuseFirst = script {
                return Err(StoreError::NotFound(crate::domain::OrderId::generate()));
            }
            if let Script::InterruptedAndGoesOn = script {
                tx.progress_handler(1, Some(|| true)).unwrap();
                let interrupted = tx.execute("INSERT INTO t (id) VALUES (?1)", [id]);
                tx.progress_handler(1, None::<fn() -> bool>).unwrap();
                assert!(interrupted.is_err());
                let _ = tx.execute("INSERT INTO t (id) VALUES (?1)", [id + 100]);
                return Ok(id);
            }
            tx.execute("INSERT INTO t (id) VALUES (?1)", [id]).map_err(super::super::sql_error)?;
            match script {
                Script::FailAfterInsert => Err(StoreError::Internal("failed after its insert".into())),
                Script::PanicAfterInsert => panic!("panicked after its insert"),
                _ => Ok(id),
            }
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        (Box::new(Job { work, outcome: None, reply }), answer, runs)
    }

    /// Runs one group of scripted writes on a fresh database; returns each write's answer (its id,
    /// or None when it failed), how many times each ran, and the ids stored afterwards.
    fn run_group(scripts: &[Script]) -> (Vec<Option<i64>>, Vec<usize>, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = rusqlite::Connection::open(dir.path().join("w.sqlite3")).unwrap();
        connection.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
        refuse_commits_but_the_groups(&connection).unwrap();
        let (mut group, mut answers, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        for (id, script) in scripts.iter().enumerate() {
            let (write, answer, ran) = scripted(id as i64, *script);
            group.push(write);
            answers.push(answer);
            runs.push(ran);
        }
        write_group(&mut connection, group);
        let answers = answers.into_iter().map(|mut answer| answer.try_recv().unwrap().ok()).collect();
        let runs = runs.iter().map(|ran| *ran.lock().unwrap()).collect();
        let stored = connection
            .prepare("SELECT id FROM t ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (answers, runs, stored)
    }

    #[test]
    fn a_write_refused_before_it_changes_anything_costs_the_group_no_second_run() {
        // Given a group whose second write fails on a check, before changing a row
        // When the group commits
        let (answers, runs, stored) = run_group(&[Script::Insert, Script::RefuseFirst, Script::Insert]);
        // Then the others are stored and answered, and every write ran once
        assert_eq!(answers, [Some(0), None, Some(2)]);
        assert_eq!(runs, [1, 1, 1]);
        assert_eq!(stored, [0, 2]);
    }

    #[test]
    fn a_write_that_fails_after_changing_rows_leaves_no_trace_and_the_rest_of_its_group_commits() {
        // Given a group whose second write inserts its row, then fails
        // When the group commits
        let (answers, runs, stored) = run_group(&[Script::Insert, Script::FailAfterInsert, Script::Insert]);
        // Then its row is not stored, the others are, and the group ran once more without it
        assert_eq!(answers, [Some(0), None, Some(2)]);
        assert_eq!(stored, [0, 2]);
        assert_eq!(runs, [2, 1, 1]);
    }

    #[test]
    fn after_a_first_undo_every_write_that_fails_is_undone_alone_in_the_same_run() {
        // Given a group with three writes failing after their inserts, one of them panicking
        let scripts = [
            Script::Insert,
            Script::FailAfterInsert,
            Script::Insert,
            Script::PanicAfterInsert,
            Script::FailAfterInsert,
            Script::Insert,
        ];
        // When the group commits
        let (answers, runs, stored) = run_group(&scripts);
        // Then only the writes that succeeded are stored, and only the write before the first
        // failure ran twice: the second run undoes each failure alone
        assert_eq!(answers, [Some(0), None, Some(2), None, None, Some(5)]);
        assert_eq!(stored, [0, 2, 5]);
        assert_eq!(runs, [2, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn a_write_after_which_sqlite_rolled_the_transaction_back_fails_its_whole_group_and_commits_nothing_alone() {
        // Given a group whose second write is interrupted (SQLite then rolls the group's
        // transaction back by itself) and goes on writing as if nothing had happened
        let scripts = [Script::Insert, Script::InterruptedAndGoesOn, Script::Insert];
        // When the group commits
        let (answers, _runs, stored) = run_group(&scripts);
        // Then every write of the group fails, and nothing is stored: not the first write's row,
        // not the row written after the rollback (which would have committed on its own)
        assert_eq!(answers, [None, None, None]);
        assert_eq!(stored, Vec::<i64>::new());
    }

    #[tokio::test]
    async fn only_a_task_marked_as_a_clients_request_counts_as_one() {
        assert!(!crate::client_waiting::is_client_waiting());
        assert!(crate::client_waiting::client_waiting(async { crate::client_waiting::is_client_waiting() }).await);
        let spawned = tokio::spawn(async { crate::client_waiting::is_client_waiting() });
        assert!(!spawned.await.unwrap(), "background work it spawns is not");
    }
}
