//! The backup port: every order version as one immutable object, `orders/{order_id}/v{version}.json`,
//! and a tombstone when the order is deleted. Writes are idempotent: writing a key that exists
//! changes nothing. The objects' JSON is `backup_format.rs`'s.

use async_trait::async_trait;

use super::IdempotencyBinding;
use crate::domain::{Order, OrderId};

/// What one version's backup object holds: the order as it was at that version, and what made its
/// create idempotent (so that a restore keeps retries and re-imports from creating it twice).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OrderBackup {
    pub order: Order,
    /// Its idempotency binding, when its create had a key.
    pub idempotency: Option<IdempotencyBinding>,
}

/// Where a backup object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackupKey {
    /// One version of an order.
    #[allow(missing_docs)]
    Version { order_id: OrderId, version: u64 },
    /// The order was deleted (after its last version).
    #[allow(missing_docs)]
    Tombstone { order_id: OrderId },
}

impl BackupKey {
    /// The object key: `orders/{id}/v{version}.json` or `orders/{id}/deleted.json`.
    pub fn object_key(&self) -> String {
        match self {
            BackupKey::Version { order_id, version } => format!("orders/{order_id}/v{version}.json"),
            BackupKey::Tombstone { order_id } => format!("orders/{order_id}/deleted.json"),
        }
    }
}

/// The result of a backup write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupWrite {
    /// The object was written now.
    Written,
    /// It existed already (a repeated job): nothing changed.
    AlreadyPresent,
}

/// Why a backup call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Passing trouble: the same call may succeed later.
    #[error("backup store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("backup store failure: {0}")]
    Internal(String),
}

/// Immutable backup objects.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Writes `body` at `key` unless the key exists (then nothing changes).
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError>;

    /// Reads the object at `key`.
    async fn get(&self, key: &BackupKey) -> Result<Option<Vec<u8>>, BackupError>;

    /// Every order that has at least one backup object.
    async fn order_ids(&self) -> Result<Vec<OrderId>, BackupError>;

    /// The backup objects of one order.
    async fn keys(&self, order_id: OrderId) -> Result<Vec<BackupKey>, BackupError>;
}

impl BackupKey {
    /// The key an object key names, if it is one of ours.
    pub fn parse(object_key: &str) -> Option<BackupKey> {
        let rest = object_key.strip_prefix("orders/")?;
        let (id, file) = rest.split_once('/')?;
        let order_id: OrderId = id.parse().ok()?;
        if file == "deleted.json" {
            return Some(BackupKey::Tombstone { order_id });
        }
        let version = file.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()?;
        Some(BackupKey::Version { order_id, version })
    }
}
