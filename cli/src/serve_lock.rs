//! One `orders serve` per embedded data dir. Two servers on one SQLite file would each run the
//! pipeline (two stream processors, two workflow drivers resuming the same executions) and each
//! believe it owns the data; the second start is refused, naming the first. Operator commands do
//! not take the lock: they are made to run beside a server.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{Context, bail};

/// The lock file in the data dir; it holds the serving process's id.
pub const LOCK_FILE: &str = "serve.lock";

/// Held while `orders serve` runs on a data dir; the operating system releases it when the process
/// ends, however it ends (SIGKILL included), so a crash never leaves a stale lock.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

impl ServeLock {
    /// Takes the data dir's lock, or says which process holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<ServeLock> {
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                write!(file, "{}", std::process::id())?;
                Ok(ServeLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                bail!(
                    "another orders serve (pid {}) is running on {}: stop it first, or give this one its own --data-dir",
                    holder.trim(),
                    data_dir.display()
                )
            }
            Err(TryLockError::Error(error)) => Err(error).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_server_on_the_same_data_dir_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServeLock::acquire(dir.path()).unwrap();
        let refused = ServeLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("another orders serve (pid {}) is running", std::process::id())),
            "{refused}"
        );
        drop(first);
        ServeLock::acquire(dir.path()).unwrap();
    }
}
