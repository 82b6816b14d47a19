//! The workers on the real embedded system: queues with SQS semantics, the local runner, the backup
//! folder, and the workflow engine. Faults are injected around the real backup store.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../core/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use orders_core::adapters::embedded::{EmbeddedConfig, FolderBackupStore, QueueSettings, WorkflowLocation};
use orders_core::application::{BackupJob, Backups, execution_input};
use orders_core::domain::{Money, ORDER_WRITE_GRACE, Order, OrderId, OrderItem, OrderStatus};
use orders_core::lambda::DeadLetters;
use orders_core::lambda::SqsHandler;
use orders_core::ports::{
    BackupError, BackupKey, BackupStore, BackupWrite, ExecutionStatus, FulfilmentHandOff, HandOffError, HandedOff,
    ListingPlace, MessageQueue, OrderStore, OutgoingMessage, QueueError, QueueName, ReceivedMessage, WorkflowEngine,
};
use orders_core::wiring::{EmbeddedSystem, Ports, wire_embedded};
use orders_testkit::eventually;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::{DEPLOYED_BACKOFF, FulfilmentWorker};
use orders_workers::runner::QueuePoller;
use orders_workers::stream::{StreamHandler, StreamProcessor};

/// How the injected fault behaves.
#[derive(Clone, Copy)]
enum Fault {
    /// The first n writes fail for good (the delivery fails; the queue redelivers).
    FailFirst(u32),
    /// The first n writes fail passingly (retried at once, inside one delivery).
    BriefOutages(u32),
    /// Every write fails.
    Always,
    /// Every write waits for ever (a store that does not answer).
    Hangs,
}

/// The real folder store behind an injected fault.
struct FaultyBackups {
    inner: FolderBackupStore,
    fault: Fault,
    calls: AtomicU32,
}

#[async_trait]
impl BackupStore for FaultyBackups {
    async fn put_if_absent(&self, key: &BackupKey, body: &[u8]) -> Result<BackupWrite, BackupError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.fault {
            Fault::FailFirst(n) if call <= n => Err(BackupError::Internal(format!("injected failure {call}"))),
            Fault::BriefOutages(n) if call <= n => Err(BackupError::Unavailable(format!("injected outage {call}"))),
            Fault::Always => Err(BackupError::Internal("injected: the store is broken".into())),
            Fault::Hangs => std::future::pending().await,
            _ => self.inner.put_if_absent(key, body).await,
        }
    }

    async fn get(&self, key: &BackupKey) -> Result<Option<Vec<u8>>, BackupError> {
        self.inner.get(key).await
    }

    async fn order_ids(&self) -> Result<Vec<OrderId>, BackupError> {
        self.inner.order_ids().await
    }

    async fn keys(&self, order_id: OrderId) -> Result<Vec<BackupKey>, BackupError> {
        self.inner.keys(order_id).await
    }
}

/// The system's queues, but the backup queue refuses every message.
struct RefusingBackupQueue {
    inner: Arc<dyn MessageQueue>,
}

#[async_trait]
impl MessageQueue for RefusingBackupQueue {
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<String, QueueError> {
        match queue {
            QueueName::Backup => Err(QueueError::Unavailable("injected: the backup queue is down".into())),
            _ => self.inner.send(queue, message).await,
        }
    }

    async fn receive(&self, queue: QueueName, max_messages: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.inner.receive(queue, max_messages).await
    }

    async fn delete(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt_handle).await
    }

    async fn depth(&self, queue: QueueName) -> Result<u64, QueueError> {
        self.inner.depth(queue).await
    }

    async fn in_flight(&self, queue: QueueName) -> Result<u64, QueueError> {
        self.inner.in_flight(queue).await
    }

    async fn retry_after(&self, queue: QueueName, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.retry_after(queue, receipt_handle, delay).await
    }

    async fn release(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.release(queue, receipt_handle).await
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    system: EmbeddedSystem,
}

impl Harness {
    async fn new(visibility_ms: u64, max_receive_count: u32) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig {
            data_dir: dir.path().to_owned(),
            location: WorkflowLocation {
                region: "us-east-1".into(),
                account_id: "000000000000".into(),
                state_machine: "OrderProcessing".into(),
            },
            queue_settings: QueueSettings {
                visibility_timeout: Duration::from_millis(visibility_ms),
                max_receive_count,
            },
        };
        let system = wire_embedded(&config).await.unwrap();
        Harness { _dir: dir, system }
    }

    /// The stream processor on the system's store, queues and workflow.
    fn stream_processor(&self) -> StreamProcessor {
        StreamProcessor::new(self.system.ports.change_reactions())
    }

    fn source() -> EventSource {
        EventSource { region: "us-east-1".into(), account_id: "000000000000".into() }
    }

    /// The system's backup folder behind `fault`.
    fn faulty_backups(&self, fault: Fault) -> Arc<FaultyBackups> {
        Arc::new(FaultyBackups {
            inner: FolderBackupStore::new(self.system.backup_root.clone()),
            fault,
            calls: AtomicU32::new(0),
        })
    }

    fn backup_poller(&self, fault: Fault) -> (QueuePoller, Arc<FaultyBackups>) {
        let store = self.faulty_backups(fault);
        let poller = QueuePoller {
            queue: QueueName::Backup,
            queues: self.system.ports.queues.clone(),
            handler: Arc::new(BackupWorker::new(
                Backups::new(self.system.ports.orders.clone(), store.clone()),
                DeadLetters::new(self.system.ports.queues.clone(), QueueName::BackupDlq),
            )),
            source: Self::source(),
        };
        (poller, store)
    }

    async fn send_backup_job(&self, order_id: OrderId, version: u64) {
        let job =
            BackupJob::Tombstone { order_id, last_version: version, deleted_at: "2026-01-01T00:00:00.000Z".into() };
        let message = OutgoingMessage { body: serde_json::to_string(&job).unwrap(), attributes: Default::default() };
        self.system.ports.queues.send(QueueName::Backup, message).await.unwrap();
    }

    /// Polls until the backup queue is empty; returns the rounds that handed messages over.
    async fn drain(&self, poller: &QueuePoller) -> u32 {
        let mut deliveries = 0;
        eventually("the backup queue to drain", async || {
            if poller.poll_once().await.unwrap() > 0 {
                deliveries += 1;
            }
            match self.system.ports.queues.depth(QueueName::Backup).await.unwrap() {
                0 => Ok(()),
                depth => Err(format!("{depth} messages left after {deliveries} deliveries")),
            }
        })
        .await;
        deliveries
    }
}

#[tokio::test]
async fn a_backup_that_fails_twice_is_delivered_again_and_then_succeeds() {
    // Given a backup store that fails the first two attempts for good
    let harness = Harness::new(100, 5).await;
    let (poller, store) = harness.backup_poller(Fault::FailFirst(2));
    let order_id = OrderId::generate();
    harness.send_backup_job(order_id, 4).await;
    // When the runner polls until the queue is empty
    let deliveries = harness.drain(&poller).await;
    // Then the job was delivered three times, and the third wrote the backup
    assert_eq!(deliveries, 3);
    assert_eq!(store.calls.load(Ordering::SeqCst), 3);
    assert!(store.get(&BackupKey::Tombstone { order_id }).await.unwrap().is_some());
    assert_eq!(harness.system.ports.queues.depth(QueueName::BackupDlq).await.unwrap(), 0);
}

#[tokio::test]
async fn brief_outages_are_retried_with_backoff_inside_one_delivery() {
    let harness = Harness::new(100, 5).await;
    let (poller, store) = harness.backup_poller(Fault::BriefOutages(2));
    let order_id = OrderId::generate();
    harness.send_backup_job(order_id, 1).await;
    assert_eq!(harness.drain(&poller).await, 1, "one delivery was enough");
    assert_eq!(store.calls.load(Ordering::SeqCst), 3);
    assert!(store.get(&BackupKey::Tombstone { order_id }).await.unwrap().is_some());
}

#[tokio::test]
async fn a_job_that_always_fails_lands_in_the_dead_letter_queue_after_max_receive_count() {
    // Given a broken backup store and maxReceiveCount 3
    let harness = Harness::new(50, 3).await;
    let (poller, store) = harness.backup_poller(Fault::Always);
    harness.send_backup_job(OrderId::generate(), 1).await;
    // When the runner polls until the queue is empty
    let deliveries = harness.drain(&poller).await;
    // Then it was tried three times and now waits in the DLQ, intact
    assert_eq!(deliveries, 3);
    assert_eq!(store.calls.load(Ordering::SeqCst), 3);
    let dead = harness.system.ports.queues.receive(QueueName::BackupDlq, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let job: BackupJob = serde_json::from_str(&dead[0].body).unwrap();
    assert!(matches!(job, BackupJob::Tombstone { last_version: 1, .. }));
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dead_letter_queue_at_once_with_its_reason_while_the_rest_are_processed() {
    // Given a good backup job and garbage in the same queue (maxReceiveCount 5)
    let harness = Harness::new(50, 5).await;
    let (poller, store) = harness.backup_poller(Fault::FailFirst(0));
    let good = OrderId::generate();
    harness.send_backup_job(good, 7).await;
    let garbage = OutgoingMessage { body: "{not json".into(), attributes: Default::default() };
    harness.system.ports.queues.send(QueueName::Backup, garbage).await.unwrap();
    // When the worker polls until the queue is empty
    let deliveries = harness.drain(&poller).await;
    // Then the good job is written, and the garbage is in the DLQ after one delivery, intact, with why
    assert_eq!(deliveries, 1, "garbage is not delivered again");
    assert!(store.get(&BackupKey::Tombstone { order_id: good }).await.unwrap().is_some());
    let dead = harness.system.ports.queues.receive(QueueName::BackupDlq, 10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["{not json"]);
    let reason = &dead[0].attributes["reason"];
    assert!(reason.starts_with("malformed message: key must be a string"), "{reason}");
}

/// The two orders of the stream fixtures: one changed to version 3, one deleted after version 4.
const CHANGED: &str = "550e8400-e29b-41d4-a716-446655440000";
const DELETED: &str = "6fa459ea-ee8a-3ca4-894e-db77e160355e";

/// The backup jobs waiting in the backup queue (received: hidden for the visibility timeout).
async fn queued_backup_jobs(harness: &Harness) -> Vec<BackupJob> {
    let messages = harness.system.ports.queues.receive(QueueName::Backup, 10).await.unwrap();
    messages.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
}

#[tokio::test]
async fn the_stream_processor_backs_up_a_lambda_stream_event_itself_without_the_backup_queue() {
    // Given the stream event Lambda would deliver: a status change and a deletion
    let harness = Harness::new(30_000, 5).await;
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let processor = harness.stream_processor();
    // When it is handled
    let response = processor.handle(event).await;
    // Then nothing failed (the fixture's task token is not live: answering it is a no-op)
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // And version 3 and the deleted order's tombstone are in the backup store, written by the
    // stream processor itself: nothing went to the backup queue
    let backups = FolderBackupStore::new(harness.system.backup_root.clone());
    let version = backups.get(&BackupKey::Version { order_id: CHANGED.parse().unwrap(), version: 3 }).await.unwrap();
    let version: serde_json::Value = serde_json::from_slice(&version.expect("version 3 backed up")).unwrap();
    assert_eq!((version["status"].as_str(), version["total_amount"].to_string()), (Some("shipped"), "150.75".into()));
    let tombstone = backups.get(&BackupKey::Tombstone { order_id: DELETED.parse().unwrap() }).await.unwrap();
    let tombstone: serde_json::Value = serde_json::from_slice(&tombstone.expect("tombstone backed up")).unwrap();
    assert_eq!(tombstone["last_version"], 4);
    assert!(tombstone["deleted_at"].as_str().unwrap().starts_with("2024-11-25"), "{tombstone}");
    assert_eq!(harness.system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0, "no backup job queued");
}

#[tokio::test]
async fn a_backup_the_stream_cannot_write_goes_to_the_backup_queue_and_the_worker_writes_it() {
    // Given a stream processor whose backup store refuses every write
    let harness = Harness::new(100, 5).await;
    let refusing = harness.faulty_backups(Fault::Always);
    let ports = Ports { backups: refusing.clone(), ..harness.system.ports.clone() };
    let processor = StreamProcessor::new(ports.change_reactions());
    // When it handles a status change and a deletion
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let response = processor.handle(event).await;
    // Then nothing failed: each backup it could not write is a job in the backup queue, and the
    // store was tried once (after a failure the next jobs go straight to the queue for a while)
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 1);
    assert_eq!(harness.system.ports.queues.depth(QueueName::Backup).await.unwrap(), 2);
    let changed = BackupKey::Version { order_id: CHANGED.parse().unwrap(), version: 3 };
    let deleted = BackupKey::Tombstone { order_id: DELETED.parse().unwrap() };
    assert!(refusing.get(&changed).await.unwrap().is_none());
    // When the backup worker, whose store works, takes the queue
    let (poller, store) = harness.backup_poller(Fault::FailFirst(0));
    harness.drain(&poller).await;
    // Then it wrote both, and nothing is dead-lettered
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    assert!(store.get(&changed).await.unwrap().is_some());
    assert!(store.get(&deleted).await.unwrap().is_some());
    assert_eq!(harness.system.ports.queues.depth(QueueName::BackupDlq).await.unwrap(), 0);
}

#[tokio::test]
async fn a_backup_store_that_does_not_answer_holds_a_change_up_for_seconds_only() {
    // Given a stream processor whose backup store never answers
    let harness = Harness::new(30_000, 5).await;
    let hanging = harness.faulty_backups(Fault::Hangs);
    let processor =
        StreamProcessor::new(Ports { backups: hanging.clone(), ..harness.system.ports.clone() }.change_reactions());
    // When it handles a status change and a deletion
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let started = std::time::Instant::now();
    let response = processor.handle(event).await;
    // Then the first write is given up after its budget (5 s) and the second not tried: both jobs
    // wait in the backup queue, and nothing failed
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(hanging.calls.load(Ordering::SeqCst), 1);
    assert_eq!(queued_backup_jobs(&harness).await.len(), 2);
}

#[tokio::test]
async fn a_backup_that_can_be_neither_written_nor_queued_fails_the_record_for_the_stream_to_deliver_again() {
    // Given a stream processor whose backup store refuses every write, and whose backup queue
    // refuses every message
    let harness = Harness::new(30_000, 5).await;
    let refusing = harness.faulty_backups(Fault::Always);
    let refusing_queue = Arc::new(RefusingBackupQueue { inner: harness.system.ports.queues.clone() });
    let ports = Ports { backups: refusing, queues: refusing_queue, ..harness.system.ports.clone() };
    let processor = StreamProcessor::new(ports.change_reactions());
    // When it handles a status change and a deletion
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let response = processor.handle(event).await;
    // Then the first record fails, to come again with those after it: nothing is lost
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("111100000000000000000001".to_owned())], "{response:?}");
}

#[tokio::test]
async fn a_malformed_stream_record_stops_the_batch_at_that_record() {
    let harness = Harness::new(30_000, 5).await;
    // (the first record's new image has a version that is not a number)
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-malformed-first.json")).unwrap();
    let processor = harness.stream_processor();
    let response = processor.handle(event).await;
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("111100000000000000000001".to_owned())]);
    assert_eq!(harness.system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
    let backups = FolderBackupStore::new(harness.system.backup_root.clone());
    assert_eq!(backups.order_ids().await.unwrap(), [], "nothing after it ran");
}

#[tokio::test]
async fn orders_handled_at_once_report_the_earliest_failure_and_do_the_rest() {
    // Given a processor that handles several orders at once, and a batch whose second record (the
    // other order's deletion) is malformed
    let harness = Harness::new(30_000, 5).await;
    let event: Event = serde_json::from_str(include_str!("fixtures/dynamodb-stream-malformed-second.json")).unwrap();
    let processor = harness.stream_processor().orders_at_once(16);
    // When the batch is handled
    let response = processor.handle(event).await;
    // Then the malformed record is the one to deliver again
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("111100000000000000000002".to_owned())]);
    // And the first order's record, before it, was handled: its version 3 is backed up
    let backups = FolderBackupStore::new(harness.system.backup_root.clone());
    let version = BackupKey::Version { order_id: CHANGED.parse().unwrap(), version: 3 };
    assert!(backups.get(&version).await.unwrap().is_some());
    assert!(queued_backup_jobs(&harness).await.is_empty());
}

#[tokio::test]
async fn the_fulfilment_worker_parks_the_malformed_record_of_a_lambda_batch_with_its_reason() {
    let harness = Harness::new(30_000, 5).await;
    let event: SqsEvent = serde_json::from_str(include_str!("fixtures/sqs-fulfilment-batch.json")).unwrap();
    let dead_letters = DeadLetters::new(harness.system.ports.queues.clone(), QueueName::FulfilmentDlq);
    let worker = FulfilmentWorker::new(harness.system.ports.workflow_tasks(), dead_letters, DEPLOYED_BACKOFF);
    let response = worker.handle(event).await;
    // The unknown order's task is answered (a dead token is a no-op); the unknown task kind can never
    // be done: it is in the DLQ with its reason, and the batch reports nothing to deliver again
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json, serde_json::json!({"batchItemFailures": []}));
    let dead = harness.system.ports.queues.receive(QueueName::FulfilmentDlq, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, r#"{"task":"launch_rockets"}"#);
    assert_eq!(dead[0].attributes["source_message_id"], "2e1424d4-f796-459a-8184-9c92662be6da");
    assert!(dead[0].attributes["reason"].contains("unknown variant `launch_rockets`"), "{:?}", dead[0].attributes);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_processes_an_order_that_is_already_processing() {
    // Given a pending order that a client moved to processing before its workflow began (what a
    // re-run of the marking step also finds, after a crash between the mark and its record)
    let harness = Harness::new(30_000, 5).await;
    let order = common::new_order("CUST001");
    let orders = &harness.system.database;
    orders.create_order(&order, None).await.unwrap();
    orders.update_status(order.order_id, OrderStatus::Processing.into(), None).await.unwrap();
    // When its workflow starts
    let name = order.order_id.to_string();
    let workflow = &harness.system.workflow;
    let started = workflow.start_execution(&name, &serde_json::json!({ "order_id": name })).await.unwrap();
    // Then it goes on to process the order: the task is queued and the execution waits
    let queued = eventually("a processing task queued", async || {
        Some(harness.system.ports.queues.depth(QueueName::Fulfilment).await.unwrap()).filter(|queued| *queued > 0)
    })
    .await;
    assert_eq!(queued, 1, "the processing task is queued");
    let execution = workflow.describe_execution(&started.execution_arn).await.unwrap().unwrap();
    assert_eq!(execution.status, ExecutionStatus::Running, "{execution:?}");
    // And the order is as the client left it: the task marks an order processing only once
    let stored = orders.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (OrderStatus::Processing, 2));
}

/// A merchant's fulfilment endpoint that is down.
struct EndpointDown;

#[async_trait]
impl FulfilmentHandOff for EndpointDown {
    async fn hand_off(&self, _order: &Order) -> Result<HandedOff, HandOffError> {
        Err(HandOffError::Unavailable("HTTP 503 Service Unavailable".into()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_off_still_failing_past_its_deadline_fails_the_order_and_gives_its_stock_back() {
    // Given an order whose workflow asks for its processing, and a fulfilment endpoint that is down
    let harness = Harness::new(30_000, 5).await;
    let order = common::new_order("CUST001");
    harness.system.database.create_order(&order, None).await.unwrap();
    let name = order.order_id.to_string();
    harness.system.workflow.start_execution(&name, &serde_json::json!({ "order_id": name })).await.unwrap();
    let queues = harness.system.ports.queues.clone();
    let next_task = async || {
        eventually("a fulfilment task", async || {
            let message = queues.receive(QueueName::Fulfilment, 1).await.unwrap().pop()?;
            queues.delete(QueueName::Fulfilment, &message.receipt_handle).await.unwrap();
            Some(serde_json::from_str::<serde_json::Value>(&message.body).unwrap())
        })
        .await
    };
    let mut task = next_task().await;
    assert_eq!(task["task"], "process");
    let mut ports = harness.system.ports.clone();
    ports.hand_off = Some(Arc::new(EndpointDown));
    let tasks = ports.workflow_tasks();
    // When the task is tried within its 24 hours
    let tried = tasks.handle(serde_json::from_value(task.clone()).unwrap()).await;
    // Then the trouble is passing: the task fails for a retry, the order processing, its stock held
    assert!(tried.unwrap_err().to_string().contains("fulfilment endpoint unavailable"));
    let stored = harness.system.database.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Processing);
    // When it is tried again (a replay of the parked task) past its deadline
    let asked = chrono::Utc::now() - chrono::TimeDelta::hours(25);
    task["entered_at"] = asked.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into();
    tasks.handle(serde_json::from_value(task).unwrap()).await.unwrap();
    // Then the order fails, saying why, and the workflow goes on to give its stock back
    let stored = harness.system.database.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Failed);
    assert_eq!(stored.failure_reason.as_deref(), Some("fulfilment hand-off timed out after 24 hours"));
    let release = next_task().await;
    assert_eq!((release["task"].as_str(), release["order_id"].as_str()), (Some("release"), Some(name.as_str())));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_processing_task_waits_for_an_order_written_after_its_workflow_started() {
    // Given an order whose workflow was started before the order was written, as a create does
    let harness = Harness::new(30_000, 5).await;
    let mut order = common::new_order("CUST001");
    order.items = vec![OrderItem {
        product_id: "PROD001".into(),
        quantity: 1,
        unit_price: Money::from_cents(100),
        line_total: Money::from_cents(100),
    }];
    let name = order.order_id.to_string();
    harness.system.workflow.start_execution(&name, &execution_input(&order)).await.unwrap();
    let task = next_fulfilment_task(&harness).await;
    assert_eq!(task["task"], "process");
    assert_eq!(task["execution_input"]["product_ids"], serde_json::json!(["PROD001"]));
    // When its processing task is handled while the order's write lands a moment later
    let orders = harness.system.database.clone();
    let written = order.clone();
    let late_write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        orders.create_order_at(&written, None, ListingPlace::AtWrite, true).await.unwrap();
    });
    harness.system.ports.workflow_tasks().handle(serde_json::from_value(task).unwrap()).await.unwrap();
    late_write.await.unwrap();
    // Then the task waited for it: the order is processing
    let stored = harness.system.database.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Processing);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_whose_order_is_never_written_ends_quietly_after_the_grace() {
    // Given a workflow started for an order whose create then failed: the order is never written
    let harness = Harness::new(30_000, 5).await;
    let order = common::new_order("CUST001");
    let name = order.order_id.to_string();
    let started = harness.system.workflow.start_execution(&name, &execution_input(&order)).await.unwrap();
    let mut task = next_fulfilment_task(&harness).await;
    let tasks = harness.system.ports.workflow_tasks();
    // When its processing task is handled within the grace
    let tried = tasks.handle(serde_json::from_value(task.clone()).unwrap()).await;
    // Then the trouble is passing: the task fails for a retry, the execution still runs
    assert!(tried.unwrap_err().to_string().contains("not stored yet"));
    let execution = harness.system.workflow.describe_execution(&started.execution_arn).await.unwrap().unwrap();
    assert_eq!(execution.status, ExecutionStatus::Running);
    // When it comes again past the grace
    let asked = chrono::Utc::now() - ORDER_WRITE_GRACE - chrono::TimeDelta::seconds(1);
    task["entered_at"] = asked.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into();
    tasks.handle(serde_json::from_value(task).unwrap()).await.unwrap();
    // Then the workflow ends without failing anything: no order was ever stored, none is created
    eventually("the execution to end", async || {
        let execution = harness.system.workflow.describe_execution(&started.execution_arn).await.unwrap()?;
        (execution.status != ExecutionStatus::Running).then_some(execution)
    })
    .await;
    let execution = harness.system.workflow.describe_execution(&started.execution_arn).await.unwrap().unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{execution:?}");
    let history = harness.system.workflow.history(&started.execution_arn).await.unwrap();
    assert!(history.iter().any(|event| event.state.as_deref() == Some("NeverStored")), "{history:?}");
    assert_eq!(harness.system.database.get_order(order.order_id).await.unwrap(), None);
}

/// The next task the workflow sent the fulfilment queue (taken off the queue).
async fn next_fulfilment_task(harness: &Harness) -> serde_json::Value {
    let queues = harness.system.ports.queues.clone();
    eventually("a fulfilment task", async || {
        let message = queues.receive(QueueName::Fulfilment, 1).await.unwrap().pop()?;
        queues.delete(QueueName::Fulfilment, &message.receipt_handle).await.unwrap();
        Some(serde_json::from_str::<serde_json::Value>(&message.body).unwrap())
    })
    .await
}
