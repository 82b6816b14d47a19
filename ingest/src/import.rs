//! The import worker: orders sent in bulk through the import queue (schema in `docs/IMPORT.md`),
//! created through the same use case as `POST /orders` (validation, pricing, workflow start).
//! Reading a message into entries is pure domain code
//! ([`orders_core::domain::import::parse_import_message`]); this module does the queue side.
//!
//! - Each order carries a `client_reference`; it becomes the order's idempotency key (kept for
//!   [`REFERENCE_LIFETIME_DAYS`]), so the same reference never creates a second order, however often
//!   the message is delivered or the file is imported again.
//! - An order that can never succeed (malformed, invalid, unknown product, a reference reused for a
//!   different order) is not retried: it is sent at once to the import dead-letter queue carrying
//!   its reason (`reason`, `client_reference` and `source_message_id` attributes) and the rest of
//!   the message goes on.
//! - Passing trouble (storage, workflow engine, queue) fails the record, so SQS delivers it again and
//!   after `maxReceiveCount` moves it to the DLQ; orders it already created are recognised by their
//!   references on the next delivery.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Duration;
use orders_core::application::StepError;
use orders_core::application::{CreateOrder, OrderError, OrderService};
use orders_core::domain::NewOrder;
use orders_core::domain::import::{ImportEntry, parse_import_message};
use orders_core::ports::{MessageQueue, OutgoingMessage, QueueName};
use orders_workers::batch::{DeadLetters, SqsHandler, process_batch_parking};
use serde_json::Value;

/// The message limits, defined with the message parser in `orders-core`.
pub use orders_core::domain::import::{MAX_ORDERS_PER_MESSAGE, MAX_REFERENCE_CHARS};

/// How long a client reference keeps protecting against a second order (ten years: "never").
pub const REFERENCE_LIFETIME_DAYS: i64 = 3650;

/// Creates imported orders; rejects what can never be created.
#[derive(Clone)]
pub struct ImportWorker {
    service: OrderService,
    queues: Arc<dyn MessageQueue>,
}

/// Why an import entry is refused for good.
struct Rejection {
    reason: String,
}

impl ImportWorker {
    /// A worker creating orders through `service` and sending rejects to the import DLQ of `queues`.
    pub fn new(service: OrderService, queues: Arc<dyn MessageQueue>) -> Self {
        ImportWorker { service, queues }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let message_id = message.message_id.clone().unwrap_or_default();
        let body = message.body.unwrap_or_default();
        let entries = match parse_import_message(&body) {
            Ok(entries) => entries,
            Err(reason) => {
                let raw = Value::String(body);
                let entry = ImportEntry { client_reference: Err("no entry could be read".into()), raw };
                return self.reject(&message_id, &entry, reason).await;
            }
        };
        // One entry after the other: concurrent creates all update the same listing counter items,
        // which DynamoDB answers with TransactionConflict (a redelivery) and moto, our test
        // emulator, with lost updates; the queue's own concurrency (several messages at once) is
        // where imports get their parallelism.
        for entry in &entries {
            self.settle(&message_id, entry).await?;
        }
        Ok(())
    }

    /// Creates one entry's order, or sends the entry to the import DLQ if it can never succeed.
    async fn settle(&self, message_id: &str, entry: &ImportEntry) -> Result<(), StepError> {
        match self.create(entry).await {
            Ok(()) => Ok(()),
            Err(Ok(rejection)) => self.reject(message_id, entry, rejection.reason).await,
            Err(Err(transient)) => Err(transient),
        }
    }

    /// Creates one entry's order: `Err(Ok)` refuses it for good, `Err(Err)` is passing trouble.
    async fn create(&self, entry: &ImportEntry) -> Result<(), Result<Rejection, StepError>> {
        let reject = |reason: String| Err(Ok(Rejection { reason }));
        let reference = match &entry.client_reference {
            Ok(reference) => reference,
            Err(reason) => return reject(reason.clone()),
        };
        let order = match NewOrder::from_json_value(entry.raw["order"].clone()) {
            Ok(order) => order,
            Err(error) if entry.raw.get("order").is_none() => {
                return reject(format!("Missing required field: order ({error})"));
            }
            Err(error) => return reject(format!("order: {error}")),
        };
        let request = CreateOrder {
            order,
            idempotency_key: Some(orders_core::domain::import::idempotency_key(reference)),
            key_lifetime: Some(Duration::days(REFERENCE_LIFETIME_DAYS)),
        };
        match self.service.create_order(request).await {
            Ok(created) => {
                tracing::info!(client_reference = %reference, order_id = %created.order_id, replayed = created.replayed, "imported");
                Ok(())
            }
            Err(OrderError::Validation(error)) => reject(format!("order: {error}")),
            Err(OrderError::IdempotencyKeyReused) => {
                reject("client_reference was already imported with a different order".into())
            }
            Err(error) => Err(Err(StepError::Order(error))),
        }
    }

    async fn reject(&self, message_id: &str, entry: &ImportEntry, reason: String) -> Result<(), StepError> {
        tracing::warn!(client_reference = ?entry.client_reference.as_ref().ok(), %reason, "import refused; sent to the import DLQ");
        let mut attributes =
            BTreeMap::from([("reason".to_owned(), reason), ("source_message_id".to_owned(), message_id.to_owned())]);
        if let Ok(reference) = &entry.client_reference {
            attributes.insert("client_reference".to_owned(), reference.clone());
        }
        let body = match &entry.raw {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.queues.send(QueueName::ImportDlq, OutgoingMessage { body, attributes }).await?;
        Ok(())
    }
}

#[async_trait]
impl SqsHandler for ImportWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        // Entries are refused with their reasons by `process`; what is left for the runner to park is
        // a message too large to read.
        let dead_letters = DeadLetters::new(self.queues.clone(), QueueName::ImportDlq);
        process_batch_parking(event, Some(&dead_letters), |message| self.process(message)).await
    }
}
