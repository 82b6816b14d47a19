//! Backups in a local folder, laid out as the S3 bucket is: `orders/{id}/v{version}.json`. Each
//! object is written to a temporary file, synced, then linked into place only if the name is free,
//! so a repeated job never overwrites and a crash never leaves a half-written backup.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::domain::OrderId;
use crate::ports::{BackupError, BackupKey, BackupStore, BackupWrite};

/// A backup store in a folder.
#[derive(Debug, Clone)]
pub struct FolderBackupStore {
    root: PathBuf,
}

impl FolderBackupStore {
    /// Backups under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderBackupStore { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> BackupError {
    BackupError::Unavailable(format!("{what} {}: {error}", path.display()))
}

fn put_blocking(path: &Path, body: &[u8]) -> Result<BackupWrite, BackupError> {
    if path.exists() {
        return Ok(BackupWrite::AlreadyPresent);
    }
    let folder = path.parent().ok_or_else(|| BackupError::Internal(format!("{} has no folder", path.display())))?;
    if !folder.is_dir() {
        std::fs::create_dir_all(folder).map_err(|e| io_error("cannot create", folder, e))?;
        // A new folder (an order's first backup) is an entry in its parent: synced too, or a power
        // loss could take the folder, and the synced object in it, away.
        if let Some(parent) = folder.parent() {
            sync_folder(parent).map_err(|e| io_error("cannot sync", parent, e))?;
        }
    }
    let temporary = folder.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temporary)?;
        file.write_all(body)?;
        file.sync_all()
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
            let _ = sync_folder(folder);
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

#[async_trait]
impl BackupStore for FolderBackupStore {
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError> {
        let path = self.root.join(key.object_key());
        let body = body.to_vec();
        tokio::task::spawn_blocking(move || put_blocking(&path, &body))
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
