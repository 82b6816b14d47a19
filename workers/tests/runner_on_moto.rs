//! The local runner and the workers on SQS semantics as moto implements them: a backup job whose
//! bucket is gone is delivered `maxReceiveCount` times and then moved to the DLQ by the queue's own
//! redrive policy, intact; the job is written once the bucket is back and the job is replayed.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/moto.rs"]
mod moto;

use std::sync::Arc;

use deployment::Deployment;
use orders_core::adapters::aws::S3BackupStore;
use orders_core::application::{BackupJob, Backups};
use orders_core::domain::OrderId;
use orders_core::lambda::DeadLetters;
use orders_core::ports::{BackupKey, BackupStore, OutgoingMessage, QueueName};
use orders_testkit::eventually;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::runner::QueuePoller;

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_always_fails_reaches_the_dlq_after_max_receive_count_and_replays_once_fixed() {
    // Given queues with a 1 s visibility timeout and maxReceiveCount 2, and a worker whose bucket is gone
    let deployment = Deployment::start_with(1, 2).await;
    let system = &deployment.system;
    let missing = Arc::new(S3BackupStore::new(system.clients.s3.clone(), "no-such-bucket"));
    let source = EventSource { region: "us-east-1".into(), account_id: "123456789012".into() };
    let poller = |store: Arc<dyn BackupStore>| QueuePoller {
        queue: QueueName::Backup,
        queues: system.ports.queues.clone(),
        handler: Arc::new(BackupWorker::new(
            Backups::new(system.ports.orders.clone(), store),
            DeadLetters::new(system.ports.queues.clone(), QueueName::BackupDlq),
        )),
        source: source.clone(),
    };
    let order_id = OrderId::new_random();
    let job = BackupJob::Tombstone { order_id, last_version: 2, deleted_at: "2026-01-01T00:00:00.000Z".into() };
    let body = serde_json::to_string(&job).unwrap();
    system
        .ports
        .queues
        .send(QueueName::Backup, OutgoingMessage { body: body.clone(), attributes: Default::default() })
        .await
        .unwrap();

    // When the runner keeps polling
    let failing = poller(missing);
    let mut deliveries = 0;
    eventually("the job in the backup DLQ", async || {
        deliveries += failing.poll_once().await.unwrap();
        if system.ports.queues.depth(QueueName::BackupDlq).await.unwrap() == 1 {
            Ok(())
        } else {
            Err(format!("{deliveries} deliveries"))
        }
    })
    .await;
    // Then it was delivered twice, and SQS moved it to the DLQ, intact
    assert_eq!(deliveries, 2);
    assert_eq!(system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
    let dead = system.ports.queues.receive(QueueName::BackupDlq, 10).await.unwrap();
    assert_eq!(dead[0].body, body);

    // And once replayed to a working worker, the backup is written
    system
        .ports
        .queues
        .send(QueueName::Backup, OutgoingMessage { body: dead[0].body.clone(), attributes: Default::default() })
        .await
        .unwrap();
    system.ports.queues.delete(QueueName::BackupDlq, &dead[0].receipt_handle).await.unwrap();
    let working = poller(system.ports.backups.clone());
    assert_eq!(working.poll_once().await.unwrap(), 1);
    assert!(system.ports.backups.get(&BackupKey::Tombstone { order_id }).await.unwrap().is_some());
    assert_eq!(system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
}
