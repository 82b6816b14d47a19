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
use serde::Serialize;

use crate::backend;
use crate::config::{DlqCommand, OutputFormat, TargetArgs};
use crate::output::print_json;

/// What `orders dlq list --output json` prints.
#[derive(Debug, Serialize)]
pub struct DlqListing {
    /// Every dead-letter queue.
    pub dead_letter_queues: Vec<DlqSummary>,
}

/// One dead-letter queue in the listing.
#[derive(Debug, Serialize)]
pub struct DlqSummary {
    /// Its name (`backup-dlq`).
    pub name: &'static str,
    /// The queue whose dead letters it holds (`backup`).
    pub source_queue: &'static str,
    /// Messages it holds.
    pub messages: u64,
    /// Whole minutes since its oldest message was first sent; `null` when it is empty or every
    /// message is in flight (received by someone else).
    pub oldest_message_age_minutes: Option<i64>,
}

/// What `orders dlq peek --output json` prints.
#[derive(Debug, Serialize)]
pub struct DlqPeek {
    /// The dead-letter queue.
    pub queue: &'static str,
    /// Messages it holds in all.
    pub messages: u64,
    /// The messages looked at (they stay in the queue).
    pub shown: Vec<PeekedMessage>,
}

/// One message looked at.
#[derive(Debug, Serialize)]
pub struct PeekedMessage {
    /// Its stable id.
    pub message_id: String,
    /// When it was first sent (RFC 3339, UTC).
    #[serde(with = "orders_core::domain::order::rfc3339")]
    pub sent_at: chrono::DateTime<Utc>,
    /// Deliveries so far (looking at it counts too).
    pub receive_count: u32,
    /// Its `reason` attribute, where the worker that gave up on it said why.
    pub reason: Option<String>,
    /// Its string attributes, `reason` included.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Its body, as sent.
    pub body: String,
}

impl From<ReceivedMessage> for PeekedMessage {
    fn from(message: ReceivedMessage) -> Self {
        PeekedMessage {
            reason: message.attributes.get("reason").cloned(),
            message_id: message.message_id,
            sent_at: message.sent_at,
            receive_count: message.receive_count,
            attributes: message.attributes,
            body: message.body,
        }
    }
}

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
        DlqCommand::List { target, output } => list(&target, output.output).await,
        DlqCommand::Peek { queue, max, target, output } => {
            let queue = dead_letter_queue(&queue)?;
            let backend = backend::open(&target).await?;
            let messages = look(&backend, queue, max).await?;
            let depth = backend.queues.depth(queue).await?;
            match output.output {
                OutputFormat::Json => print_json(&DlqPeek {
                    queue: queue.as_str(),
                    messages: depth,
                    shown: messages.into_iter().map(PeekedMessage::from).collect(),
                }),
                OutputFormat::Text => {
                    println!("{queue}: {depth} messages in all, showing {}", messages.len());
                    for message in &messages {
                        print!("{}", describe(message));
                    }
                    Ok(())
                }
            }
        }
        DlqCommand::Replay { queue, filter, rate, max, dry_run, target } => {
            let dlq = dead_letter_queue(&queue)?;
            replay(&backend::open(&target).await?, dlq, filter.as_deref(), rate, max, dry_run).await
        }
    }
}

async fn list(target: &TargetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let backend = backend::open(target).await?;
    let mut listing = DlqListing { dead_letter_queues: Vec::new() };
    for queue in QueueName::ALL {
        let Some(source) = queue.source_queue() else { continue };
        let messages = backend.queues.depth(queue).await?;
        let oldest_message_age_minutes = if messages == 0 {
            None
        } else {
            let sample = look(&backend, queue, 10).await?;
            sample.iter().map(|m| m.sent_at).min().map(|at| Utc::now().signed_duration_since(at).num_minutes())
        };
        listing.dead_letter_queues.push(DlqSummary {
            name: queue.as_str(),
            source_queue: source.as_str(),
            messages,
            oldest_message_age_minutes,
        });
    }
    match output {
        OutputFormat::Json => print_json(&listing),
        OutputFormat::Text => {
            println!("{:<16} {:>9}  oldest", "queue", "messages");
            for dlq in &listing.dead_letter_queues {
                let oldest = match (dlq.messages, dlq.oldest_message_age_minutes) {
                    (0, _) => "-".to_owned(),
                    (_, Some(minutes)) => format!("{minutes} min"),
                    (_, None) => "in flight".to_owned(),
                };
                println!("{:<16} {:>9}  {oldest}", dlq.name, dlq.messages);
            }
            Ok(())
        }
    }
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
