//! `orders dlq list|peek|replay`: the operator's view of the dead-letter queues. Peeking releases
//! what it looked at at once, so workers and other operators see the messages again. Replay sends
//! each message back to its source queue *before* deleting it from the DLQ: an interrupted replay
//! can leave a message in both (the handlers are idempotent), never in neither.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use orders_core::lambda::dead_letters::REPLAYED_FROM;
use orders_core::ports::{OutgoingMessage, QueueName, ReceivedMessage};

use orders_core::wiring::Ports;

use crate::backend;
use crate::config::{DlqCommand, TargetArgs};

fn dead_letter_queue(name: &str) -> anyhow::Result<QueueName> {
    let queue: QueueName = name.parse().map_err(anyhow::Error::msg)?;
    match (queue.dead_letter_queue(), queue.source_queue()) {
        (Some(dlq), _) => Ok(dlq),
        (None, Some(_)) => Ok(queue),
        (None, None) => bail!("{queue} is not a dead-letter queue"),
    }
}

fn describe(message: &ReceivedMessage) -> String {
    let reason =
        message.attributes.get("reason").cloned().unwrap_or_else(|| {
            format!("failed {} deliveries (the worker's log has each error)", message.receive_count)
        });
    let age = Utc::now().signed_duration_since(message.sent_at);
    let mut text = format!(
        "message {}\n  sent:          {} ({} min ago)\n  receive count: {} (looking at a message counts too)\n  reason:        {reason}\n",
        message.message_id,
        orders_core::domain::order::rfc3339::format(&message.sent_at),
        age.num_minutes(),
        message.receive_count
    );
    for (name, value) in message.attributes.iter().filter(|(name, _)| name.as_str() != "reason") {
        text.push_str(&format!("  {name}: {value}\n"));
    }
    text.push_str(&format!("  body: {}\n", message.body));
    text
}

/// Receives up to `max` distinct messages and releases them at once.
async fn look(backend: &Ports, queue: QueueName, max: usize) -> anyhow::Result<Vec<ReceivedMessage>> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    while found.len() < max {
        let batch = backend.queues.receive(queue, (max - found.len()).min(10)).await?;
        let mut new = false;
        for message in batch {
            backend.queues.release(queue, &message.receipt_handle).await?;
            if seen.insert(message.message_id.clone()) {
                new = true;
                found.push(message);
            }
        }
        if !new {
            break;
        }
    }
    Ok(found)
}

/// Runs `orders dlq …`.
pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { target } => list(&target).await,
        DlqCommand::Peek { queue, max, target } => {
            let queue = dead_letter_queue(&queue)?;
            let backend = backend::open(&target).await?;
            let messages = look(&backend, queue, max).await?;
            println!("{queue}: {} messages in all, showing {}", backend.queues.depth(queue).await?, messages.len());
            for message in &messages {
                print!("{}", describe(message));
            }
            Ok(())
        }
        DlqCommand::Replay { queue, filter, rate, max, dry_run, target } => {
            let dlq = dead_letter_queue(&queue)?;
            replay(&backend::open(&target).await?, dlq, filter.as_deref(), rate, max, dry_run).await
        }
    }
}

async fn list(target: &TargetArgs) -> anyhow::Result<()> {
    let backend = backend::open(target).await?;
    println!("{:<16} {:>9}  oldest", "queue", "messages");
    for queue in QueueName::ALL.into_iter().filter(|q| q.source_queue().is_some()) {
        let depth = backend.queues.depth(queue).await?;
        let oldest = if depth == 0 {
            "-".to_owned()
        } else {
            let sample = look(&backend, queue, 10).await?;
            sample
                .iter()
                .map(|m| m.sent_at)
                .min()
                .map(|at| format!("{} min", Utc::now().signed_duration_since(at).num_minutes()))
                .unwrap_or_else(|| "in flight".to_owned())
        };
        println!("{:<16} {depth:>9}  {oldest}", queue.as_str());
    }
    Ok(())
}

async fn replay(
    backend: &Ports,
    dlq: QueueName,
    filter: Option<&str>,
    rate: f64,
    max: Option<usize>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let source = dlq.source_queue().context("not a dead-letter queue")?;
    anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be more than 0");
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let total = backend.queues.depth(dlq).await?;
    let progress = ProgressBar::new(max.map_or(total, |m| (m as u64).min(total))).with_style(
        ProgressStyle::with_template("{spinner} replaying {pos}/{len} [{bar:30}] {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let matches = |message: &ReceivedMessage| {
        filter.is_none_or(|text| {
            message.body.contains(text) || message.attributes.iter().any(|(k, v)| k.contains(text) || v.contains(text))
        })
    };
    let (mut replayed, mut skipped) = (0usize, 0usize);
    let mut seen = HashSet::new();
    loop {
        let batch = backend.queues.receive(dlq, 10).await?;
        if batch.is_empty() || batch.iter().all(|m| seen.contains(&m.message_id)) {
            for message in &batch {
                backend.queues.release(dlq, &message.receipt_handle).await?;
            }
            break;
        }
        for message in batch {
            let first_time = seen.insert(message.message_id.clone());
            let wanted = first_time && matches(&message) && max.is_none_or(|max| replayed < max);
            if !wanted || dry_run {
                if wanted {
                    print!("would replay to {source}:\n{}", describe(&message));
                    replayed += 1;
                } else if first_time {
                    skipped += 1;
                }
                backend.queues.release(dlq, &message.receipt_handle).await?;
                continue;
            }
            pace.tick().await;
            // Send first, then delete: an interruption between the two duplicates, never loses.
            let mut attributes = message.attributes.clone();
            attributes.insert(REPLAYED_FROM.to_owned(), dlq.as_str().to_owned());
            let outgoing = OutgoingMessage { body: message.body.clone(), attributes };
            backend.queues.send(source, outgoing).await.context("cannot send back to the source queue")?;
            backend.queues.delete(dlq, &message.receipt_handle).await?;
            replayed += 1;
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let verb = if dry_run { "would replay" } else { "replayed" };
    println!("{verb} {replayed} messages from {dlq} to {source}; {skipped} left in {dlq}");
    // What this run released is visible again; anything still hidden was received by someone else
    // (an interrupted replay, a peek in progress) and reappears only after its visibility timeout:
    // the queue only looked empty, so say so and fail rather than report it done.
    let in_flight = backend.queues.in_flight(dlq).await?;
    if in_flight > 0 {
        bail!(
            "{in_flight} more messages are in flight in {dlq}: received by another (or an interrupted) \
             run and hidden until their visibility timeout ends (--visibility-timeout, 30 s by default); \
             run the replay again after that"
        );
    }
    Ok(())
}
