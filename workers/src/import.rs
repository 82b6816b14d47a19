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

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::application::{ImportOutcome, OrderImport, OrderService};
use orders_core::domain::import::{ImportEntry, parse_import_message};
use orders_core::ports::{MessageQueue, OutgoingMessage, QueueName};
use serde_json::Value;

use crate::batch::{DeadLetters, SqsHandler, WorkerError, process_batch_parking};

/// Creates imported orders; sends what can never be created to the import DLQ.
#[derive(Clone)]
pub struct ImportWorker {
    import: OrderImport,
    queues: Arc<dyn MessageQueue>,
}

impl ImportWorker {
    /// A worker creating orders through `service` and sending refusals to the import DLQ of `queues`.
    pub fn new(service: OrderService, queues: Arc<dyn MessageQueue>) -> Self {
        ImportWorker { import: OrderImport::new(service), queues }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), WorkerError> {
        let message_id = message.message_id.clone().unwrap_or_default();
        let body = message.body.unwrap_or_default();
        let entries = match parse_import_message(&body) {
            Ok(entries) => entries,
            Err(reason) => {
                let raw = Value::String(body);
                let entry = ImportEntry { client_reference: Err("no entry could be read".into()), raw };
                return self.refuse(&message_id, &entry, reason).await;
            }
        };
        // One entry after the other: concurrent creates all update the same listing counter items,
        // which DynamoDB answers with TransactionConflict (a redelivery) and moto, our test
        // emulator, with lost updates; the queue's own concurrency (several messages at once) is
        // where imports get their parallelism.
        for entry in &entries {
            match self.import.import(entry).await? {
                ImportOutcome::Created(_) => {}
                ImportOutcome::Refused(reason) => self.refuse(&message_id, entry, reason).await?,
            }
        }
        Ok(())
    }

    async fn refuse(&self, message_id: &str, entry: &ImportEntry, reason: String) -> Result<(), WorkerError> {
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
