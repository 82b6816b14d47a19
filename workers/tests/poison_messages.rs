//! Poison messages on every queue: broken JSON, wrong types and oversized bodies reach the queue's
//! dead-letter queue at their first delivery, intact and with a reason, while the good message
//! beside them is processed. Runs the real workers through the local runner on the embedded system.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use orders_core::adapters::embedded::{EmbeddedConfig, FolderBackupStore, QueueSettings, WorkflowLocation};
use orders_core::application::{Backups, ListOrders};
use orders_core::domain::OrderId;
use orders_core::lambda::SqsHandler;
use orders_core::lambda::{DeadLetters, MAX_MESSAGE_BYTES};
use orders_core::ports::{BackupKey, BackupStore, OutgoingMessage, QueueName, ReceivedMessage};
use orders_core::wiring::{EmbeddedSystem, wire_embedded};
use orders_testkit::eventually;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::{DEPLOYED_BACKOFF, FulfilmentWorker};
use orders_workers::import::ImportWorker;
use orders_workers::runner::QueuePoller;
use serde_json::json;

struct Harness {
    _dir: tempfile::TempDir,
    system: EmbeddedSystem,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig {
            data_dir: dir.path().to_owned(),
            location: WorkflowLocation::default(),
            // A failed delivery comes back after 50 ms; the fifth failure moves it to the DLQ.
            queue_settings: QueueSettings { visibility_timeout: Duration::from_millis(50), max_receive_count: 5 },
        };
        let system = wire_embedded(&config).await.unwrap();
        Harness { _dir: dir, system }
    }

    fn worker(&self, queue: QueueName) -> Arc<dyn SqsHandler> {
        let system = &self.system;
        let dead_letters = |dlq| DeadLetters::new(system.ports.queues.clone(), dlq);
        match queue {
            QueueName::Backup => Arc::new(BackupWorker::new(
                Backups::new(system.ports.orders.clone(), Arc::new(FolderBackupStore::new(system.backup_root.clone()))),
                dead_letters(QueueName::BackupDlq),
            )),
            QueueName::Fulfilment => Arc::new(FulfilmentWorker::new(
                system.ports.workflow_tasks(),
                dead_letters(QueueName::FulfilmentDlq),
                DEPLOYED_BACKOFF,
            )),
            QueueName::Import => {
                Arc::new(ImportWorker::new(system.ports.order_service(), dead_letters(QueueName::ImportDlq)))
            }
            other => panic!("{other} has no worker"),
        }
    }

    /// Sends `bodies` to `queue`, then runs its worker until the queue is empty; returns the
    /// deliveries it took and what reached the DLQ.
    async fn run(&self, queue: QueueName, bodies: &[String]) -> (u32, Vec<ReceivedMessage>) {
        for body in bodies {
            let message = OutgoingMessage { body: body.clone(), attributes: Default::default() };
            self.system.ports.queues.send(queue, message).await.unwrap();
        }
        let source = EventSource { region: "us-east-1".into(), account_id: "123456789012".into() };
        let poller =
            QueuePoller { queue, queues: self.system.ports.queues.clone(), handler: self.worker(queue), source };
        let mut rounds = 0;
        eventually(format!("{queue} to drain"), async || {
            if poller.poll_once().await.unwrap() > 0 {
                rounds += 1;
            }
            match self.system.ports.queues.depth(queue).await.unwrap() {
                0 => Ok(()),
                depth => Err(format!("{depth} messages left after {rounds} rounds")),
            }
        })
        .await;
        let dlq = queue.dead_letter_queue().unwrap();
        (rounds, self.system.ports.queues.receive(dlq, 10).await.unwrap())
    }
}

/// A body over the size limit that is otherwise well formed JSON.
fn oversized() -> String {
    json!({"padding": "x".repeat(MAX_MESSAGE_BYTES)}).to_string()
}

/// Checks that exactly the `poison` bodies are in the DLQ, each intact and with a reason.
fn assert_parked(dead: &[ReceivedMessage], poison: &[String], queue: QueueName) {
    let mut bodies: Vec<&str> = dead.iter().map(|m| m.body.as_str()).collect();
    let mut expected: Vec<&str> = poison.iter().map(String::as_str).collect();
    bodies.sort();
    expected.sort();
    assert_eq!(bodies.len(), expected.len(), "{queue}: {:?}", dead.iter().map(|m| &m.attributes).collect::<Vec<_>>());
    assert!(bodies == expected, "{queue}: the DLQ holds other bodies than the poison");
    for message in dead {
        let reason = message.attributes.get("reason").unwrap_or_else(|| panic!("{queue}: a message without reason"));
        assert!(!reason.is_empty());
        if message.body.len() > MAX_MESSAGE_BYTES {
            assert!(reason.contains("over the"), "{queue}: {reason}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_on_the_backup_queue_is_parked_with_its_reason_and_the_good_job_is_written() {
    let h = Harness::new().await;
    let good = OrderId::generate();
    let job =
        json!({"kind": "tombstone", "order_id": good, "last_version": 2, "deleted_at": "2026-01-01T00:00:00.000Z"});
    let poison = vec![
        "{not json".to_owned(),
        json!({"kind": "tombstone", "order_id": good, "last_version": "two", "deleted_at": 5}).to_string(),
        json!({"kind": "shred_everything"}).to_string(),
        oversized(),
    ];
    let (rounds, dead) = h.run(QueueName::Backup, &[poison.clone(), vec![job.to_string()]].concat()).await;
    assert_eq!(rounds, 1, "poison is not delivered again");
    assert_parked(&dead, &poison, QueueName::Backup);
    let store = FolderBackupStore::new(h.system.backup_root.clone());
    assert!(store.get(&BackupKey::Tombstone { order_id: good }).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_on_the_fulfilment_queue_is_parked_with_its_reason_and_the_good_task_is_answered() {
    let h = Harness::new().await;
    // A real task for an order that is gone: answered (its token is dead) and done
    let good = json!({"task": "fulfil", "order_id": OrderId::generate(), "task_token": "dead-token"});
    let poison = vec![
        "{\"task\": \"fulfil\",".to_owned(),
        json!({"task": "fulfil", "order_id": 42, "task_token": ["x"]}).to_string(),
        json!({"task": "await_status", "order_id": OrderId::generate(), "status": "teleported", "task_token": "t"})
            .to_string(),
        oversized(),
    ];
    let (rounds, dead) = h.run(QueueName::Fulfilment, &[poison.clone(), vec![good.to_string()]].concat()).await;
    assert_eq!(rounds, 1, "poison is not delivered again");
    assert_parked(&dead, &poison, QueueName::Fulfilment);
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_on_the_import_queue_is_parked_with_its_reason_and_the_good_order_is_created() {
    let h = Harness::new().await;
    let good = json!({"client_reference": "R-1", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 1}]}});
    let poison = vec![
        "{not json".to_owned(),
        json!({"client_reference": 7, "order": {"customer_id": ["ERP"], "items": "many"}}).to_string(),
        json!({"orders": "all of them"}).to_string(),
        oversized(),
    ];
    let (rounds, dead) = h.run(QueueName::Import, &[poison.clone(), vec![good.to_string()]].concat()).await;
    assert_eq!(rounds, 1, "poison is not delivered again");
    assert_parked(&dead, &poison, QueueName::Import);
    assert_eq!(h.system.ports.order_service().list_orders(ListOrders::default()).await.unwrap().total, 1);
}
