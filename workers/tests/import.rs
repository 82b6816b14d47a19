//! Batch imports through the import worker on the embedded system: orders created through the same
//! path as `POST /orders`, client references making imports idempotent, and what can never be
//! created sent to the import DLQ at once with its reason.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use orders_core::adapters::embedded::{EmbeddedConfig, QueueSettings, WorkflowLocation};
use orders_core::application::ListOrders;
use orders_core::lambda::{DeadLetters, SqsHandler};
use orders_core::ports::{QueueName, ReceivedMessage};
use orders_core::wiring::{EmbeddedSystem, wire_embedded};
use orders_workers::import::ImportWorker;
use serde_json::{Value, json};

struct Harness {
    _dir: tempfile::TempDir,
    system: EmbeddedSystem,
    worker: ImportWorker,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        data_dir: dir.path().to_owned(),
        location: WorkflowLocation::default(),
        queue_settings: QueueSettings { visibility_timeout: Duration::from_secs(30), max_receive_count: 3 },
    };
    let system = wire_embedded(&config).await.unwrap();
    let worker = ImportWorker::new(
        system.ports.order_service(),
        DeadLetters::new(system.ports.queues.clone(), QueueName::ImportDlq),
    );
    Harness { _dir: dir, system, worker }
}

fn event(bodies: &[(&str, String)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (id, body) in bodies {
        let mut message = SqsMessage::default();
        message.message_id = Some((*id).to_owned());
        message.body = Some(body.clone());
        event.records.push(message);
    }
    event
}

fn entry(reference: &str, product: &str) -> Value {
    json!({"client_reference": reference, "order": {"customer_id": "ERP", "items": [{"product_id": product, "quantity": 1}]}})
}

impl Harness {
    async fn total(&self) -> u64 {
        self.system.ports.order_service().list_orders(ListOrders::default()).await.unwrap().total
    }

    async fn rejects(&self) -> Vec<ReceivedMessage> {
        self.system.ports.queues.receive(QueueName::ImportDlq, 10).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_order_is_created_once_however_often_it_arrives() {
    let h = harness().await;
    let message = entry("ERP-1", "PROD001").to_string();
    for delivery in 0..3 {
        let response = h.worker.handle(event(&[(&format!("m{delivery}"), message.clone())])).await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(h.total().await, 1);
    assert!(h.rejects().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_creates_its_valid_orders_and_rejects_the_rest_with_reasons() {
    let h = harness().await;
    let batch = json!({"orders": [
        entry("B-1", "PROD001"), entry("B-2", "NOPE"), entry("B-3", "PROD002"),
        {"order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 1}]}},
        entry("B-5", "PROD003"),
    ]});
    let response = h.worker.handle(event(&[("batch-1", batch.to_string())])).await;
    // Then nothing is retried: the three valid orders exist, the two others wait in the DLQ
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.total().await, 3);
    let mut rejects: Vec<(Option<String>, String, String)> = h
        .rejects()
        .await
        .into_iter()
        .map(|m| {
            (
                m.attributes.get("client_reference").cloned(),
                m.attributes["reason"].clone(),
                m.attributes["source_message_id"].clone(),
            )
        })
        .collect();
    rejects.sort();
    assert_eq!(
        rejects,
        [
            (None, "Missing required field: client_reference".to_owned(), "batch-1".to_owned()),
            (
                Some("B-2".to_owned()),
                "order: Unknown product_id \"NOPE\" in items[0].product_id".to_owned(),
                "batch-1".to_owned()
            ),
        ]
    );
    // And importing the same batch again creates nothing new
    h.worker.handle(event(&[("batch-1-again", batch.to_string())])).await;
    assert_eq!(h.total().await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_reused_for_another_order_is_rejected() {
    let h = harness().await;
    h.worker.handle(event(&[("m1", entry("R-1", "PROD001").to_string())])).await;
    h.worker.handle(event(&[("m2", entry("R-1", "PROD002").to_string())])).await;
    assert_eq!(h.total().await, 1);
    let rejects = h.rejects().await;
    assert_eq!(rejects[0].attributes["reason"], "client_reference was already imported with a different order");
    assert_eq!(serde_json::from_str::<Value>(&rejects[0].body).unwrap(), entry("R-1", "PROD002"));
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_goes_to_the_dead_letter_queue_intact_and_is_not_retried() {
    let h = harness().await;
    let response = h
        .worker
        .handle(event(&[("g1", "{not json".into()), ("g2", "[1,2]".into()), ("g3", json!({"orders": 5}).to_string())]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let mut rejects: Vec<(String, String)> =
        h.rejects().await.into_iter().map(|m| (m.body, m.attributes["reason"].clone())).collect();
    rejects.sort();
    assert_eq!(rejects[0].0, "[1,2]");
    assert_eq!(rejects[0].1, "The message must be a JSON object");
    assert_eq!(rejects[1].0, "{\"orders\":5}");
    assert_eq!(rejects[1].1, "Invalid field orders: must be an array");
    assert_eq!(rejects[2].0, "{not json");
    assert!(rejects[2].1.starts_with("Invalid JSON: "), "{}", rejects[2].1);
    assert_eq!(h.total().await, 0);
}
