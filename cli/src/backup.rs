//! `orders backup verify|restore`. Verify walks every order (by cursor, a page at a time) and checks
//! that its current version is in the backup store, and that no live order has a tombstone (an
//! order brought back after its deletion). Restore rebuilds orders from the backup store: for each
//! order, its highest version is written back unless the store already holds that version or a
//! newer one; an order with a tombstone (`deleted.json`), or one the store remembers deleting,
//! stays deleted. Orders are restored oldest first, so the newest-first listing stays in
//! `created_at` order. Running it twice changes nothing the second time.

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use orders_core::domain::OrderId;
use orders_core::ports::{
    BackupKey, BackupObject, ListFilter, ListRequest, OrderBackup, PagePosition, RestoreOutcome, decode_backup,
};

use orders_core::wiring::Ports;

use crate::backend;
use crate::config::BackupCommand;

/// Runs `orders backup …`.
pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Verify { target } => verify(&backend::open(&target).await?).await,
        BackupCommand::Restore { order, all: _, target } => {
            let backend = backend::open(&target).await?;
            let ids = match order {
                Some(id) => vec![id.parse::<OrderId>().map_err(|e| anyhow::anyhow!("--order: {e}"))?],
                None => backend.backups.order_ids().await.context("cannot list the backups")?,
            };
            restore(&backend, ids).await
        }
    }
}

async fn verify(backend: &Ports) -> anyhow::Result<()> {
    let progress = ProgressBar::new_spinner();
    let (mut checked, mut missing, mut resurrected) = (0u64, Vec::new(), Vec::new());
    let mut position = PagePosition::Number(1);
    loop {
        let request = ListRequest { filter: ListFilter::default(), limit: 100, position };
        let page = backend.orders.list_orders(&request).await.context("cannot list the orders")?;
        for summary in &page.orders {
            let Some(order) = backend.orders.get_order(summary.order_id).await? else { continue };
            let key = BackupKey::Version { order_id: order.order_id, version: order.version };
            if backend.backups.get(&key).await?.is_none() {
                missing.push(key.object_key());
            }
            let tombstone = BackupKey::Tombstone { order_id: order.order_id };
            if backend.backups.get(&tombstone).await?.is_some() {
                resurrected.push(tombstone.object_key());
            }
            checked += 1;
            progress.set_message(format!("checked {checked} orders"));
            progress.tick();
        }
        match page.next_cursor {
            Some(cursor) => position = PagePosition::After(cursor),
            None => break,
        }
    }
    progress.finish_and_clear();
    for key in &missing {
        println!("missing: {key}");
    }
    for key in &resurrected {
        println!("deleted but live: {key} exists, and the order is in the store");
    }
    println!(
        "checked {checked} orders: {} backed up at their latest version, {} missing",
        checked as usize - missing.len(),
        missing.len()
    );
    if !missing.is_empty() {
        bail!(
            "{} orders lack a backup of their latest version (is the backup queue or its DLQ holding them?)",
            missing.len()
        );
    }
    if !resurrected.is_empty() {
        bail!("{} orders are live although their backups say they were deleted", resurrected.len());
    }
    Ok(())
}

async fn restore(backend: &Ports, ids: Vec<OrderId>) -> anyhow::Result<()> {
    // First find each order's newest backup and when the order was made; then restore the oldest
    // first: a store numbers the orders it receives in arrival order, and listings show the newest
    // first. Only the key and the date are kept in between, so a large restore stays small.
    let progress = ProgressBar::new(ids.len() as u64);
    let mut deleted = 0;
    let mut newest: Vec<(DateTime<Utc>, OrderId, BackupKey)> = Vec::with_capacity(ids.len());
    for order_id in ids {
        progress.inc(1);
        let keys = backend.backups.keys(order_id).await?;
        if keys.iter().any(|k| matches!(k, BackupKey::Tombstone { .. })) {
            deleted += 1;
            continue;
        }
        let Some(latest) = keys
            .iter()
            .filter_map(|k| match k {
                BackupKey::Version { version, .. } => Some(*version),
                BackupKey::Tombstone { .. } => None,
            })
            .max()
        else {
            bail!("order {order_id} has no backup");
        };
        let key = BackupKey::Version { order_id, version: latest };
        newest.push((read_backup(backend, &key).await?.order.created_at, order_id, key));
    }
    newest.sort_by_key(|(created_at, order_id, _)| (*created_at, *order_id));
    progress.set_position(0);
    let (mut restored, mut updated, mut current) = (0, 0, 0);
    for (_, _, key) in newest {
        progress.inc(1);
        match backend.orders.restore(&read_backup(backend, &key).await?).await? {
            RestoreOutcome::Restored => restored += 1,
            RestoreOutcome::Updated => updated += 1,
            RestoreOutcome::AlreadyCurrent => current += 1,
            RestoreOutcome::Deleted => deleted += 1,
        }
    }
    progress.finish_and_clear();
    println!("restored {restored}, updated {updated}, already current {current}, deleted (left deleted) {deleted}");
    Ok(())
}

async fn read_backup(backend: &Ports, key: &BackupKey) -> anyhow::Result<OrderBackup> {
    let bytes = backend.backups.get(key).await?.with_context(|| format!("{} vanished", key.object_key()))?;
    match decode_backup(&bytes).with_context(|| format!("{} is not an order", key.object_key()))? {
        BackupObject::Version(backup) => Ok(backup),
        BackupObject::Tombstone { .. } => bail!("{} is not an order", key.object_key()),
    }
}
