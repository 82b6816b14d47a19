//! `orders status`: the pipeline's health on one screen, on the embedded data dir or on AWS. The
//! figures and their rules are the status use case's
//! ([`PipelineHealth`](orders_core::application::PipelineHealth)); this module only prints them,
//! as text or as the use case's JSON.

use anyhow::Context;
use chrono::Utc;
use orders_core::application::PipelineStatus;
use orders_core::application::status::QueueStatus;
use orders_core::domain::order::rfc3339;

use crate::backend;
use crate::config::{OutputFormat, TargetArgs};
use crate::output::print_json;

/// Runs `orders status`.
pub async fn run(target: TargetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let backend = backend::open(&target).await?;
    let status = backend.pipeline_health().read(Utc::now()).await.context("cannot read the pipeline's status")?;
    match output {
        OutputFormat::Json => print_json(&status),
        OutputFormat::Text => {
            print!("{}", render(&status));
            Ok(())
        }
    }
}

fn seconds(value: Option<u64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |s| format!("{s} s"))
}

fn queue_line(queue: &QueueStatus) -> String {
    format!(
        "  {:<16} {:>9} {:>10}  {}\n",
        queue.name,
        queue.messages,
        queue.in_flight,
        if queue.messages == 0 { "-".to_owned() } else { seconds(queue.oldest_message_age_seconds) }
    )
}

/// The status as text.
pub fn render(status: &PipelineStatus) -> String {
    let o = &status.orders;
    let e = &status.executions;
    let mut text = format!("pipeline status at {}\n", rfc3339::format(&status.observed_at));
    text.push_str(&format!(
        "orders        {} in all: pending {}, processing {}, shipped {}, delivered {}, cancelled {}, failed {}\n",
        o.total, o.pending, o.processing, o.shipped, o.delivered, o.cancelled, o.failed
    ));
    text.push_str(&format!("queues        {:<16} {:>9} {:>10}  oldest\n", "", "messages", "in flight"));
    for queue in &status.queues {
        text.push_str(&queue_line(&queue.queue));
        text.push_str(&queue_line(&queue.dead_letter_queue));
    }
    let b = &e.by_status;
    text.push_str(&format!(
        "executions    {}RUNNING {}, SUCCEEDED {}, FAILED {}, TIMED_OUT {}, ABORTED {}\n",
        if e.counts_complete { "" } else { "at least: " },
        b.running,
        b.succeeded,
        b.failed,
        b.timed_out,
        b.aborted
    ));
    text.push_str(&format!("  running past their deadline: {}\n", e.overdue));
    for overdue in &e.overdue_examples {
        text.push_str(&format!(
            "    {} (deadline {}, {} s ago)\n",
            overdue.execution_arn,
            rfc3339::format(&overdue.deadline),
            overdue.overdue_seconds
        ));
    }
    let backup = &status.backup;
    text.push_str(&format!(
        "backups       lag {}, changes not yet processed {}, jobs queued {}, dead letters {}\n",
        seconds(backup.lag_seconds),
        backup.pending_changes.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        backup.queued_jobs,
        backup.dead_letters
    ));
    text.push_str(&format!(
        "stock-outs    {} in the last hour\n",
        status.stock_outs_last_hour.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
    ));
    text
}
