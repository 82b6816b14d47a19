//! The reactions to an order change, one change at a time in commit order (the change stream keeps
//! each order's changes in order):
//!
//! - a new pending order gets its workflow execution started (idempotent by name: the create
//!   request usually started it already; this guarantees it when that start failed);
//! - every new version becomes a backup job, and a deletion a tombstone job;
//! - a status change the store's listing has not followed (on AWS the workflow writes statuses
//!   directly) refreshes the listing;
//! - a change that can end a workflow's wait on the order (its status moved, or a new wait was
//!   stored) answers that workflow's task token; a delivery whose own write did not consume the
//!   order's reserved stock (the store could not fit it in) has it consumed first, once.
//!
//! Every step is idempotent, so a change delivered again (after a failure, or by the stream's
//! at-least-once delivery) changes nothing twice.

use std::sync::Arc;

use serde_json::json;

use super::messages::BackupJob;
use super::workflow_tasks::{TaskAnswers, settled};
use super::{StepError, ensure_order_workflow};
use crate::domain::order::rfc3339;
use crate::domain::{OrderStatus, OrderStopped, WaitOutcome};
use crate::ports::{
    ChangeImages, MessageQueue, OrderImage, OrderStore, OutgoingMessage, QueueName, StockLedger, TaskCallbacks,
    WorkflowEngine, WorkflowError,
};

/// Reacts to order changes.
#[derive(Clone)]
pub struct ChangeReactions {
    orders: Arc<dyn OrderStore>,
    queues: Arc<dyn MessageQueue>,
    stock: Arc<dyn StockLedger>,
    tasks: TaskAnswers,
    workflow: Arc<dyn WorkflowEngine>,
}

impl ChangeReactions {
    /// Reactions that refresh listings in `orders`, send backup jobs to `queues`, start new orders'
    /// executions on `workflow`, consume delivered orders' `stock` and answer waits through
    /// `callbacks`.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        queues: Arc<dyn MessageQueue>,
        stock: Arc<dyn StockLedger>,
        callbacks: Arc<dyn TaskCallbacks>,
        workflow: Arc<dyn WorkflowEngine>,
    ) -> Self {
        let tasks = TaskAnswers::new(callbacks);
        ChangeReactions { orders, queues, stock, tasks, workflow }
    }

    /// Reacts to one change. Starting the workflow comes before the backup job: on a failure the
    /// change comes again, and each step is idempotent.
    pub async fn react(&self, change: &ChangeImages) -> Result<(), StepError> {
        let (old, new) = (change.old.as_ref(), change.new.as_ref());
        if old.is_none() && new.is_none() {
            return Err(StepError::Malformed("a change without images".into()));
        }
        if let (None, Some(created)) = (old, new)
            && created.order.status == OrderStatus::Pending
        {
            self.start_workflow(created).await?;
        }
        if let Some(job) = backup_job(change) {
            self.send_backup_job(&job).await?;
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
        match ensure_order_workflow(self.workflow.as_ref(), order_id).await {
            Ok(()) => Ok(()),
            // Only the same name with another input: not this order's workflow to fix here.
            Err(WorkflowError::AlreadyExists(name)) => {
                tracing::error!(%order_id, execution = %name, "an execution of this name exists with another input");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn send_backup_job(&self, job: &BackupJob) -> Result<(), StepError> {
        let (order_id, version) = match job {
            BackupJob::Version { order, .. } => (order.order_id, order.version),
            BackupJob::Tombstone { order_id, last_version, .. } => (*order_id, *last_version),
        };
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
                if wait.status == OrderStatus::Delivered && !new.stock_consumed {
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
