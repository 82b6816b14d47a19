//! The local runner and the workers on SQS semantics as moto implements them: a backup job whose
//! bucket is gone is delivered `maxReceiveCount` times and then moved to the DLQ by the queue's own
//! redrive policy, intact; the job is written once the bucket is back and the job is replayed.
//! The stream's reactions write backups to S3 themselves and queue only those they cannot write.
//! The stream reader describes the stream once, not on every read, and still hands records over.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/moto.rs"]
mod moto;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use deployment::Deployment;
use orders_core::adapters::aws::{RequestCounter, S3BackupStore};
use orders_core::application::{BackupJob, Backups};
use orders_core::domain::{Order, OrderId};
use orders_core::lambda::DeadLetters;
use orders_core::ports::{BackupKey, BackupStore, ChangeImages, OrderImage, OutgoingMessage, QueueName};
use orders_core::wiring::Ports;
use orders_testkit::eventually;
use orders_workers::aws_stream::DynamoDbStreamPoller;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::runner::{QueuePoller, StreamRound};
use orders_workers::stream::StreamHandler;

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
    let order_id = OrderId::generate();
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

/// The change that deletes `order`: its reaction is the tombstone's backup and nothing else.
fn deletion(order: Order) -> ChangeImages {
    ChangeImages { old: Some(OrderImage::created(order, None)), new: None, at: Utc::now(), listed_status: None }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_writes_backups_to_s3_itself_and_queues_only_those_it_cannot_write() {
    // Given a deployment on moto (queues with a 1 s visibility timeout)
    let deployment = Deployment::start_with(1, 3).await;
    let system = &deployment.system;
    let tombstone = |order: &Order| BackupKey::Tombstone { order_id: order.order_id };

    // When the change reactions, wired as the stream function's, handle an order's deletion
    let kept = common::new_order("CUST001");
    system.ports.change_reactions().react(&deletion(kept.clone())).await.unwrap();
    // Then its tombstone is in the bucket, and nothing went to the backup queue
    assert!(system.ports.backups.get(&tombstone(&kept)).await.unwrap().is_some());
    assert_eq!(system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0, "no backup job queued");

    // When reactions whose bucket is gone handle two more deletions
    let missing: Arc<dyn BackupStore> = Arc::new(S3BackupStore::new(system.clients.s3.clone(), "no-such-bucket"));
    let refused = Ports { backups: missing, ..system.ports.clone() }.change_reactions();
    let (first, second) = (common::new_order("CUST002"), common::new_order("CUST003"));
    refused.react(&deletion(first.clone())).await.unwrap();
    refused.react(&deletion(second.clone())).await.unwrap();
    // Then neither change failed: both jobs wait in the backup queue
    assert_eq!(system.ports.queues.depth(QueueName::Backup).await.unwrap(), 2);
    assert!(system.ports.backups.get(&tombstone(&first)).await.unwrap().is_none());
    // And the backup worker, whose bucket is there, writes both from the queue
    let worker = QueuePoller {
        queue: QueueName::Backup,
        queues: system.ports.queues.clone(),
        handler: Arc::new(BackupWorker::new(
            system.ports.backup_service(),
            DeadLetters::new(system.ports.queues.clone(), QueueName::BackupDlq),
        )),
        source: EventSource { region: "us-east-1".into(), account_id: "123456789012".into() },
    };
    eventually("both tombstones written by the backup worker", async || {
        worker.poll_once().await.unwrap();
        for order in [&first, &second] {
            if system.ports.backups.get(&tombstone(order)).await.unwrap().is_none() {
                return Err(format!("{} not yet", order.customer_id));
            }
        }
        Ok(())
    })
    .await;
    assert_eq!(system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
    assert_eq!(system.ports.queues.depth(QueueName::BackupDlq).await.unwrap(), 0);
}

/// Keeps the sequence numbers of the records it is handed.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl StreamHandler for Recorder {
    async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut seen = self.0.lock().unwrap();
        seen.extend(event.records.iter().filter_map(|r| r.change.sequence_number.clone()));
        DynamoDbEventResponse::default()
    }
}

fn requests(counter: &RequestCounter, operation: &str) -> u64 {
    counter.snapshot().iter().filter(|((_, op), _)| op == operation).map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_reader_describes_the_stream_once_and_reads_records_without_describing_again() {
    // Given the orders table's stream on moto, and a stream reader whose requests are counted
    let deployment = Deployment::start().await;
    let system = &deployment.system;
    let counter = RequestCounter::new();
    let clients = system.clients.counted(&counter);
    let recorder = Arc::new(Recorder::default());
    let mut reader = DynamoDbStreamPoller::new(
        clients.streams.clone(),
        clients.dynamodb.clone(),
        system.resources.orders_table.clone(),
        "us-east-1",
        recorder.clone(),
    );

    // When it reads five times with nothing written
    for _ in 0..5 {
        assert_eq!(reader.poll_once().await.unwrap(), StreamRound::Idle);
    }

    // Then it found the stream and its shard once, and only read after that
    assert_eq!(requests(&counter, "DescribeTable"), 1);
    assert_eq!(requests(&counter, "DescribeStream"), 1);
    assert_eq!(requests(&counter, "GetShardIterator"), 1);
    assert_eq!(requests(&counter, "GetRecords"), 5);
    assert_eq!(counter.total(), 8);

    // And when an item is written, the next reads hand its record over, still without describing
    system
        .clients
        .dynamodb
        .put_item()
        .table_name(&system.resources.orders_table)
        .item("order_id", AttributeValue::S(OrderId::generate().to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(reader.poll_once().await.unwrap(), StreamRound::Processed(1));
    assert_eq!(reader.poll_once().await.unwrap(), StreamRound::Idle);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    assert_eq!(requests(&counter, "DescribeStream"), 1);
    assert_eq!(requests(&counter, "GetShardIterator"), 1);
    assert_eq!(requests(&counter, "GetRecords"), 7);
}
