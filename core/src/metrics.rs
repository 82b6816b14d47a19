//! What the pipeline counts: each metric's name, unit and labels, defined once here and recorded
//! through the `metrics` facade by the use cases where the event happens. Which exporter sees them
//! is the runner's choice: CloudWatch Embedded Metric Format lines in the Lambda functions
//! (`lambda::telemetry`), Prometheus text at `GET /metrics` in `orders serve`. With no exporter
//! installed (the operator commands, most tests) recording is a no-op.
//!
//! Labels are few and bounded (an outcome, a reason, a queue), never an order or customer id: in
//! CloudWatch each label is a dimension, and each distinct set of values a metric of its own.
//! Queues and streams deliver at least once, so a redelivered message can count twice; the
//! figures are for dashboards and alarms, not for accounting.

use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use crate::domain::ProcessingFailure;
use crate::ports::QueueName;

/// The CloudWatch namespace of the metrics when no deployment names one.
pub const NAMESPACE: &str = "OrderPipeline";

/// The CloudWatch namespace of the deployment `name` (a stack, or `orders setup`'s prefix): the
/// template gives each stack its own, so two stacks in one account do not mix their figures.
pub fn namespace_of(deployment: &str) -> String {
    format!("{NAMESPACE}/{deployment}")
}

/// New orders stored (through the API or an import; a repeated request is not counted).
pub const ORDERS_CREATED: &str = "orders_created";
/// Import entries, by `outcome` (`accepted`: its order exists; `refused`: parked for good).
pub const IMPORT_ENTRIES: &str = "import_entries";
/// Orders that failed, by `reason` ([`FailureKind`]).
pub const ORDERS_FAILED: &str = "orders_failed";
/// Orders a client cancelled.
pub const ORDERS_CANCELLED: &str = "orders_cancelled";
/// Orders a client marked delivered.
pub const ORDERS_DELIVERED: &str = "orders_delivered";
/// Stock reservations refused because a product had too little stock (one per refusal).
pub const STOCK_OUTS: &str = "stock_outs";
/// Messages parked in a dead-letter queue, by `queue` (the queue they could not be processed from).
pub const DLQ_MESSAGES_PARKED: &str = "dlq_messages_parked";
/// Replayed dead letters received again by their queue's handler, by `queue`.
pub const DLQ_REPLAYS: &str = "dlq_replays";
/// Seconds from an order's change to its backup being written.
pub const BACKUP_LAG_SECONDS: &str = "backup_lag_seconds";
/// Seconds the merchant's fulfilment took to answer a hand-off.
pub const WEBHOOK_HANDOFF_SECONDS: &str = "webhook_handoff_seconds";
/// Hand-offs to the merchant's fulfilment, by `outcome` (`accepted`, `refused`, `failed`).
pub const WEBHOOK_HANDOFFS: &str = "webhook_handoffs";
/// First invocations of a Lambda execution environment.
pub const COLD_STARTS: &str = "cold_starts";

/// Registers each metric's unit and description with the installed exporter (EMF reads the unit;
/// Prometheus prints the description as `# HELP`). Call once, after installing it.
pub fn describe() {
    describe_counter!(ORDERS_CREATED, Unit::Count, "New orders stored (API and imports)");
    describe_counter!(IMPORT_ENTRIES, Unit::Count, "Import entries by outcome (accepted, refused)");
    describe_counter!(ORDERS_FAILED, Unit::Count, "Orders that failed, by reason");
    describe_counter!(ORDERS_CANCELLED, Unit::Count, "Orders cancelled by a client");
    describe_counter!(ORDERS_DELIVERED, Unit::Count, "Orders marked delivered");
    describe_counter!(STOCK_OUTS, Unit::Count, "Stock reservations refused for lack of stock");
    describe_counter!(DLQ_MESSAGES_PARKED, Unit::Count, "Messages parked in a dead-letter queue, by source queue");
    describe_counter!(DLQ_REPLAYS, Unit::Count, "Replayed dead letters received again, by queue");
    describe_histogram!(BACKUP_LAG_SECONDS, Unit::Seconds, "Time from an order's change to its backup");
    describe_histogram!(WEBHOOK_HANDOFF_SECONDS, Unit::Seconds, "Time the fulfilment webhook took to answer");
    describe_counter!(WEBHOOK_HANDOFFS, Unit::Count, "Hand-offs to the fulfilment webhook, by outcome");
    describe_counter!(COLD_STARTS, Unit::Count, "First invocations of a Lambda execution environment");
}

/// Why an order failed, as the `reason` label of [`ORDERS_FAILED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Not enough stock for one of its lines.
    OutOfStock,
    /// The merchant's fulfilment refused it.
    FulfilmentRefused,
    /// Its hand-off did not go through in time.
    HandOffTimedOut,
    /// A client marked it failed.
    Client,
}

impl FailureKind {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::OutOfStock => "out_of_stock",
            FailureKind::FulfilmentRefused => "fulfilment_refused",
            FailureKind::HandOffTimedOut => "handoff_timed_out",
            FailureKind::Client => "client",
        }
    }
}

impl From<&ProcessingFailure> for FailureKind {
    fn from(failure: &ProcessingFailure) -> Self {
        match failure {
            ProcessingFailure::OutOfStock(_) => FailureKind::OutOfStock,
            ProcessingFailure::FulfilmentRefused(_) => FailureKind::FulfilmentRefused,
            ProcessingFailure::HandOffTimedOut => FailureKind::HandOffTimedOut,
        }
    }
}

/// How a hand-off to the merchant's fulfilment ended, as the `outcome` label of [`WEBHOOK_HANDOFFS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffOutcome {
    /// The merchant took the order.
    Accepted,
    /// The merchant refused it for good.
    Refused,
    /// No answer that counts (unreachable, timed out, a server error): retried.
    Failed,
}

impl HandOffOutcome {
    const fn as_str(self) -> &'static str {
        match self {
            HandOffOutcome::Accepted => "accepted",
            HandOffOutcome::Refused => "refused",
            HandOffOutcome::Failed => "failed",
        }
    }
}

/// A new order was stored.
pub fn order_created() {
    counter!(ORDERS_CREATED).increment(1);
}

/// An import entry's order exists (`accepted`) or it was refused for good.
pub fn import_entry(accepted: bool) {
    counter!(IMPORT_ENTRIES, "outcome" => if accepted { "accepted" } else { "refused" }).increment(1);
}

/// An order failed for `reason`.
pub fn order_failed(reason: FailureKind) {
    counter!(ORDERS_FAILED, "reason" => reason.as_str()).increment(1);
}

/// A client cancelled an order.
pub fn order_cancelled() {
    counter!(ORDERS_CANCELLED).increment(1);
}

/// An order was marked delivered.
pub fn order_delivered() {
    counter!(ORDERS_DELIVERED).increment(1);
}

/// A reservation was refused for lack of stock.
pub fn stock_out() {
    counter!(STOCK_OUTS).increment(1);
}

/// A message from `queue` was parked in its dead-letter queue.
pub fn message_parked(queue: QueueName) {
    counter!(DLQ_MESSAGES_PARKED, "queue" => queue.as_str()).increment(1);
}

/// A replayed dead letter reached `queue`'s handler again.
pub fn message_replayed(queue: QueueName) {
    counter!(DLQ_REPLAYS, "queue" => queue.as_str()).increment(1);
}

/// A backup of a change made at `changed_at` was written now.
pub fn backup_written(changed_at: DateTime<Utc>) {
    let lag = (Utc::now() - changed_at).to_std().unwrap_or(Duration::ZERO);
    histogram!(BACKUP_LAG_SECONDS).record(lag.as_secs_f64());
}

/// A hand-off ended with `outcome` after `took`.
pub fn hand_off(outcome: HandOffOutcome, took: Duration) {
    histogram!(WEBHOOK_HANDOFF_SECONDS).record(took.as_secs_f64());
    counter!(WEBHOOK_HANDOFFS, "outcome" => outcome.as_str()).increment(1);
}

/// This Lambda execution environment got its first invocation.
pub fn cold_start() {
    counter!(COLD_STARTS).increment(1);
}
