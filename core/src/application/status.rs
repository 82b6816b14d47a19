//! The pipeline's health on one screen (`orders status`): orders by status from the order
//! listing's counts, and the backend's gauges ([`PipelineGauges`]) turned into ages and verdicts
//! against one clock. The rules live here once: a message's or a change's age is `observed_at`
//! minus its time; a running execution is overdue once its deadline is more than
//! [`OVERDUE_GRACE`] past; the backup lag is the age of the oldest order change or backup job not
//! yet written to the backup store, or where that backlog cannot be read the longest lag measured
//! in the last [`MEASURED_LAG_WINDOW`]; stock-outs count the last [`STOCK_OUT_WINDOW`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::OrderStatus;
use crate::ports::{
    ExecutionCounts, GaugeError, ListFilter, ListRequest, OldestMessage, OrderStore, PagePosition, PipelineGauges,
    QueueName, StoreError,
};

/// How long past its deadline a running execution may be before it counts as overdue: the
/// executor of a running `orders serve` acts on a deadline within moments, so only a stopped or
/// stuck engine leaves one this late.
pub const OVERDUE_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// How far back stock-outs are counted.
pub const STOCK_OUT_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// How far back the measured backup lag is read where the backlog itself cannot be (AWS): three
/// of the backup-lag alarm's periods.
pub const MEASURED_LAG_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// At most this many overdue executions are named (all are counted).
pub const OVERDUE_EXAMPLES: usize = 10;

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Counting the orders failed.
    #[error("cannot count the orders: {0}")]
    Orders(#[from] StoreError),
    /// A gauge of the backend failed.
    #[error("cannot read the pipeline's gauges: {0}")]
    Gauges(#[from] GaugeError),
}

/// The pipeline's health at one moment (the JSON of `orders status --output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineStatus {
    /// When it was read (RFC 3339, UTC); every age is counted from here.
    #[serde(with = "crate::domain::order::rfc3339")]
    pub observed_at: DateTime<Utc>,
    /// Orders by status.
    pub orders: OrderCounts,
    /// Each work queue, with its dead-letter queue.
    pub queues: Vec<WorkQueueStatus>,
    /// The order workflow's executions.
    pub executions: ExecutionsStatus,
    /// How far the backups are behind.
    pub backup: BackupStatus,
    /// Stock reservations refused for want of stock in the last hour; `null` where the backend does
    /// not record when a refusal happened (AWS).
    pub stock_outs_last_hour: Option<u64>,
}

/// Orders by status, and their total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub struct OrderCounts {
    pub total: u64,
    pub pending: u64,
    pub processing: u64,
    pub shipped: u64,
    pub delivered: u64,
    pub cancelled: u64,
    pub failed: u64,
}

/// One queue's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    /// Its name (`backup`, `backup-dlq`, …).
    pub name: &'static str,
    /// Messages held, visible or in flight.
    pub messages: u64,
    /// Of those, received and hidden until their visibility timeout ends.
    pub in_flight: u64,
    /// Whole seconds since the oldest message was first sent; `0` when the queue is empty; `null`
    /// when the backend cannot tell (AWS: only CloudWatch reports it).
    pub oldest_message_age_seconds: Option<u64>,
}

/// A work queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkQueueStatus {
    /// The work queue.
    #[serde(flatten)]
    pub queue: QueueStatus,
    /// Where its messages go after failing too often.
    pub dead_letter_queue: QueueStatus,
}

/// Executions by status (the Step Functions names) and the overdue running ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionsStatus {
    /// How many executions the engine keeps, by status.
    pub by_status: ExecutionsByStatus,
    /// False when the engine's listing was cut short (AWS, over 10,000 in one status): the counts
    /// are then lower bounds.
    pub counts_complete: bool,
    /// Running executions more than a minute past their deadline.
    pub overdue: u64,
    /// The first of them (at most 10), earliest deadline first.
    pub overdue_examples: Vec<OverdueStatus>,
}

/// Executions by status, named as Step Functions names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub struct ExecutionsByStatus {
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
}

impl From<ExecutionCounts> for ExecutionsByStatus {
    fn from(c: ExecutionCounts) -> Self {
        ExecutionsByStatus {
            running: c.running,
            succeeded: c.succeeded,
            failed: c.failed,
            timed_out: c.timed_out,
            aborted: c.aborted,
        }
    }
}

/// A running execution past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueStatus {
    /// Its ARN.
    pub execution_arn: String,
    /// When its engine should have acted on it (RFC 3339, UTC).
    #[serde(with = "crate::domain::order::rfc3339")]
    pub deadline: DateTime<Utc>,
    /// Whole seconds since then.
    pub overdue_seconds: u64,
}

/// How far the backups are behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupStatus {
    /// Whole seconds since the oldest order change or backup job not yet in the backup store was
    /// made, `0` when nothing waits (embedded); on AWS, where that backlog cannot be read, the
    /// longest lag the stream and backup functions measured in the last 15 minutes
    /// (`backup_lag_seconds` in CloudWatch); `null` when neither is known.
    pub lag_seconds: Option<u64>,
    /// Order changes the backup writer has not processed yet; `null` where that cannot be read.
    pub pending_changes: Option<u64>,
    /// Backup jobs waiting in the backup queue (writes the stream processor handed on).
    pub queued_jobs: u64,
    /// Backup jobs parked in the backup dead-letter queue.
    pub dead_letters: u64,
}

/// Whole seconds from `then` to `now`, never negative.
fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    (now - then).num_seconds().max(0) as u64
}

fn oldest_age(now: DateTime<Utc>, oldest: OldestMessage) -> Option<u64> {
    match oldest {
        OldestMessage::Empty => Some(0),
        OldestMessage::SentAt(at) => Some(age(now, at)),
        OldestMessage::Unknown => None,
    }
}

/// Reads the pipeline's health.
#[derive(Clone)]
pub struct PipelineHealth {
    orders: Arc<dyn OrderStore>,
    gauges: Arc<dyn PipelineGauges>,
}

impl PipelineHealth {
    /// Over the order store (for the counts) and the backend's gauges.
    pub fn new(orders: Arc<dyn OrderStore>, gauges: Arc<dyn PipelineGauges>) -> Self {
        PipelineHealth { orders, gauges }
    }

    async fn count(&self, status: Option<OrderStatus>) -> Result<u64, StoreError> {
        let request = ListRequest {
            filter: ListFilter { status, customer_id: None },
            limit: 1,
            position: PagePosition::Number(1),
        };
        Ok(self.orders.list_orders(&request).await?.total)
    }

    async fn queue(&self, queue: QueueName, now: DateTime<Utc>) -> Result<QueueStatus, GaugeError> {
        let gauge = self.gauges.queue(queue).await?;
        Ok(QueueStatus {
            name: queue.as_str(),
            messages: gauge.messages,
            in_flight: gauge.in_flight,
            oldest_message_age_seconds: oldest_age(now, gauge.oldest),
        })
    }

    async fn work_queue(
        &self,
        queue: QueueName,
        dead_letter_queue: QueueName,
        now: DateTime<Utc>,
    ) -> Result<WorkQueueStatus, GaugeError> {
        Ok(WorkQueueStatus {
            queue: self.queue(queue, now).await?,
            dead_letter_queue: self.queue(dead_letter_queue, now).await?,
        })
    }

    /// The status as of `now`.
    pub async fn read(&self, now: DateTime<Utc>) -> Result<PipelineStatus, StatusError> {
        let mut orders = OrderCounts { total: self.count(None).await?, ..OrderCounts::default() };
        for status in OrderStatus::ALL {
            let n = self.count(Some(status)).await?;
            *match status {
                OrderStatus::Pending => &mut orders.pending,
                OrderStatus::Processing => &mut orders.processing,
                OrderStatus::Shipped => &mut orders.shipped,
                OrderStatus::Delivered => &mut orders.delivered,
                OrderStatus::Cancelled => &mut orders.cancelled,
                OrderStatus::Failed => &mut orders.failed,
            } = n;
        }

        let backup_queue = self.work_queue(QueueName::Backup, QueueName::BackupDlq, now).await?;
        let queues = vec![
            backup_queue.clone(),
            self.work_queue(QueueName::Fulfilment, QueueName::FulfilmentDlq, now).await?,
            self.work_queue(QueueName::Import, QueueName::ImportDlq, now).await?,
        ];

        let gauge = self.gauges.executions(now - OVERDUE_GRACE, OVERDUE_EXAMPLES).await?;
        let executions = ExecutionsStatus {
            by_status: gauge.counts.into(),
            counts_complete: gauge.counts_complete,
            overdue: gauge.overdue,
            overdue_examples: gauge
                .overdue_examples
                .into_iter()
                .map(|e| OverdueStatus {
                    overdue_seconds: age(now, e.deadline),
                    execution_arn: e.execution_arn,
                    deadline: e.deadline,
                })
                .collect(),
        };

        let backlog = self.gauges.backup_backlog().await?;
        // The lag is known only when both halves are: the changes not yet processed, and the jobs
        // handed on to the backup queue.
        let lag_seconds = match (backlog, backup_queue.queue.oldest_message_age_seconds) {
            (Some(backlog), Some(oldest_job)) => {
                Some(backlog.oldest_pending_at.map_or(0, |at| age(now, at)).max(oldest_job))
            }
            // Where the backlog cannot be read (AWS), the longest lag the writers measured lately.
            _ => self.gauges.measured_backup_lag(now - MEASURED_LAG_WINDOW).await?,
        };
        let backup = BackupStatus {
            lag_seconds,
            pending_changes: backlog.map(|b| b.pending_changes),
            queued_jobs: backup_queue.queue.messages,
            dead_letters: backup_queue.dead_letter_queue.messages,
        };

        let stock_outs_last_hour = self.gauges.stock_outs_since(now - STOCK_OUT_WINDOW).await?;
        Ok(PipelineStatus { observed_at: now, orders, queues, executions, backup, stock_outs_last_hour })
    }
}
