//! The pipeline-gauges port: the health figures of `orders status` that only a backend can read
//! (a queue's messages and its oldest one, executions by status and the running ones past their
//! deadline, the backup writer's backlog, recent stock-outs), as plain facts with their times. The
//! status use case ([`crate::application::status`]) turns them into ages and verdicts against one
//! clock; orders by status come from the order listing's counts, not from here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{QueueError, QueueName, StoreError, WorkflowError};

/// What a backend knows of a queue's oldest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldestMessage {
    /// The queue holds no message.
    Empty,
    /// The oldest message was first sent then.
    SentAt(DateTime<Utc>),
    /// The backend cannot tell without receiving messages (SQS: a receive counts towards the
    /// message's `maxReceiveCount`, so a status read never receives).
    Unknown,
}

/// One queue's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueGauge {
    /// Messages held, visible or in flight (as [`MessageQueue::depth`](super::MessageQueue::depth)).
    pub messages: u64,
    /// Of those, received and not yet visible again.
    pub in_flight: u64,
    /// The oldest message.
    pub oldest: OldestMessage,
}

/// Executions counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ExecutionCounts {
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
}

/// A running execution whose deadline has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueExecution {
    /// Its ARN.
    pub execution_arn: String,
    /// When its engine should have acted on it.
    pub deadline: DateTime<Utc>,
}

/// The order workflow's executions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionGauge {
    /// How many executions the engine keeps, by status.
    pub counts: ExecutionCounts,
    /// False when the engine's listing was cut short and the counts are lower bounds.
    pub counts_complete: bool,
    /// How many running executions have a deadline before the time asked about.
    pub overdue: u64,
    /// The first of them by deadline, at most as many as asked for.
    pub overdue_examples: Vec<OverdueExecution>,
}

/// Order changes the backup writer (the change-feed consumer that writes every order version to
/// the backup store) has not processed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupBacklog {
    /// How many changes are behind the consumer's position.
    pub pending_changes: u64,
    /// When the oldest of them was made; `None` when there is none.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// Why a gauge could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GaugeError {
    /// The store under the gauge failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The workflow engine failed.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The metrics store failed (CloudWatch, on AWS).
    #[error("cannot read the metrics: {0}")]
    Metrics(String),
}

/// The figures of the pipeline's health a backend reads.
#[async_trait]
pub trait PipelineGauges: Send + Sync {
    /// The figures of `queue`.
    async fn queue(&self, queue: QueueName) -> Result<QueueGauge, GaugeError>;

    /// Executions by status, and the running ones whose deadline is before `overdue_before` (with
    /// up to `examples` of them, earliest deadline first). A running execution's deadline is the
    /// latest time its engine must act on it: for the embedded executor its next wake-up (a wait,
    /// a retry, a task's timeout or heartbeat, or the execution's own timeout), which `orders serve`
    /// acts on as it comes; on Step Functions its start plus the definition's `TimeoutSeconds`.
    async fn executions(&self, overdue_before: DateTime<Utc>, examples: usize) -> Result<ExecutionGauge, GaugeError>;

    /// The backup writer's backlog, where the backend can read it (`None`: on AWS the change feed
    /// is the orders table's stream, whose iterator age only CloudWatch reports).
    async fn backup_backlog(&self) -> Result<Option<BackupBacklog>, GaugeError>;

    /// How many stock reservations were refused for want of stock since `since`, where the store
    /// records when a refusal happened or the backend keeps the `stock_outs` metric (`None`:
    /// neither).
    async fn stock_outs_since(&self, since: DateTime<Utc>) -> Result<Option<u64>, GaugeError>;

    /// The longest backup lag the backup writers measured since `since` (the `backup_lag_seconds`
    /// metric), where the backend keeps its metrics (CloudWatch); `None` where it does not (the
    /// embedded store reads its backlog instead) or nothing was backed up since.
    async fn measured_backup_lag(&self, since: DateTime<Utc>) -> Result<Option<u64>, GaugeError>;
}
