//! `orders backup verify|restore`: the backup use cases
//! ([`Backups`](orders_core::application::Backups)) with a progress display and a summary on
//! stdout. Verify fails when a live order's current version is not backed up, or a live order has
//! a tombstone; restore is safe to run twice.

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use orders_core::application::{BackupProgress, Backups};
use orders_core::domain::OrderId;

use crate::backend;
use crate::config::BackupCommand;

/// Runs `orders backup …`.
pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Verify { target } => verify(&backend::open(&target).await?.backup_service()).await,
        BackupCommand::Restore { order, all: _, target } => {
            let backups = backend::open(&target).await?.backup_service();
            let ids = match order {
                Some(id) => vec![id.parse::<OrderId>().map_err(|e| anyhow::anyhow!("--order: {e}"))?],
                None => backups.backed_up_orders().await.context("cannot list the backups")?,
            };
            restore(&backups, ids).await
        }
    }
}

async fn verify(backups: &Backups) -> anyhow::Result<()> {
    let progress = ProgressBar::new_spinner();
    let report = backups
        .verify(&mut |step| {
            if let BackupProgress::Checked(checked) = step {
                progress.set_message(format!("checked {checked} orders"));
                progress.tick();
            }
        })
        .await
        .context("cannot verify the backups")?;
    progress.finish_and_clear();
    for key in &report.missing {
        println!("missing: {key}");
    }
    for key in &report.resurrected {
        println!("deleted but live: {key} exists, and the order is in the store");
    }
    let missing = report.missing.len();
    println!(
        "checked {} orders: {} backed up at their latest version, {missing} missing",
        report.checked,
        report.checked as usize - missing,
    );
    if missing > 0 {
        bail!("{missing} orders lack a backup of their latest version (is the backup queue or its DLQ holding them?)");
    }
    if !report.resurrected.is_empty() {
        bail!("{} orders are live although their backups say they were deleted", report.resurrected.len());
    }
    Ok(())
}

async fn restore(backups: &Backups, ids: Vec<OrderId>) -> anyhow::Result<()> {
    let progress = ProgressBar::new(ids.len() as u64);
    let report = backups
        .restore(ids, &mut |step| match step {
            BackupProgress::Found { done, of } | BackupProgress::Restored { done, of } => {
                progress.set_length(of);
                progress.set_position(done);
            }
            BackupProgress::Checked(_) => {}
        })
        .await?;
    progress.finish_and_clear();
    println!(
        "restored {}, updated {}, already current {}, deleted (left deleted) {}",
        report.restored, report.updated, report.already_current, report.deleted
    );
    Ok(())
}
