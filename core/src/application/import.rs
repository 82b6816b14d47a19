//! The import use case: one entry of an import message (schema in `docs/IMPORT.md`, read by
//! [`crate::domain::import::parse_import_message`]) created through the same create use case as
//! `POST /orders` (validation, pricing, workflow start), with the entry's `client_reference` as the
//! order's idempotency key, kept for [`REFERENCE_LIFETIME_DAYS`]: the same reference never creates a
//! second order, however often a message is delivered or a file imported again.
//!
//! An entry ends in one of three ways: created (or recognised by its reference), refused for good
//! ([`ImportOutcome::Refused`]: malformed, invalid, unknown product, a reference reused for a
//! different order; retrying cannot help), or passing trouble (`Err`: storage, workflow engine;
//! retrying later may succeed). What the caller does with a refusal (the import worker sends it to
//! the import dead-letter queue) is the caller's business.

use chrono::Duration;
use tracing::Instrument;

use super::orders::{CreateOrder, OrderCreated, OrderError, OrderService};
use crate::domain::NewOrder;
use crate::domain::import::{ImportEntry, idempotency_key};

/// How long a client reference keeps protecting against a second order (ten years: "never").
pub const REFERENCE_LIFETIME_DAYS: i64 = 3650;

/// What became of one import entry that did not meet passing trouble.
#[derive(Debug)]
pub enum ImportOutcome {
    /// The order exists: created now, or earlier under the same reference (`replayed`).
    Created(OrderCreated),
    /// The entry can never be created; the reason is worded for the import dead-letter queue.
    Refused(String),
}

/// Imports entries through the order use cases.
#[derive(Clone)]
pub struct OrderImport {
    service: OrderService,
}

impl OrderImport {
    /// Imports through `service`'s create use case.
    pub fn new(service: OrderService) -> Self {
        OrderImport { service }
    }

    /// Creates `entry`'s order, or says why it never can be; `Err` is passing trouble. The order
    /// keeps `message_id` (the import message's) as its correlation id.
    pub async fn import(&self, entry: &ImportEntry, message_id: Option<&str>) -> Result<ImportOutcome, OrderError> {
        let reference = entry.client_reference.as_deref().unwrap_or_default();
        let correlation_id = message_id.unwrap_or_default();
        let span = tracing::info_span!("import_entry", client_reference = %reference, %correlation_id);
        let outcome = self.create_entry(entry, message_id).instrument(span).await;
        if let Ok(outcome) = &outcome {
            crate::metrics::import_entry(matches!(outcome, ImportOutcome::Created(_)));
        }
        outcome
    }

    async fn create_entry(&self, entry: &ImportEntry, message_id: Option<&str>) -> Result<ImportOutcome, OrderError> {
        let refuse = |reason: String| Ok(ImportOutcome::Refused(reason));
        let reference = match &entry.client_reference {
            Ok(reference) => reference,
            Err(reason) => return refuse(reason.clone()),
        };
        let order = match NewOrder::from_json_value(entry.raw["order"].clone()) {
            Ok(order) => order,
            Err(error) if entry.raw.get("order").is_none() => {
                return refuse(format!("Missing required field: order ({error})"));
            }
            Err(error) => return refuse(format!("order: {error}")),
        };
        let request = CreateOrder {
            order,
            idempotency_key: Some(idempotency_key(reference)),
            key_lifetime: Some(Duration::days(REFERENCE_LIFETIME_DAYS)),
            correlation_id: message_id.map(str::to_owned),
        };
        match self.service.create_order(request).await {
            Ok(created) => {
                tracing::info!(client_reference = %reference, order_id = %created.order_id, replayed = created.replayed, "imported");
                Ok(ImportOutcome::Created(created))
            }
            Err(OrderError::Validation(error)) => refuse(format!("order: {error}")),
            Err(OrderError::IdempotencyKeyReused) => {
                refuse("client_reference was already imported with a different order".into())
            }
            Err(error) => Err(error),
        }
    }
}
