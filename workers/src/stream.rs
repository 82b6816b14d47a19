//! The stream processor: order change records, in order. A new pending order gets its workflow
//! execution started (idempotent by name: the create request usually started it already, and this
//! is what guarantees it when that start failed). Every change of an order's version
//! becomes a backup job (a deletion, a tombstone job); every status change brings the order's
//! listing up to date (on AWS the workflow writes statuses directly); every change that can wake a
//! workflow waiting on the order (its status moved, or a new wait was stored) answers that
//! workflow's task token.
//! One order's records are handled one by one in stream order (the order DynamoDB Streams keeps
//! per item); up to [`StreamProcessor::orders_at_once`] orders are handled concurrently (one by
//! default). The earliest failure is reported, so it and the records after it come again.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::{FutureExt, StreamExt};
use orders_core::adapters::dynamodb_item;
use orders_core::application::start_order_workflow;
use orders_core::domain::OrderStatus;
use orders_core::domain::order::rfc3339;
use orders_core::ports::{
    MessageQueue, OrderImage, OrderStore, OutgoingMessage, QueueName, TaskCallbacks, WorkflowEngine, WorkflowError,
};
use serde_json::json;

use crate::fulfilment::answer;
use crate::jobs::{BackupJob, errors};
use orders_core::lambda::{WorkerError, panic_message};

/// A handler of order change records.
#[async_trait]
pub trait StreamHandler: Send + Sync {
    /// Processes records in order; the response names the first record to deliver again.
    async fn handle(&self, event: Event) -> DynamoDbEventResponse;
}

/// Turns order changes into backup jobs and workflow wake-ups.
#[derive(Clone)]
pub struct StreamProcessor {
    orders: Arc<dyn OrderStore>,
    queues: Arc<dyn MessageQueue>,
    callbacks: Arc<dyn TaskCallbacks>,
    workflow: Arc<dyn WorkflowEngine>,
    orders_at_once: usize,
}

impl StreamProcessor {
    /// A processor reconciling listings in `orders`, sending backup jobs to `queues`, starting new
    /// orders' executions on `workflow` and answering waits through `callbacks`, one order at a time.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        queues: Arc<dyn MessageQueue>,
        callbacks: Arc<dyn TaskCallbacks>,
        workflow: Arc<dyn WorkflowEngine>,
    ) -> Self {
        StreamProcessor { orders, queues, callbacks, workflow, orders_at_once: 1 }
    }

    /// Handles up to `orders` different orders' records concurrently (each order's still in
    /// stream order). Only for a store whose reconciles do not contend: on DynamoDB, concurrent
    /// reconciles meet on the same listing counter items (`TransactionConflict`, and lost updates
    /// on moto), so the Lambda function keeps one; the embedded store reconciles nothing (each
    /// write keeps its counts), and there concurrency lets group commit share its syncs.
    pub fn orders_at_once(mut self, orders: usize) -> Self {
        self.orders_at_once = orders.max(1);
        self
    }

    /// Handles one order's records in order; the first failure ends the run: (its position in
    /// the batch, the record, what went wrong). A run also stops before a record that comes after
    /// the earliest failure so far: it will come again anyway.
    async fn run<'a>(
        &self,
        records: Vec<(usize, &'a EventRecord)>,
        earliest_failure: &AtomicUsize,
    ) -> Option<(usize, &'a EventRecord, String)> {
        for (position, record) in records {
            if position > earliest_failure.load(Ordering::Acquire) {
                return None;
            }
            let outcome = AssertUnwindSafe(self.process(record)).catch_unwind().await;
            let failure = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
            };
            earliest_failure.fetch_min(position, Ordering::AcqRel);
            return Some((position, record, failure));
        }
        None
    }

    async fn process(&self, record: &EventRecord) -> Result<(), WorkerError> {
        let image = |item: &serde_dynamo::Item| -> Result<Option<OrderImage>, WorkerError> {
            if item.is_empty() {
                Ok(None)
            } else {
                dynamodb_item::from_item(item.clone()).map(Some).map_err(|e| WorkerError::Malformed(e.to_string()))
            }
        };
        let old = image(&record.change.old_image)?;
        let new = image(&record.change.new_image)?;
        if let (None, Some(created)) = (&old, &new)
            && created.order.status == OrderStatus::Pending
        {
            self.start_workflow(created).await?;
        }
        if let Some(job) = backup_job(old.as_ref(), new.as_ref(), record) {
            let (order_id, version) = match &job {
                BackupJob::Version { order, .. } => (order.order_id, order.version),
                BackupJob::Tombstone { order_id, last_version, .. } => (*order_id, *last_version),
            };
            let body = serde_json::to_string(&job).map_err(|e| WorkerError::Malformed(e.to_string()))?;
            let attributes =
                [("order_id".to_owned(), order_id.to_string()), ("version".to_owned(), version.to_string())].into();
            self.queues.send(QueueName::Backup, OutgoingMessage { body, attributes }).await?;
        }
        if let (Some(old), Some(new)) = (&old, &new)
            && old.order.status != new.order.status
            && !listing_counted(&record.change.new_image, new.order.status)
        {
            self.orders.reconcile(new.order.order_id).await?;
        }
        self.wake_workflow(old.as_ref(), new.as_ref()).await
    }

    /// Makes sure a new order's execution exists. Starting before the backup job is sent keeps
    /// one rule for a failure: the record comes again, and each step of it is idempotent.
    async fn start_workflow(&self, created: &OrderImage) -> Result<(), WorkerError> {
        let order_id = created.order.order_id;
        match start_order_workflow(self.workflow.as_ref(), order_id).await {
            Ok(_) => Ok(()),
            // Only the same name with another input: not this order's workflow to fix here.
            Err(WorkflowError::AlreadyExists(name)) => {
                tracing::error!(%order_id, execution = %name, "an execution of this name exists with another input");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn wake_workflow(&self, old: Option<&OrderImage>, new: Option<&OrderImage>) -> Result<(), WorkerError> {
        match (old, new) {
            (_, Some(new)) => {
                let Some(wait) = &new.awaiting else { return Ok(()) };
                let moved = old.is_none_or(|old| old.order.status != new.order.status || old.awaiting != new.awaiting);
                if !moved {
                    return Ok(());
                }
                let order = &new.order;
                let token = &wait.task_token;
                let result = if order.status.has_reached(wait.status) {
                    tracing::info!(order_id = %order.order_id, status = %order.status, "waking the workflow");
                    let output = json!({"order_id": order.order_id.to_string(), "status": order.status});
                    self.callbacks.send_task_success(token, &output).await
                } else if order.status == OrderStatus::Cancelled {
                    let cause = format!("order {} was cancelled", order.order_id);
                    self.callbacks.send_task_failure(token, errors::ORDER_CANCELLED, &cause).await
                } else if order.status == OrderStatus::Failed {
                    let cause = format!("order {} was marked failed", order.order_id);
                    self.callbacks.send_task_failure(token, errors::ORDER_FAILED, &cause).await
                } else {
                    return Ok(());
                };
                answer(result)
            }
            (Some(old), None) => {
                let Some(wait) = &old.awaiting else { return Ok(()) };
                let cause = format!("order {} was deleted", old.order.order_id);
                answer(self.callbacks.send_task_failure(&wait.task_token, errors::ORDER_DELETED, &cause).await)
            }
            (None, None) => Err(WorkerError::Malformed("a change record without images".into())),
        }
    }
}

/// The order a record is about (its `order_id` key), if the record names one; records that do not
/// are handled in one run of their own.
fn order_key(record: &EventRecord) -> Option<&str> {
    match record.change.keys.get("order_id") {
        Some(serde_dynamo::AttributeValue::S(order_id)) => Some(order_id),
        _ => None,
    }
}

/// Whether the changed item says its listing already counts it under `status`: the API changes the
/// status and the listing in one transaction, so only the workflow's own status writes need
/// reconciling, and asking the store would cost a read to learn that nothing is to be done. Items
/// without the attribute (the embedded store's) are left to the store to decide. A later change
/// brings its own record, so skipping on a record that is stale by now is safe.
fn listing_counted(new_image: &serde_dynamo::Item, status: OrderStatus) -> bool {
    matches!(new_image.get(dynamodb_item::COUNTED_STATUS), Some(serde_dynamo::AttributeValue::S(counted)) if counted == status.as_str())
}

/// The backup a change calls for: a new version of the order, or a tombstone for a deletion. A
/// change that keeps the version (a stored task token) is backed up already.
fn backup_job(old: Option<&OrderImage>, new: Option<&OrderImage>, record: &EventRecord) -> Option<BackupJob> {
    match (old, new) {
        (old, Some(new)) if old.map(|o| o.order.version) != Some(new.order.version) => {
            Some(BackupJob::version(new.backup()))
        }
        (Some(old), None) => Some(BackupJob::Tombstone {
            order_id: old.order.order_id,
            last_version: old.order.version,
            deleted_at: rfc3339::format(&record.change.approximate_creation_date_time),
        }),
        _ => None,
    }
}

#[async_trait]
impl StreamHandler for StreamProcessor {
    async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        // Each order's records in stream order, runs of different orders up to `orders_at_once`
        // at a time. Each run stops at its first failure; the earliest failure of all is reported,
        // so it and every record after it come again, and what comes twice is handled idempotently.
        let mut by_order: BTreeMap<Option<&str>, Vec<(usize, &EventRecord)>> = BTreeMap::new();
        for (position, record) in event.records.iter().enumerate() {
            by_order.entry(order_key(record)).or_default().push((position, record));
        }
        let mut runs: Vec<_> = by_order.into_values().collect();
        runs.sort_by_key(|records| records[0].0);
        let earliest_failure = AtomicUsize::new(usize::MAX);
        // Built eagerly: a lazy `map` over `runs` makes this future fail async_trait's `Send`
        // bound ("FnOnce is not general enough").
        let mut pending = Vec::with_capacity(runs.len());
        for records in runs {
            pending.push(self.run(records, &earliest_failure));
        }
        let failures: Vec<_> = futures::stream::iter(pending)
            .buffer_unordered(self.orders_at_once)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let mut response = DynamoDbEventResponse::default();
        if let Some((_, record, failure)) = failures.into_iter().min_by_key(|(position, _, _)| *position) {
            let sequence = record.change.sequence_number.clone();
            tracing::warn!(sequence = ?sequence, error = %failure, "change record failed; it and the rest will come again");
            let mut item = DynamoDbBatchItemFailure::default();
            item.item_identifier = sequence;
            response.batch_item_failures.push(item);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(attributes: &[(&str, &str)]) -> serde_dynamo::Item {
        let map = attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_dynamo::AttributeValue::S((*value).to_owned())))
            .collect::<std::collections::HashMap<_, _>>();
        serde_dynamo::Item::from(map)
    }

    #[test]
    fn only_an_item_counted_under_its_new_status_skips_the_reconciliation() {
        let shipped = OrderStatus::Shipped;
        assert!(listing_counted(&image(&[("status", "shipped"), (dynamodb_item::COUNTED_STATUS, "shipped")]), shipped));
        // The workflow wrote the status: the counters still count the old one.
        assert!(!listing_counted(
            &image(&[("status", "shipped"), (dynamodb_item::COUNTED_STATUS, "processing")]),
            shipped
        ));
        // The embedded store's images say nothing: the store decides.
        assert!(!listing_counted(&image(&[("status", "shipped")]), shipped));
    }
}
