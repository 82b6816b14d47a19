//! The import worker: the queue side of batch imports (schema in `docs/IMPORT.md`). It reads each
//! import message into entries ([`orders_core::domain::import::parse_import_message`]) and hands
//! every entry to the import use case ([`orders_core::application::OrderImport`]), which creates it
//! through the same path as `POST /orders`, the client reference as its idempotency key.
//!
//! - An entry the use case refuses for good (malformed, invalid, unknown product, a reference reused
//!   for a different order) is not retried: it is sent at once to the import dead-letter queue with
//!   its reason and reference, and the rest of the message goes on. A message no entry can be read
//!   from goes there whole.
//! - Passing trouble (storage, workflow engine, queue) fails the record, so SQS delivers it again and
//!   after `maxReceiveCount` moves it to the DLQ; orders it already created are recognised by their
//!   references on the next delivery.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::application::StepError;
use orders_core::application::{ImportOutcome, OrderImport, OrderService};
use orders_core::domain::import::{ImportEntry, parse_import_message};
use orders_core::lambda::{DeadLetters, SqsHandler, process_batch};
use serde_json::Value;

/// Creates imported orders; sends what can never be created to the import DLQ.
#[derive(Clone)]
pub struct ImportWorker {
    import: OrderImport,
    dead_letters: DeadLetters,
}

impl ImportWorker {
    /// A worker creating orders through `service` and sending refusals to `dead_letters` (the import
    /// DLQ).
    pub fn new(service: OrderService, dead_letters: DeadLetters) -> Self {
        ImportWorker { import: OrderImport::new(service), dead_letters }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let body = message.body.as_deref().unwrap_or_default();
        let entries = match parse_import_message(body) {
            Ok(entries) => entries,
            Err(reason) => {
                tracing::warn!(%reason, "import refused; sent to the import DLQ");
                self.dead_letters.park(&message, &reason).await?;
                return Ok(());
            }
        };
        // One entry after the other: concurrent creates all update the same listing counter items,
        // which DynamoDB answers with TransactionConflict (a redelivery) and moto, our test
        // emulator, with lost updates; the queue's own concurrency (several messages at once) is
        // where imports get their parallelism.
        for entry in &entries {
            match self.import.import(entry, message.message_id.as_deref()).await? {
                ImportOutcome::Created(_) => {}
                ImportOutcome::Refused(reason) => self.refuse(&message, entry, &reason).await?,
            }
        }
        Ok(())
    }

    async fn refuse(&self, message: &SqsMessage, entry: &ImportEntry, reason: &str) -> Result<(), StepError> {
        let reference = entry.client_reference.as_deref().ok();
        tracing::warn!(client_reference = ?reference, %reason, "import refused; sent to the import DLQ");
        // The entry as sent: an entry that is a JSON string is parked as that string's text.
        let body = match &entry.raw {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.dead_letters.park_part(message, body, reason, reference).await?;
        Ok(())
    }
}

#[async_trait]
impl SqsHandler for ImportWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        // Entries are refused with their reasons by `process`; what is left for the runner to park is
        // a message too large to read.
        process_batch(event, &self.dead_letters, |message| self.process(message)).await
    }
}
