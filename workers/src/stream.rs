//! The stream entry point: order change records (DynamoDB Streams' NEW_AND_OLD_IMAGES, or the
//! embedded change feed dressed as them), decoded and handed to the [`ChangeReactions`] use case.
//! One order's records are handled one by one in stream order (the order DynamoDB Streams keeps
//! per item); up to [`StreamProcessor::orders_at_once`] orders are handled concurrently (one by
//! default). The earliest failure is reported, so it and the records after it come again.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::{FutureExt, StreamExt};
use orders_core::adapters::dynamodb_item;
use orders_core::application::{ChangeReactions, StepError};

use orders_core::lambda::panic_message;

/// A handler of order change records.
#[async_trait]
pub trait StreamHandler: Send + Sync {
    /// Processes records in order; the response names the first record to deliver again.
    async fn handle(&self, event: Event) -> DynamoDbEventResponse;
}

/// Hands order change records to the change reactions.
#[derive(Clone)]
pub struct StreamProcessor {
    reactions: ChangeReactions,
    orders_at_once: usize,
}

impl StreamProcessor {
    /// A processor handing each change to `reactions`, one order at a time.
    pub fn new(reactions: ChangeReactions) -> Self {
        StreamProcessor { reactions, orders_at_once: 1 }
    }

    /// Handles up to `orders` different orders' records concurrently (each order's still in
    /// stream order). Only for a store whose listing refreshes do not contend: on DynamoDB,
    /// concurrent refreshes meet on the same listing counter items (`TransactionConflict`, and lost
    /// updates on moto), so the Lambda function keeps one; the embedded store's listing follows
    /// every write, and there concurrency lets group commit share its syncs.
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

    async fn process(&self, record: &EventRecord) -> Result<(), StepError> {
        let change = &record.change;
        let images =
            dynamodb_item::change_images(&change.old_image, &change.new_image, change.approximate_creation_date_time)
                .map_err(|e| StepError::Malformed(e.to_string()))?;
        self.reactions.react(&images).await
    }
}

/// The order a record is about (its `order_id` key), if the record names one; records that do not
/// are handled in one run of their own.
fn order_key(record: &EventRecord) -> Option<&str> {
    dynamodb_item::order_id_of_key(&record.change.keys)
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
