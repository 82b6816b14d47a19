//! The import worker: orders sent in bulk through the import queue (schema in `docs/IMPORT.md`),
//! created through the same use case as `POST /orders` (validation, pricing, workflow start).
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
use orders_core::domain::NewOrder;
use orders_core::ports::{MessageQueue, OutgoingMessage, QueueName};
use orders_core::service::{CreateOrder, OrderError, OrderService};
use orders_workers::batch::{SqsHandler, WorkerError, process_batch};
use serde_json::Value;

/// How long a client reference keeps protecting against a second order (ten years: "never").
pub const REFERENCE_LIFETIME_DAYS: i64 = 3650;
/// Longest client reference.
pub const MAX_REFERENCE_CHARS: usize = 200;
/// Most orders in one message.
pub const MAX_ORDERS_PER_MESSAGE: usize = 100;

/// One order of an import message, as far as it could be read.
struct Entry {
    /// The reference, or why it is not usable.
    client_reference: Result<String, String>,
    raw: Value,
}

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

    async fn process(&self, message: SqsMessage) -> Result<(), WorkerError> {
        let message_id = message.message_id.clone().unwrap_or_default();
        let body = message.body.unwrap_or_default();
        let entries = match read_message(&body) {
            Ok(entries) => entries,
            Err(reason) => {
                let raw = Value::String(body);
                let entry = Entry { client_reference: Err("no entry could be read".into()), raw };
                return self.reject(&message_id, &entry, reason).await;
            }
        };
        for entry in entries {
            match self.create(&entry).await {
                Ok(()) => {}
                Err(Ok(rejection)) => self.reject(&message_id, &entry, rejection.reason).await?,
                Err(Err(transient)) => return Err(transient),
            }
        }
        Ok(())
    }

    /// Creates one entry's order: `Err(Ok)` refuses it for good, `Err(Err)` is passing trouble.
    async fn create(&self, entry: &Entry) -> Result<(), Result<Rejection, WorkerError>> {
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
            idempotency_key: Some(format!("import:{reference}")),
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
            Err(error) => Err(Err(WorkerError::Order(error))),
        }
    }

    async fn reject(&self, message_id: &str, entry: &Entry, reason: String) -> Result<(), WorkerError> {
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

/// The entries of a message: one order (`{"client_reference", "order"}`) or a batch (`{"orders": […]}`).
fn read_message(body: &str) -> Result<Vec<Entry>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let Value::Object(object) = &value else { return Err("The message must be a JSON object".into()) };
    let raw_entries = match object.get("orders") {
        Some(Value::Array(orders)) if orders.is_empty() || orders.len() > MAX_ORDERS_PER_MESSAGE => {
            return Err(format!("Invalid field orders: must hold 1 to {MAX_ORDERS_PER_MESSAGE} orders"));
        }
        Some(Value::Array(orders)) if object.len() == 1 => orders.clone(),
        Some(Value::Array(_)) => return Err("A batch message holds only the field orders".into()),
        Some(_) => return Err("Invalid field orders: must be an array".into()),
        None => vec![value.clone()],
    };
    Ok(raw_entries
        .into_iter()
        .map(|raw| {
            let client_reference = match raw.get("client_reference") {
                None | Some(Value::Null) => Err("Missing required field: client_reference".to_owned()),
                Some(Value::String(reference))
                    if !reference.trim().is_empty()
                        && reference.chars().count() <= MAX_REFERENCE_CHARS
                        && !reference.chars().any(char::is_control) =>
                {
                    Ok(reference.clone())
                }
                Some(_) => Err(format!(
                    "Invalid field client_reference: must be a string of 1 to {MAX_REFERENCE_CHARS} characters without control characters"
                )),
            };
            Entry { client_reference, raw }
        })
        .collect())
}

#[async_trait]
impl SqsHandler for ImportWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, |message| self.process(message)).await
    }
}
