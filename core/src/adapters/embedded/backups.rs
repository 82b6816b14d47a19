//! Backups in a local folder, laid out as the S3 bucket is: `orders/{id}/v{version}.json`. Each
//! object is written to a temporary file, made durable, then linked into place only if the name is
//! free, so a repeated job never overwrites and a crash never leaves a half-written backup.
//!
//! Durable in groups: on Linux, the objects being written at the same time share their syncs. Each
//! writer writes its temporary file and asks for a sync; one file-system sync (`syncfs`) then makes
//! every file written before it durable, for all the writers waiting. The same after the links. An
//! order's first version was five `fsync`s (the file, its folder, the new folder in its parent),
//! each a synchronous inode write and a disk flush, and a sixth of an import's CPU time. The
//! trade-off: `syncfs` also writes back whatever else on that file system is waiting to be written,
//! so a process writing gigabytes beside the data folder makes backups slower (a backup taking more
//! than its budget goes to the backup queue: `ChangeReactions`). Elsewhere each file and folder is
//! synced on its own.

use std::io::Write;
use std::path::{Path, PathBuf};
#[cfg(target_os = "linux")]
use std::sync::OnceLock;
use std::sync::{Arc, Condvar, Mutex};

use async_trait::async_trait;

use crate::domain::OrderId;
use crate::ports::{BackupError, BackupKey, BackupStore, BackupWrite};

/// A backup store in a folder.
#[derive(Debug, Clone)]
pub struct FolderBackupStore {
    root: PathBuf,
    syncs: Arc<GroupSync>,
}

impl FolderBackupStore {
    /// Backups under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderBackupStore { root: root.into(), syncs: Arc::default() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many syncs the store has made so far (each covering every writer waiting for it).
    pub fn syncs_made(&self) -> u64 {
        self.syncs.state().rounds
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> BackupError {
    BackupError::Unavailable(format!("{what} {}: {error}", path.display()))
}

fn put_blocking(root: &Path, syncs: &GroupSync, path: &Path, body: &[u8]) -> Result<BackupWrite, BackupError> {
    if path.exists() {
        return Ok(BackupWrite::AlreadyPresent);
    }
    let folder = path.parent().ok_or_else(|| BackupError::Internal(format!("{} has no folder", path.display())))?;
    let new_folder = !folder.is_dir();
    if new_folder {
        std::fs::create_dir_all(folder).map_err(|e| io_error("cannot create", folder, e))?;
    }
    let temporary = folder.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temporary)?;
        file.write_all(body)?;
        // The object, and a new folder's entry in its parent (or a power loss could take the
        // folder, and the synced object in it, away), on disk before the object gets its name.
        syncs.sync(root, || {
            file.sync_all()?;
            match folder.parent() {
                Some(parent) if new_folder => sync_folder(parent),
                _ => Ok(()),
            }
        })
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_error("cannot write", &temporary, error));
    }
    // A hard link fails if the name exists: two jobs racing on one version leave exactly one object.
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            if let Err(error) = syncs.sync(root, || sync_folder(folder)) {
                // The object is complete under its name; only its name may not survive a power
                // loss, and then the job writes it again.
                tracing::warn!(object = %path.display(), %error, "backup written but its folder not synced");
            }
            Ok(BackupWrite::Written)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(BackupWrite::AlreadyPresent),
        Err(error) => Err(io_error("cannot link", path, error)),
    }
}

/// Makes a folder's entries durable (the names linked or created in it).
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

/// Syncs shared by the writers waiting at the same time: each writer takes a ticket, and one sync
/// of the whole file system, started after a ticket was taken, covers it. Whoever finds no sync
/// under way runs the next one, for every ticket taken by then.
#[derive(Debug, Default)]
struct GroupSync {
    state: Mutex<SyncState>,
    finished: Condvar,
    /// The backup root, open for as long as the store lives: `syncfs` reports, on a descriptor,
    /// every write-back error since that descriptor's previous call, so one descriptor sees them all.
    #[cfg(target_os = "linux")]
    root: OnceLock<std::fs::File>,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets taken.
    taken: u64,
    /// Every ticket up to this one is covered by a finished sync.
    covered: u64,
    /// Whether a sync is under way.
    syncing: bool,
    /// Syncs made.
    rounds: u64,
    /// The latest failed syncs: (first ticket covered, last ticket covered, the error).
    failures: std::collections::VecDeque<(u64, u64, String)>,
}

/// Failed syncs remembered for the writers still to wake up; a writer whose sync is older than
/// all of them counts its sync as failed.
const FAILURES_KEPT: usize = 16;

impl GroupSync {
    fn state(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes everything this thread wrote before the call durable: where `syncfs` is missing, by
    /// `alone` (the file's and folders' own syncs).
    #[cfg(not(target_os = "linux"))]
    fn sync(&self, _root: &Path, alone: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
        alone()
    }

    /// Makes everything this thread wrote before the call durable, by a sync of the file system
    /// under `root` shared with the other writers waiting (`alone` is for systems without one).
    #[cfg(target_os = "linux")]
    fn sync(&self, root: &Path, _alone: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
        let mut state = self.state();
        state.taken += 1;
        let ticket = state.taken;
        loop {
            if state.covered >= ticket {
                return match state.failures.iter().find(|(first, last, _)| (*first..=*last).contains(&ticket)) {
                    Some((_, _, error)) => Err(std::io::Error::other(error.clone())),
                    None if state.failures.len() == FAILURES_KEPT
                        && state.failures.front().is_some_and(|(first, _, _)| ticket < *first) =>
                    {
                        Err(std::io::Error::other("the sync covering this write failed"))
                    }
                    None => Ok(()),
                };
            }
            if state.syncing {
                state = self.finished.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            let (first, last) = (state.covered + 1, state.taken);
            drop(state);
            let synced = self.sync_file_system(root);
            state = self.state();
            state.syncing = false;
            state.covered = last;
            state.rounds += 1;
            if let Err(error) = synced {
                if state.failures.len() == FAILURES_KEPT {
                    state.failures.pop_front();
                }
                state.failures.push_back((first, last, error.to_string()));
            }
            self.finished.notify_all();
        }
    }

    #[cfg(target_os = "linux")]
    fn sync_file_system(&self, root: &Path) -> std::io::Result<()> {
        let root = match self.root.get() {
            Some(root) => root,
            None => {
                let opened = std::fs::File::open(root)?;
                self.root.get_or_init(|| opened)
            }
        };
        rustix::fs::syncfs(root).map_err(std::io::Error::from)
    }
}

#[async_trait]
impl BackupStore for FolderBackupStore {
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError> {
        let path = self.root.join(key.object_key());
        let body = body.to_vec();
        let (root, syncs) = (self.root.clone(), Arc::clone(&self.syncs));
        tokio::task::spawn_blocking(move || put_blocking(&root, &syncs, &path, &body))
            .await
            .map_err(|e| BackupError::Internal(format!("backup task failed: {e}")))?
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
