//! Backups in a local folder, laid out as the S3 bucket is: `orders/{id}/v{version}.json`. Each
//! object is written to a temporary file, made durable, then linked into place only if the name is
//! free, so a repeated job never overwrites and a crash never leaves a half-written backup.
//!
//! One thread writes them, in rounds: it takes every write waiting (up to [`ROUND_LIMIT`]), writes
//! their temporary files, makes them all durable with one sync, and links them; the next round's
//! sync makes the links durable. On Linux each sync is one file-system sync (`syncfs`): an order's first
//! version written on its own was five `fsync`s (the file, its folder, the new folder in its
//! parent), each a synchronous inode write and a disk flush, and a sixth of an import's CPU time.
//! A writer thread of its own, rather than each write on the runtime's blocking pool waiting for a
//! shared sync: under load the pool grew to about 90 threads parked on that sync, which together
//! outweighed the request threads at the scheduler however low their priority. The thread runs at
//! the pipeline's priority ([`super::PIPELINE_NICE`]), starts at the first write and ends with the
//! last handle to the store.
//!
//! The trade-off of `syncfs`: it also writes back whatever else on that file system is waiting to
//! be written, so a process writing gigabytes beside the data folder makes backups slower (a backup
//! taking more than its budget goes to the backup queue: `ChangeReactions`). Elsewhere each file
//! and folder is synced on its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::domain::OrderId;
use crate::ports::{BackupError, BackupKey, BackupStore, BackupWrite};

/// The most writes one round takes: enough for a stream round's backups, few enough that the
/// first of them is not kept waiting long for the last one's file.
const ROUND_LIMIT: usize = 256;

/// A backup store in a folder.
#[derive(Debug, Clone)]
pub struct FolderBackupStore {
    root: PathBuf,
    writer: Arc<Writer>,
}

/// The handle to the writer thread, started at the first write; the thread ends when this is
/// dropped (its queue closes).
#[derive(Debug, Default)]
struct Writer {
    queue: Mutex<Option<mpsc::Sender<Put>>>,
    syncs: Arc<AtomicU64>,
}

/// One write for the writer thread, and where its answer goes.
#[derive(Debug)]
struct Put {
    path: PathBuf,
    body: Vec<u8>,
    answer: oneshot::Sender<Result<BackupWrite, BackupError>>,
}

impl FolderBackupStore {
    /// Backups under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderBackupStore { root: root.into(), writer: Arc::default() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many syncs the store has made so far (each covering every write of its round).
    pub fn syncs_made(&self) -> u64 {
        self.writer.syncs.load(Ordering::Relaxed)
    }

    /// Hands a write to the writer thread, starting it if it is not running.
    fn submit(&self, put: Put) -> Result<(), BackupError> {
        let mut queue = self.writer.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A send fails only if the thread is gone (it cannot end while the queue is open, unless it
        // panicked outside a round): then another starts.
        let put = match queue.as_ref() {
            Some(sender) => match sender.send(put) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(put)) => put,
            },
            None => put,
        };
        let (sender, receiver) = mpsc::channel();
        let (root, syncs) = (self.root.clone(), Arc::clone(&self.writer.syncs));
        std::thread::Builder::new()
            .name("backup-writer".to_owned())
            .spawn(move || {
                super::lower_thread_priority();
                write_rounds(FileSystem::new(&root, syncs), &receiver);
            })
            .map_err(|e| BackupError::Unavailable(format!("cannot start the backup writer: {e}")))?;
        sender.send(put).map_err(|_| BackupError::Internal("the backup writer ended at its start".to_owned()))?;
        *queue = Some(sender);
        Ok(())
    }
}

fn io_error(what: &str, path: &Path, error: impl std::fmt::Display) -> BackupError {
    BackupError::Unavailable(format!("{what} {}: {error}", path.display()))
}

/// The writer thread, until the queue closes. Each round takes every write waiting, writes their
/// temporary files and makes them durable with one sync, which also makes durable the names linked
/// in the round before (whose writes are answered then); then it links this round's objects. So a
/// round costs one sync, not two, and a write waits for two rounds. With nothing waiting, the
/// round's links get their sync at once.
fn write_rounds(mut file_system: FileSystem, queue: &mpsc::Receiver<Put>) {
    let mut linked: Option<Round> = None;
    loop {
        let mut puts = Vec::new();
        if linked.is_none() {
            match queue.recv() {
                Ok(first) => puts.push(first),
                Err(mpsc::RecvError) => return,
            }
        }
        while puts.len() < ROUND_LIMIT
            && let Ok(put) = queue.try_recv()
        {
            puts.push(put);
        }
        let before = linked.take();
        let round =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write_round(&mut file_system, before, puts)));
        // A round that panicked is dropped with its answers: its callers see an error, and their
        // jobs come back and find what was written.
        linked = round.unwrap_or(None);
    }
}

/// A round's writes, linked (or answered already), waiting for the sync of their names.
struct Round {
    puts: Vec<Put>,
    results: Vec<Result<BackupWrite, BackupError>>,
    folders: Vec<PathBuf>,
}

impl Round {
    fn answer(self) {
        for (put, result) in self.puts.into_iter().zip(self.results) {
            // A caller that stopped waiting finds its object written when it asks again.
            let _ = put.answer.send(result);
        }
    }
}

/// One round: stages `puts`, syncs (covering `before`'s links too), answers `before`, links the
/// staged objects. The round to answer next, if any.
fn write_round(file_system: &mut FileSystem, before: Option<Round>, puts: Vec<Put>) -> Option<Round> {
    let mut results: Vec<Option<Result<BackupWrite, BackupError>>> = puts.iter().map(|_| None).collect();
    let mut staged = Vec::with_capacity(puts.len());
    for (index, put) in puts.iter().enumerate() {
        match stage(index, &put.path, &put.body, &mut file_system.unnamed_files) {
            Ok(Some(object)) => staged.push(object),
            Ok(None) => results[index] = Some(Ok(BackupWrite::AlreadyPresent)),
            Err(error) => results[index] = Some(Err(error)),
        }
    }
    // The objects, and new folders' entries in their parents (or a power loss could take a folder,
    // and the synced object in it, away), on disk before any object gets its name.
    let earlier_folders = before.as_ref().map_or(&[][..], |round| &round.folders[..]);
    let (synced, links_synced) = file_system.sync(&staged, earlier_folders);
    if let Some(before) = before {
        if let Err(error) = links_synced {
            // The objects are complete under their names; only a name may not survive a power
            // loss, and then its job writes it again.
            tracing::warn!(objects = before.folders.len(), %error, "backups written but their folders not synced");
        }
        before.answer();
    }
    let mut folders = Vec::new();
    for (object, synced) in staged.into_iter().zip(synced) {
        let result = match synced {
            Err(error) => Err(io_error("cannot sync", &object.path, error)),
            // A hard link fails if the name exists: two writes of one version leave exactly one
            // object.
            Ok(()) => match object.link() {
                Ok(()) => {
                    folders.push(object.folder.clone());
                    Ok(BackupWrite::Written)
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(BackupWrite::AlreadyPresent),
                Err(error) => Err(io_error("cannot link", &object.path, error)),
            },
        };
        results[object.index] = Some(result);
        object.discard_temporary();
    }
    let results = results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| Err(BackupError::Internal("a backup write was left unanswered".to_owned())))
        })
        .collect();
    let round = Round { puts, results, folders };
    match (round.puts.is_empty(), round.folders.is_empty()) {
        (true, _) => None,
        // Nothing linked: nothing to sync, the answers go now.
        (false, true) => {
            round.answer();
            None
        }
        (false, false) => Some(round),
    }
}

/// An object's temporary file, written and waiting for its sync and its link.
struct Staged {
    index: usize,
    path: PathBuf,
    folder: PathBuf,
    /// The temporary file's name; none for a file made without one (`O_TMPFILE`), which the
    /// kernel removes if it is never linked, so a crash leaves nothing behind.
    temporary: Option<PathBuf>,
    file: std::fs::File,
    /// Whether its folder was created for it (where files are synced one by one, the folder's
    /// entry in its parent then needs a sync of its own).
    #[cfg_attr(target_os = "linux", expect(dead_code, reason = "syncfs covers the folder's entry"))]
    new_folder: bool,
}

impl Staged {
    /// Gives the object its name; fails if the name is taken.
    fn link(&self) -> std::io::Result<()> {
        match &self.temporary {
            Some(temporary) => std::fs::hard_link(temporary, &self.path),
            None => link_unnamed(&self.file, &self.path),
        }
    }

    /// Closes the temporary file and removes its name (the object keeps its own).
    fn discard_temporary(self) {
        drop(self.file);
        if let Some(temporary) = &self.temporary {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// Writes an object's temporary file in its folder (created if needed); `None` if the object
/// exists already. Without a name where the system can (`unnamed_files`, turned off for good if
/// the file system refuses), else under a `.tmp-` name.
fn stage(index: usize, path: &Path, body: &[u8], unnamed_files: &mut bool) -> Result<Option<Staged>, BackupError> {
    if path.exists() {
        return Ok(None);
    }
    let folder = path.parent().ok_or_else(|| BackupError::Internal(format!("{} has no folder", path.display())))?;
    let new_folder = !folder.is_dir();
    if new_folder {
        std::fs::create_dir_all(folder).map_err(|e| io_error("cannot create", folder, e))?;
    }
    let unnamed =
        if *unnamed_files { create_unnamed(folder).map_err(|e| io_error("cannot write in", folder, e))? } else { None };
    *unnamed_files &= unnamed.is_some();
    let (temporary, created) = match unnamed {
        Some(file) => (None, Ok(file)),
        None => {
            let temporary = folder.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
            let created = std::fs::File::create_new(&temporary);
            (Some(temporary), created)
        }
    };
    let written = created.and_then(|mut file| file.write_all(body).map(|()| file));
    match written {
        Ok(file) => {
            Ok(Some(Staged { index, path: path.to_owned(), folder: folder.to_owned(), temporary, file, new_folder }))
        }
        Err(error) => {
            if let Some(temporary) = &temporary {
                let _ = std::fs::remove_file(temporary);
            }
            Err(io_error("cannot write", path, error))
        }
    }
}

/// A file in `folder` without a name (`O_TMPFILE`); `None` where the file system has none. Its
/// name comes at its link, through `/proc/self/fd` (linking by descriptor alone needs a privilege).
#[cfg(target_os = "linux")]
fn create_unnamed(folder: &Path) -> std::io::Result<Option<std::fs::File>> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    match rustix::fs::open(folder, OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC, Mode::from_raw_mode(0o666)) {
        Ok(fd) => Ok(Some(std::fs::File::from(fd))),
        // The file system (or an older kernel) has no unnamed files.
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn create_unnamed(_folder: &Path) -> std::io::Result<Option<std::fs::File>> {
    Ok(None)
}

#[cfg(target_os = "linux")]
fn link_unnamed(file: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let by_descriptor = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        by_descriptor.as_str(),
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )
    .map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_file: &std::fs::File, path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(format!("{} has no temporary file to link", path.display())))
}

/// Makes a folder's entries durable (the names linked or created in it).
#[cfg_attr(target_os = "linux", expect(dead_code, reason = "syncfs covers every folder"))]
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

/// How the writer makes its writes durable: on Linux one sync of the file system holding the
/// backups (`syncfs`) for a whole round, elsewhere each file and folder on its own.
struct FileSystem {
    root: PathBuf,
    /// The backup root, open for as long as the writer runs: `syncfs` reports, on a descriptor,
    /// every write-back error since that descriptor's previous call, so one descriptor sees them all.
    #[cfg(target_os = "linux")]
    opened: Option<std::fs::File>,
    /// Syncs made (the store's count, read by [`FolderBackupStore::syncs_made`]).
    syncs: Arc<AtomicU64>,
    /// Whether temporary files are made without a name: where the system has them, and a file
    /// can be linked by its descriptor (`/proc` mounted).
    unnamed_files: bool,
}

impl FileSystem {
    fn new(root: &Path, syncs: Arc<AtomicU64>) -> Self {
        FileSystem {
            root: root.to_owned(),
            #[cfg(target_os = "linux")]
            opened: None,
            syncs,
            unnamed_files: cfg!(target_os = "linux") && Path::new("/proc/self/fd").is_dir(),
        }
    }

    fn count_sync(&self) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Makes the staged files (and new folders' entries in their parents) durable, one result
    /// each, and the names linked in `linked_folders`.
    #[cfg(target_os = "linux")]
    fn sync(
        &mut self,
        staged: &[Staged],
        linked_folders: &[PathBuf],
    ) -> (Vec<Result<(), String>>, std::io::Result<()>) {
        if staged.is_empty() && linked_folders.is_empty() {
            return (Vec::new(), Ok(()));
        }
        self.count_sync();
        let synced = match &mut self.opened {
            Some(opened) => Ok(&*opened),
            empty => std::fs::File::open(&self.root).map(|opened| &*empty.insert(opened)),
        }
        .and_then(|opened| rustix::fs::syncfs(opened).map_err(std::io::Error::from));
        let each = staged.iter().map(|_| synced.as_ref().map(|_| ()).map_err(ToString::to_string)).collect();
        (each, synced)
    }

    #[cfg(not(target_os = "linux"))]
    fn sync(
        &mut self,
        staged: &[Staged],
        linked_folders: &[PathBuf],
    ) -> (Vec<Result<(), String>>, std::io::Result<()>) {
        let each = staged
            .iter()
            .map(|object| {
                self.count_sync();
                object.file.sync_all()?;
                match object.folder.parent() {
                    Some(parent) if object.new_folder => sync_folder(parent),
                    _ => Ok(()),
                }
            })
            .map(|synced: std::io::Result<()>| synced.map_err(|e| e.to_string()))
            .collect();
        let unique: std::collections::BTreeSet<&PathBuf> = linked_folders.iter().collect();
        let links = unique.into_iter().try_for_each(|folder| {
            self.count_sync();
            sync_folder(folder)
        });
        (each, links)
    }
}

#[async_trait]
impl BackupStore for FolderBackupStore {
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError> {
        let (answer, answered) = oneshot::channel();
        self.submit(Put { path: self.root.join(key.object_key()), body: body.to_vec(), answer })?;
        answered.await.map_err(|_| BackupError::Internal("the backup writer stopped before answering".to_owned()))?
    }

    async fn order_ids(&self) -> Result<Vec<OrderId>, BackupError> {
        let folder = self.root.join("orders");
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("cannot list", &folder, error)),
        };
        let mut ids: Vec<OrderId> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn keys(&self, order_id: OrderId) -> Result<Vec<BackupKey>, BackupError> {
        let folder = self.root.join("orders").join(order_id.to_string());
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("cannot list", &folder, error)),
        };
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| BackupKey::parse(&format!("orders/{order_id}/{n}"))))
            .collect())
    }

    async fn get(&self, key: &BackupKey) -> Result<Option<Vec<u8>>, BackupError> {
        let path = self.root.join(key.object_key());
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("cannot read", &path, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answer = oneshot::Receiver<Result<BackupWrite, BackupError>>;

    fn put(root: &Path, key: &BackupKey, body: &str) -> (Put, Answer) {
        let (answer, answered) = oneshot::channel();
        (Put { path: root.join(key.object_key()), body: body.as_bytes().to_vec(), answer }, answered)
    }

    fn answer(mut answered: Answer) -> BackupWrite {
        answered.try_recv().expect("answered").expect("written")
    }

    #[test]
    fn given_named_or_unnamed_temporary_files_when_a_round_writes_then_each_object_is_whole_and_nothing_else_is_left() {
        for unnamed in [false, true] {
            // Given a store's writer, with or without unnamed temporary files
            let dir = tempfile::tempdir().expect("a scratch folder");
            let root = dir.path();
            let mut file_system = FileSystem::new(root, Arc::default());
            file_system.unnamed_files &= unnamed;
            let (first, second) = (OrderId::generate(), OrderId::generate());
            let key = BackupKey::Version { order_id: first, version: 1 };
            let other = BackupKey::Tombstone { order_id: second };
            // When a round takes two writes of one object and one of another
            let (a, mut a_answer) = put(root, &key, "first");
            let (b, b_answer) = put(root, &key, "second");
            let (c, c_answer) = put(root, &other, "gone");
            let linked = write_round(&mut file_system, None, vec![a, b, c]);
            // Then nothing is answered before the sync of their names, which the next round makes
            assert!(a_answer.try_recv().is_err(), "answered before its name was synced");
            assert!(write_round(&mut file_system, linked, Vec::new()).is_none());
            assert_eq!(answer(a_answer), BackupWrite::Written);
            assert_eq!(answer(b_answer), BackupWrite::AlreadyPresent);
            assert_eq!(answer(c_answer), BackupWrite::Written);
            // And each folder holds its one object, whole, and no temporary file
            assert_eq!(std::fs::read(root.join(key.object_key())).expect("the object"), b"first");
            assert_eq!(std::fs::read(root.join(other.object_key())).expect("the other object"), b"gone");
            for order in [first, second] {
                assert_eq!(
                    std::fs::read_dir(root.join("orders").join(order.to_string())).expect("its folder").count(),
                    1
                );
            }
            assert_eq!(file_system.unnamed_files, unnamed && cfg!(target_os = "linux"), "unnamed files: {unnamed}");
        }
    }
}
