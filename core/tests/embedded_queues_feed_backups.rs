//! The embedded queue, change feed and backup folder behave as SQS, DynamoDB Streams and S3 do for
//! this pipeline: visibility timeout, receive counts, dead-letter after `maxReceiveCount`, batches of
//! at most 10; one change record per committed change, in order, with both images; backups written
//! once and never overwritten.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

#[cfg(target_os = "linux")]
use orders_core::adapters::embedded::PIPELINE_NICE;
use orders_core::adapters::embedded::{Database, EmbeddedQueues, FolderBackupStore, QueueSettings};
use orders_core::domain::{OrderId, OrderStatus};
use orders_core::ports::{
    BackupKey, BackupStore, BackupWrite, ChangeFeed, ChangeKind, MessageQueue, OrderStore, OutgoingMessage, QueueName,
    StatusWait, StoreError,
};

fn database() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, db)
}

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage { body: body.into(), attributes: [("kind".to_owned(), "test".to_owned())].into() }
}

fn queues(db: &Database, visibility_ms: u64, max_receive_count: u32) -> EmbeddedQueues {
    let settings = QueueSettings { visibility_timeout: Duration::from_millis(visibility_ms), max_receive_count };
    EmbeddedQueues::new(db.clone(), [(QueueName::Backup, settings)])
}

#[tokio::test]
async fn a_received_message_is_hidden_until_its_visibility_timeout_then_comes_back_counted() {
    let (_dir, db) = database();
    let queues = queues(&db, 300, 5);
    queues.send(QueueName::Backup, message("job-1")).await.unwrap();
    // When it is received
    let first = queues.receive(QueueName::Backup, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].body.as_str(), first[0].receive_count), ("job-1", 1));
    assert_eq!(first[0].attributes["kind"], "test");
    // Then nobody else sees it while it is in flight
    assert!(queues.receive(QueueName::Backup, 10).await.unwrap().is_empty());
    // And after the timeout it is delivered again, counted, with a new receipt handle
    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = queues.receive(QueueName::Backup, 10).await.unwrap();
    assert_eq!(second[0].receive_count, 2);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_ne!(second[0].receipt_handle, first[0].receipt_handle);
    // A stale receipt handle deletes nothing; the current one deletes it
    queues.delete(QueueName::Backup, &first[0].receipt_handle).await.unwrap();
    assert_eq!(queues.depth(QueueName::Backup).await.unwrap(), 1);
    queues.delete(QueueName::Backup, &second[0].receipt_handle).await.unwrap();
    assert_eq!(queues.depth(QueueName::Backup).await.unwrap(), 0);
}

#[tokio::test]
async fn message_ids_and_receipt_handles_sort_in_the_order_they_were_made() {
    // Given messages sent one after another
    let (_dir, db) = database();
    let queues = queues(&db, 60_000, 5);
    let mut sent = Vec::new();
    for n in 0..50 {
        sent.push(queues.send(QueueName::Backup, message(&format!("job-{n}"))).await.unwrap());
    }
    // When they are received in batches, one receive after another
    let mut handles = Vec::new();
    for _ in 0..5 {
        handles.extend(queues.receive(QueueName::Backup, 10).await.unwrap().into_iter().map(|m| m.receipt_handle));
    }
    // Then their ids, and the receipt handles the receives gave them, sort as they were made: both
    // unique indexes grow at their right edge instead of taking each entry on a random leaf.
    assert_eq!(handles.len(), 50);
    let mut sorted = sent.clone();
    sorted.sort();
    assert_eq!(sorted, sent);
    let mut sorted = handles.clone();
    sorted.sort();
    assert_eq!(sorted, handles);
}

#[tokio::test]
async fn a_message_never_deleted_moves_to_the_dead_letter_queue_after_max_receive_count() {
    let (_dir, db) = database();
    let queues = queues(&db, 50, 3);
    queues.send(QueueName::Backup, message("poison")).await.unwrap();
    for attempt in 1..=3 {
        let received = queues.receive(QueueName::Backup, 10).await.unwrap();
        assert_eq!(received[0].receive_count, attempt);
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    // The fourth receive finds it over the limit: it moves to the DLQ instead
    assert!(queues.receive(QueueName::Backup, 10).await.unwrap().is_empty());
    assert_eq!(queues.depth(QueueName::Backup).await.unwrap(), 0);
    assert_eq!(queues.depth(QueueName::BackupDlq).await.unwrap(), 1);
    let dead = queues.receive(QueueName::BackupDlq, 10).await.unwrap();
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].attributes["kind"], "test");
}

#[tokio::test]
async fn batches_hold_at_most_ten_messages_oldest_first() {
    let (_dir, db) = database();
    let queues = queues(&db, 30_000, 5);
    for i in 0..25 {
        queues.send(QueueName::Backup, message(&format!("m{i}"))).await.unwrap();
    }
    let batch = queues.receive(QueueName::Backup, 50).await.unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(batch[0].body, "m0");
    assert_eq!(batch[9].body, "m9");
    assert_eq!(queues.receive(QueueName::Backup, 10).await.unwrap()[0].body, "m10");
}

#[tokio::test]
async fn every_committed_change_is_in_the_feed_in_order_with_both_images() {
    let (_dir, db) = database();
    let order = common::new_order("CUST001");
    let id = order.order_id;
    db.create_order(&order, None).await.unwrap();
    db.transition(id, &[OrderStatus::Pending], OrderStatus::Processing.into()).await.unwrap();
    // A refused change leaves no record
    let refused = db.transition(id, &[OrderStatus::Pending], OrderStatus::Processing.into()).await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed { current: OrderStatus::Processing })));
    db.await_status(id, StatusWait { status: OrderStatus::Shipped, task_token: "tok-1".into() }).await.unwrap();
    db.update_status(id, OrderStatus::Shipped.into(), None).await.unwrap();
    db.delete_order(id, None).await.unwrap();

    let changes = db.changes_after(0, 100).await.unwrap();
    let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
    use ChangeKind::*;
    assert_eq!(kinds, [Insert, Modify, Modify, Modify, Remove]);
    assert!(changes.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(changes[0].old.is_none());
    assert_eq!(changes[1].old.as_ref().unwrap().order.status, OrderStatus::Pending);
    assert_eq!(changes[1].new.as_ref().unwrap().order.version, 2);
    // The stored token travels with the image but does not change the version
    let token_change = &changes[2];
    assert_eq!(token_change.new.as_ref().unwrap().order.version, 2);
    assert_eq!(token_change.new.as_ref().unwrap().awaiting.as_ref().unwrap().task_token, "tok-1");
    assert_eq!(changes[3].new.as_ref().unwrap().order.status, OrderStatus::Shipped);
    assert!(changes[4].new.is_none());
    assert_eq!(changes[4].old.as_ref().unwrap().order.version, 3);

    // Positions only move forward
    assert_eq!(db.position("stream").await.unwrap(), 0);
    db.save_position("stream", changes[3].sequence).await.unwrap();
    db.save_position("stream", changes[1].sequence).await.unwrap();
    assert_eq!(db.position("stream").await.unwrap(), changes[3].sequence);
    assert_eq!(db.changes_after(changes[3].sequence, 100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_backup_is_written_once_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FolderBackupStore::new(dir.path().join("backups")));
    let key = BackupKey::Version { order_id: OrderId::generate(), version: 3 };
    assert_eq!(store.put_if_absent(&key, b"first").await.unwrap(), BackupWrite::Written);
    assert_eq!(store.put_if_absent(&key, b"second").await.unwrap(), BackupWrite::AlreadyPresent);
    assert_eq!(store.get(&key).await.unwrap().unwrap(), b"first");
    assert!(dir.path().join("backups").join(key.object_key()).is_file());
    // Racing writers of one key leave exactly one object and no temporary files
    let key = BackupKey::Tombstone { order_id: OrderId::generate() };
    let writes = (0..8).map(|i| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move { store.put_if_absent(&key, format!("w{i}").as_bytes()).await.unwrap() })
    });
    // (Spawned before any is awaited: they race.)
    let results = futures_join(writes.collect::<Vec<_>>().into_iter()).await;
    assert_eq!(results.iter().filter(|w| **w == BackupWrite::Written).count(), 1);
    let folder = dir.path().join("backups").join(key.object_key());
    let siblings = std::fs::read_dir(folder.parent().unwrap()).unwrap().count();
    assert_eq!(siblings, 1);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_written_at_the_same_time_share_their_syncs() {
    // Given a backup store
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FolderBackupStore::new(dir.path().join("backups")));
    // When 64 orders' first versions are written at once
    let keys: Vec<_> = (0..64).map(|_| BackupKey::Version { order_id: OrderId::generate(), version: 1 }).collect();
    let writes = keys.clone().into_iter().map(|key| {
        let store = store.clone();
        tokio::spawn(async move { store.put_if_absent(&key, key.object_key().as_bytes()).await.unwrap() })
    });
    let results = futures_join(writes.collect::<Vec<_>>().into_iter()).await;
    // Then every one is written, whole, with no temporary file left
    assert!(results.iter().all(|w| *w == BackupWrite::Written));
    for key in &keys {
        assert_eq!(store.get(key).await.unwrap().unwrap(), key.object_key().as_bytes());
        let folder = dir.path().join("backups").join(key.object_key());
        assert_eq!(std::fs::read_dir(folder.parent().unwrap()).unwrap().count(), 1);
    }
    // And they took fewer syncs than two each (the file before its link, the link)
    assert!(store.syncs_made() < 2 * 64, "{} syncs for 64 objects", store.syncs_made());
    assert!(store.syncs_made() >= 2, "at least the files' and the links' syncs");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn backups_are_written_by_a_thread_at_the_pipelines_priority() {
    // Given a backup store
    let dir = tempfile::tempdir().unwrap();
    let store = FolderBackupStore::new(dir.path().join("backups"));
    // When it writes an object
    let key = BackupKey::Version { order_id: OrderId::generate(), version: 1 };
    assert_eq!(store.put_if_absent(&key, b"{}").await.unwrap(), BackupWrite::Written);
    // Then the process has a backup writer thread, and every such thread runs below the requests'
    // priority (other tests of this binary may have theirs running too)
    let writers: Vec<i32> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?.path();
            let name = std::fs::read_to_string(task.join("comm")).ok()?;
            (name.trim() == "backup-writer").then(|| {
                let stat = std::fs::read_to_string(task.join("stat")).unwrap();
                // The fields after the name, which is in parentheses: the nice value is the 19th.
                let after_name = &stat[stat.rfind(')').unwrap() + 2..];
                after_name.split(' ').nth(16).unwrap().parse().unwrap()
            })
        })
        .collect();
    assert!(!writers.is_empty(), "no backup-writer thread");
    assert!(writers.iter().all(|nice| *nice >= PIPELINE_NICE), "nice values {writers:?}");
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
