//! `orders backup verify|restore`: the backup use cases
//! ([`Backups`](orders_core::application::Backups)) with a progress display and a summary on
//! stdout. Verify fails when a live order's current version is not backed up, or a live order has
//! a tombstone; restore is safe to run twice.

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use orders_core::application::{BackupProgress, Backups};
use orders_core::domain::OrderId;
use serde::Serialize;

use crate::backend;
use crate::config::{BackupCommand, OutputFormat};
use crate::output::print_json;

/// What `orders backup verify --output json` prints (also when it then fails).
#[derive(Debug, Serialize)]
pub struct VerifySummary {
    /// Live orders checked.
    pub checked: u64,
    /// Of those, backed up at their latest version.
    pub backed_up: u64,
    /// Backup keys of latest versions that are missing.
    pub missing: Vec<String>,
    /// Tombstones of orders that are live in the store.
    pub resurrected: Vec<String>,
}

/// Runs `orders backup …`.
pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Verify { target, output } => {
            verify(&backend::open(&target).await?.backup_service(), output.output).await
        }
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

async fn verify(backups: &Backups, output: OutputFormat) -> anyhow::Result<()> {
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
    let missing = report.missing.len();
    match output {
        OutputFormat::Json => print_json(&VerifySummary {
            checked: report.checked,
            backed_up: report.checked.saturating_sub(missing as u64),
            missing: report.missing.clone(),
            resurrected: report.resurrected.clone(),
        })?,
        OutputFormat::Text => {
            for key in &report.missing {
                println!("missing: {key}");
            }
            for key in &report.resurrected {
                println!("deleted but live: {key} exists, and the order is in the store");
            }
            println!(
                "checked {} orders: {} backed up at their latest version, {missing} missing",
                report.checked,
                report.checked as usize - missing,
            );
        }
    }
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
