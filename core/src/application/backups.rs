//! The backup use cases: keep one version of an order (the change reactions' job, and the backup
//! worker's when their write failed), verify that every live order's current version is backed
//! up, and restore orders from their backups.
//!
//! - Keep: each job becomes one immutable object, `orders/{order_id}/v{version}.json` (or
//!   `deleted.json`). A repeated job finds the object there and changes nothing; passing failures
//!   are retried at once with exponential backoff and jitter (`backon`), then left to the queue's
//!   redelivery and dead-letter queue.
//! - Verify: walks every order (by cursor, a page at a time) and checks that its current version is
//!   in the backup store, and that no live order has a tombstone (an order brought back after its
//!   deletion).
//! - Restore: for each order, its highest version is written back unless the store already holds
//!   that version or a newer one; an order with a tombstone, or one the store remembers deleting,
//!   stays deleted. Orders are restored oldest first, so the newest-first listing stays in
//!   `created_at` order. Restoring twice changes nothing the second time.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::{BackupJob, StepError};
use crate::domain::OrderId;
use crate::ports::{
    BackupError, BackupKey, BackupObject, BackupStore, BackupWrite, ListFilter, ListRequest, OrderBackup, OrderStore,
    PagePosition, RestoreOutcome, StoreError, decode_backup, encode_backup,
};

/// Why verifying or restoring could not go on.
#[derive(Debug, thiserror::Error)]
pub enum BackupsError {
    /// Order storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backup store failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// An order to restore has no version in the backup store.
    #[error("order {0} has no backup")]
    NoBackup(OrderId),
    /// An object the backup store listed is gone or is not an order version.
    #[error("{0}")]
    Unreadable(String),
}

/// How far a verify or restore has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupProgress {
    /// Verify: this many orders checked so far.
    Checked(u64),
    /// Restore, first pass: the newest backup of `done` of `of` orders found.
    #[allow(missing_docs)]
    Found { done: u64, of: u64 },
    /// Restore, second pass: `done` of `of` orders written back (or left as they were).
    #[allow(missing_docs)]
    Restored { done: u64, of: u64 },
}

/// What a verify found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Orders checked.
    pub checked: u64,
    /// Object keys of live orders' current versions that are not backed up.
    pub missing: Vec<String>,
    /// Tombstone keys of orders that are live although their backups say they were deleted.
    pub resurrected: Vec<String>,
}

/// What a restore did, order by order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Absent orders written back.
    pub restored: u64,
    /// Stored orders replaced by a newer backed-up version.
    pub updated: u64,
    /// Orders the store already held at that version or a newer one.
    pub already_current: u64,
    /// Orders left deleted (a tombstone, or the store remembers deleting them).
    pub deleted: u64,
}

/// The backup use cases over the order store and the backup store.
#[derive(Clone)]
pub struct Backups {
    orders: Arc<dyn OrderStore>,
    backups: Arc<dyn BackupStore>,
}

impl Backups {
    /// The use cases over these stores.
    pub fn new(orders: Arc<dyn OrderStore>, backups: Arc<dyn BackupStore>) -> Self {
        Backups { orders, backups }
    }

    /// Writes a backup job's object unless it is there already, in a span naming the order and the
    /// version (or tombstone) kept.
    pub async fn keep(&self, job: BackupJob) -> Result<BackupWrite, StepError> {
        let span = match &job {
            BackupJob::Version { order, .. } => tracing::info_span!(
                "backup",
                order_id = %order.order_id,
                version = order.version,
                execution_arn = order.execution_arn.as_deref().unwrap_or_default(),
                correlation_id = order.correlation_id.as_deref().unwrap_or_default(),
            ),
            BackupJob::Tombstone { order_id, last_version, .. } => {
                tracing::info_span!("backup", order_id = %order_id, tombstone_after = last_version)
            }
        };
        self.keep_in_span(job).instrument(span).await
    }

    async fn keep_in_span(&self, job: BackupJob) -> Result<BackupWrite, StepError> {
        let (backup, changed_at) = match job {
            BackupJob::Version { order, idempotency } => {
                let changed_at = Some(order.updated_at);
                (BackupObject::Version(OrderBackup { order, idempotency }), changed_at)
            }
            BackupJob::Tombstone { order_id, last_version, deleted_at } => {
                let changed_at = DateTime::parse_from_rfc3339(&deleted_at).ok().map(|at| at.with_timezone(&Utc));
                (BackupObject::Tombstone { order_id, last_version, deleted_at }, changed_at)
            }
        };
        let key = backup.key();
        let object = encode_backup(&backup).map_err(|e| StepError::Malformed(e.to_string()))?;
        let write = (|| async { self.backups.put_if_absent(&key, &object).await })
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(3)
                    .with_jitter(),
            )
            .when(|error| matches!(error, BackupError::Unavailable(_)))
            .notify(|error, delay| tracing::warn!(%error, ?delay, "backup write failed; retrying"))
            .await?;
        match write {
            BackupWrite::Written => {
                if let Some(changed_at) = changed_at {
                    crate::metrics::backup_written(changed_at);
                }
                tracing::info!(object = %key.object_key(), "backup written")
            }
            BackupWrite::AlreadyPresent => tracing::debug!(object = %key.object_key(), "backup already present"),
        }
        Ok(write)
    }

    /// Checks every live order against the backup store.
    pub async fn verify(&self, progress: &mut dyn FnMut(BackupProgress)) -> Result<VerifyReport, BackupsError> {
        let mut report = VerifyReport::default();
        let mut position = PagePosition::Number(1);
        loop {
            let request = ListRequest { filter: ListFilter::default(), limit: 100, position };
            let page = self.orders.list_orders(&request).await?;
            for summary in &page.orders {
                let Some(order) = self.orders.get_order(summary.order_id).await? else { continue };
                let key = BackupKey::Version { order_id: order.order_id, version: order.version };
                if self.backups.get(&key).await?.is_none() {
                    report.missing.push(key.object_key());
                }
                let tombstone = BackupKey::Tombstone { order_id: order.order_id };
                if self.backups.get(&tombstone).await?.is_some() {
                    report.resurrected.push(tombstone.object_key());
                }
                report.checked += 1;
                progress(BackupProgress::Checked(report.checked));
            }
            match page.next_cursor {
                Some(cursor) => position = PagePosition::After(cursor),
                None => return Ok(report),
            }
        }
    }

    /// Every order the backup store holds anything of.
    pub async fn backed_up_orders(&self) -> Result<Vec<OrderId>, BackupsError> {
        Ok(self.backups.order_ids().await?)
    }

    /// Restores these orders from their newest backups.
    pub async fn restore(
        &self,
        ids: Vec<OrderId>,
        progress: &mut dyn FnMut(BackupProgress),
    ) -> Result<RestoreReport, BackupsError> {
        // First find each order's newest backup and when the order was made; then restore the
        // oldest first: a store numbers the orders it receives in arrival order, and listings show
        // the newest first. Only the key and the date are kept in between, so a large restore
        // stays small.
        let of = ids.len() as u64;
        let mut report = RestoreReport::default();
        let mut newest: Vec<(DateTime<Utc>, OrderId, BackupKey)> = Vec::with_capacity(ids.len());
        for (done, order_id) in (1..).zip(ids) {
            progress(BackupProgress::Found { done, of });
            let keys = self.backups.keys(order_id).await?;
            if keys.iter().any(|k| matches!(k, BackupKey::Tombstone { .. })) {
                report.deleted += 1;
                continue;
            }
            let latest = keys
                .iter()
                .filter_map(|k| match k {
                    BackupKey::Version { version, .. } => Some(*version),
                    BackupKey::Tombstone { .. } => None,
                })
                .max()
                .ok_or(BackupsError::NoBackup(order_id))?;
            let key = BackupKey::Version { order_id, version: latest };
            newest.push((self.read_version(&key).await?.order.created_at, order_id, key));
        }
        newest.sort_by_key(|(created_at, order_id, _)| (*created_at, *order_id));
        let of = newest.len() as u64;
        for (done, (_, _, key)) in (1..).zip(newest) {
            progress(BackupProgress::Restored { done, of });
            match self.orders.restore(&self.read_version(&key).await?).await? {
                RestoreOutcome::Restored => report.restored += 1,
                RestoreOutcome::Updated => report.updated += 1,
                RestoreOutcome::AlreadyCurrent => report.already_current += 1,
                RestoreOutcome::Deleted => report.deleted += 1,
            }
        }
        Ok(report)
    }

    async fn read_version(&self, key: &BackupKey) -> Result<OrderBackup, BackupsError> {
        let object = key.object_key();
        let bytes =
            self.backups.get(key).await?.ok_or_else(|| BackupsError::Unreadable(format!("{object} vanished")))?;
        match decode_backup(&bytes) {
            Ok(BackupObject::Version(backup)) => Ok(backup),
            Ok(BackupObject::Tombstone { .. }) => Err(BackupsError::Unreadable(format!("{object} is not an order"))),
            Err(e) => Err(BackupsError::Unreadable(format!("{object} is not an order: {e}"))),
        }
    }
}
