//! The reactions to an order change, one change at a time in commit order (the change stream keeps
//! each order's changes in order):
//!
//! - a new pending order whose workflow execution its create did not start (the embedded default
//!   never does, [`WorkflowStart::FromChangeFeed`](super::WorkflowStart); on AWS when the start
//!   failed; the order notes whether it did) gets it started here (idempotent by name);
//! - every new version is backed up, and a deletion gets its tombstone: written here through the
//!   [`Backups::keep`] use case (one request per version), and only when that write fails sent as a
//!   job to the backup queue, whose worker retries it (and whose DLQ keeps what keeps failing); a
//!   change whose backup can be neither written nor queued fails, so the change comes again;
//! - a status change the store's listing has not followed (on AWS the workflow writes statuses
//!   directly) refreshes the listing;
//! - a change that can end a workflow's wait on the order (its status moved, or a new wait was
//!   stored) answers that workflow's task token; a delivery whose own write did not consume the
//!   order's reserved stock (the store could not fit it in) has it consumed first, once.
//!
//! Every step is idempotent, so a change delivered again (after a failure, or by the stream's
//! at-least-once delivery) changes nothing twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::Instrument;

use super::backups::Backups;
use super::messages::BackupJob;
use super::workflow_tasks::{TaskAnswers, settled};
use super::{StepError, ensure_order_workflow};
use crate::domain::order::rfc3339;
use crate::domain::{OrderId, OrderStatus, OrderStopped, WaitOutcome};
use crate::ports::{
    ChangeImages, MessageQueue, OrderImage, OrderStore, OutgoingMessage, QueueName, StockLedger, TaskCallbacks,
    WorkflowEngine, WorkflowError,
};

/// Reacts to order changes.
#[derive(Clone)]
pub struct ChangeReactions {
    orders: Arc<dyn OrderStore>,
    queues: Arc<dyn MessageQueue>,
    backups: Backups,
    /// Until when backups go straight to the backup queue (set by a failed write).
    backups_paused_until: Arc<Mutex<Option<Instant>>>,
    stock: Arc<dyn StockLedger>,
    tasks: TaskAnswers,
    workflow: Arc<dyn WorkflowEngine>,
}

/// How long a change waits for its backup write (the use case's retries included) before leaving
/// the job to the backup queue: a slow backup store must not hold up workflow starts and answers.
const BACKUP_WRITE_BUDGET: Duration = Duration::from_secs(5);

/// After a backup write failed, how long the following jobs go straight to the backup queue: in an
/// outage of the backup store each change costs one queue send, as before, instead of a write's
/// retries (a stream batch of 100 changes must stay well within the function's timeout).
const BACKUP_PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(60);

impl ChangeReactions {
    /// Reactions that refresh listings in `orders`, keep backups through `backups` (sending the jobs
    /// it fails to `queues`' backup queue), start new orders' executions on `workflow`, consume
    /// delivered orders' `stock` and answer waits through `callbacks`.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        queues: Arc<dyn MessageQueue>,
        backups: Backups,
        stock: Arc<dyn StockLedger>,
        callbacks: Arc<dyn TaskCallbacks>,
        workflow: Arc<dyn WorkflowEngine>,
    ) -> Self {
        let tasks = TaskAnswers::new(callbacks);
        let backups_paused_until = Arc::new(Mutex::new(None));
        ChangeReactions { orders, queues, backups, backups_paused_until, stock, tasks, workflow }
    }

    /// Reacts to one change, in a span naming the order, its version and its execution (what every
    /// log line of the reaction is about).
    pub async fn react(&self, change: &ChangeImages) -> Result<(), StepError> {
        let span = match change.new.as_ref().or(change.old.as_ref()) {
            Some(image) => tracing::info_span!(
                "order_change",
                order_id = %image.order.order_id,
                version = image.order.version,
                execution_arn = image.order.execution_arn.as_deref().unwrap_or_default(),
                correlation_id = image.order.correlation_id.as_deref().unwrap_or_default(),
            ),
            None => tracing::Span::none(),
        };
        self.react_to(change).instrument(span).await
    }

    /// Starting the workflow comes before the backup: on a failure the change comes again, and
    /// each step is idempotent.
    async fn react_to(&self, change: &ChangeImages) -> Result<(), StepError> {
        let (old, new) = (change.old.as_ref(), change.new.as_ref());
        if old.is_none() && new.is_none() {
            return Err(StepError::Malformed("a change without images".into()));
        }
        if let (None, Some(created)) = (old, new)
            && created.order.status == OrderStatus::Pending
            && !created.workflow_started
        {
            self.start_workflow(created).await?;
        }
        if let Some(job) = backup_job(change) {
            self.back_up(job).await?;
        }
        if let (Some(old), Some(new)) = (old, new)
            && old.order.status != new.order.status
            && change.listed_status != Some(new.order.status)
        {
            self.orders.refresh_listing(new.order.order_id).await?;
        }
        self.answer_wait(old, new).await
    }

    async fn start_workflow(&self, created: &OrderImage) -> Result<(), StepError> {
        let order_id = created.order.order_id;
        match ensure_order_workflow(self.workflow.as_ref(), &created.order).await {
            Ok(()) => Ok(()),
            // Only the same name with another input: not this order's workflow to fix here.
            Err(WorkflowError::AlreadyExists(name)) => {
                tracing::error!(%order_id, execution = %name, "an execution of this name exists with another input");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Writes the job's backup object; when that fails (after the use case's own retries), or takes
    /// longer than [`BACKUP_WRITE_BUDGET`], or backups are paused after a failure, the job goes to
    /// the backup queue instead, where the backup worker retries it. Only when that send fails too
    /// does the change fail. A job both written and queued (a write that ended after its budget)
    /// is harmless: the worker finds the object there and changes nothing.
    async fn back_up(&self, job: BackupJob) -> Result<(), StepError> {
        if !self.backups_paused() {
            let why = match tokio::time::timeout(BACKUP_WRITE_BUDGET, self.backups.keep(job.clone())).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no answer within {BACKUP_WRITE_BUDGET:?}"),
            };
            let (order_id, version) = job_target(&job);
            tracing::warn!(
                %order_id,
                version,
                reason = %why,
                pause = ?BACKUP_PAUSE_AFTER_FAILURE,
                "backup write failed; the job goes to the backup queue, and so do the next ones for a while"
            );
            self.pause_backups();
        }
        self.send_backup_job(&job).await
    }

    fn backups_paused(&self) -> bool {
        let paused_until = self.backups_paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        paused_until.is_some_and(|until| Instant::now() < until)
    }

    fn pause_backups(&self) {
        let mut paused_until = self.backups_paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *paused_until = Some(Instant::now() + BACKUP_PAUSE_AFTER_FAILURE);
    }

    async fn send_backup_job(&self, job: &BackupJob) -> Result<(), StepError> {
        let (order_id, version) = job_target(job);
        let body = serde_json::to_string(job).map_err(|e| StepError::Malformed(e.to_string()))?;
        let attributes =
            [("order_id".to_owned(), order_id.to_string()), ("version".to_owned(), version.to_string())].into();
        self.queues.send(QueueName::Backup, OutgoingMessage { body, attributes }).await?;
        Ok(())
    }

    /// Answers the workflow waiting on the order, if the change ends its wait.
    async fn answer_wait(&self, old: Option<&OrderImage>, new: Option<&OrderImage>) -> Result<(), StepError> {
        let Some(new) = new else {
            // Deleted: a workflow waiting on it can never go on.
            let Some(old) = old else { return Ok(()) };
            let Some(wait) = &old.awaiting else { return Ok(()) };
            return self.tasks.stop(&wait.task_token, old.order.order_id, OrderStopped::Deleted).await;
        };
        let Some(wait) = &new.awaiting else { return Ok(()) };
        let moved = old.is_none_or(|old| old.order.status != new.order.status || old.awaiting != new.awaiting);
        if !moved {
            return Ok(());
        }
        let order = &new.order;
        match WaitOutcome::of(order.status, wait.status) {
            WaitOutcome::Reached => {
                let mut output = json!({"order_id": order.order_id.to_string(), "status": order.status});
                // The delivery consumes the order's stock in its own write where the store can
                // (`stock_consumed`); else whoever ends the wait for it settles the stock first: the
                // workflow's next step is its end, and a record delivered again consumes nothing
                // twice.
                if wait.status == OrderStatus::Delivered && new.stock_consumed {
                    output["stock"] = json!({"order_id": order.order_id.to_string(), "consumed_by": "delivery"});
                } else if wait.status == OrderStatus::Delivered {
                    let outcome = self.stock.consume(order.order_id).await?;
                    tracing::info!(order_id = %order.order_id, ?outcome, "delivered order's stock consumed");
                    output["stock"] = settled(order.order_id, &outcome);
                }
                tracing::info!(order_id = %order.order_id, status = %order.status, "waking the workflow");
                self.tasks.resume(&wait.task_token, &output).await
            }
            WaitOutcome::Stopped(stopped) => self.tasks.stop(&wait.task_token, order.order_id, stopped).await,
            WaitOutcome::Waiting => Ok(()),
        }
    }
}

/// The order a backup job is for, and its version (the last one, for a tombstone).
fn job_target(job: &BackupJob) -> (OrderId, u64) {
    match job {
        BackupJob::Version { order, .. } => (order.order_id, order.version),
        BackupJob::Tombstone { order_id, last_version, .. } => (*order_id, *last_version),
    }
}

/// The backup a change calls for: a new version of the order, or a tombstone for a deletion. A
/// change that keeps the version (a stored task token) is backed up already.
fn backup_job(change: &ChangeImages) -> Option<BackupJob> {
    match (&change.old, &change.new) {
        (old, Some(new)) if old.as_ref().map(|o| o.order.version) != Some(new.order.version) => {
            Some(BackupJob::version(new.backup()))
        }
        (Some(old), None) => Some(BackupJob::Tombstone {
            order_id: old.order.order_id,
            last_version: old.order.version,
            deleted_at: rfc3339::format(&change.at),
        }),
        _ => None,
    }
}
