//! Retention on the embedded store (what `orders serve` removes in the background): the change-feed
//! entries every consumer has processed, finished executions past the retention with their history,
//! expired Idempotency-Key records; and what it keeps.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use orders_core::adapters::embedded::{
    DATABASE_FILE, EmbeddedConfig, Pruned, QueueSettings, Retention, WorkflowLocation,
};
use orders_core::domain::OrderId;
use orders_core::ports::{ChangeFeed, ExecutionArn, ExecutionStatus, IdempotencyRecord, OrderStore, QueueName};
use orders_core::wiring::{EmbeddedSystem, wire_embedded};
use orders_testkit::eventually;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn retention_removes_what_nothing_needs_any_more_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        data_dir: dir.path().to_owned(),
        location: WorkflowLocation::default(),
        queue_settings: QueueSettings { visibility_timeout: Duration::from_secs(1), max_receive_count: 5 },
    };
    let system = wire_embedded(&config).await.unwrap();
    let _driver = system.workflow.spawn_driver();
    let database = &system.database;
    // Given an order change the stream processor has processed
    database.create_order(&common::new_order("CUST001"), None).await.unwrap();
    let processed = database.changes_after(0, 10).await.unwrap().last().unwrap().sequence;
    database.save_position("stream", processed).await.unwrap();
    // And a live Idempotency-Key record and an expired one (their orders' changes not processed yet)
    let live = keyed_order(&system, TimeDelta::hours(1)).await;
    let expired = keyed_order(&system, TimeDelta::hours(-1)).await;
    // And an execution that ended 100 days ago, and one that ended now
    let old = finished_execution(&system).await;
    let recent = finished_execution(&system).await;
    let file = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let hundred_days = TimeDelta::days(100).num_milliseconds();
    let backdated = file
        .execute(
            "UPDATE executions SET stopped_at = stopped_at - ?1 WHERE execution_arn = ?2",
            rusqlite::params![hundred_days, old.to_string()],
        )
        .unwrap();
    assert_eq!(backdated, 1);
    let old_events = system.ports.workflow.history(&old).await.unwrap().len() as u64;

    // When retention runs with the default 90 days
    let pruned = database.prune(&Retention::default()).await.unwrap();

    // Then the processed change, the old execution with its history and the expired key are gone
    assert_eq!(
        pruned,
        Pruned { changes: 1, executions: 1, history_events: old_events, idempotency_keys: 1 },
        "{pruned:?}"
    );
    assert_eq!(system.ports.workflow.describe_execution(&old).await.unwrap(), None);
    assert!(system.ports.workflow.history(&old).await.unwrap().is_empty());
    // And the rest is kept: the changes not processed, the recent execution, the live key
    let left = database.changes_after(0, 10).await.unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|change| change.sequence > processed));
    assert!(system.ports.workflow.describe_execution(&recent).await.unwrap().is_some());
    assert!(!system.ports.workflow.history(&recent).await.unwrap().is_empty());
    let kept = database.find_idempotency(&live.key).await.unwrap();
    assert_eq!(kept.map(|record| record.order_id), Some(live.order_id));
    let keys: i64 = file.query_row("SELECT count(*) FROM idempotency_keys", [], |row| row.get(0)).unwrap();
    assert_eq!(keys, 1, "only the live key is left, not {}", expired.key);
    // And a second pass finds nothing more to remove
    assert!(database.prune(&Retention::default()).await.unwrap().is_empty());
}

/// An order created with an Idempotency-Key whose record expires `from_now`.
async fn keyed_order(system: &EmbeddedSystem, from_now: TimeDelta) -> IdempotencyRecord {
    let order = common::new_order("KEYED");
    let record = IdempotencyRecord {
        key: format!("key-{}", order.order_id),
        fingerprint: "f".into(),
        order_id: order.order_id,
        execution_arn: "arn".into(),
        expires_at: Utc::now() + from_now,
    };
    system.database.create_order(&order, Some(&record)).await.unwrap();
    record
}

/// An order workflow's execution that has ended (its processing answered as for an order a client
/// moved on first).
async fn finished_execution(system: &EmbeddedSystem) -> ExecutionArn {
    let name = OrderId::generate().to_string();
    let started = system.ports.workflow.start_execution(&name, &json!({ "order_id": name })).await.unwrap();
    let queues = system.ports.queues.clone();
    let token = eventually("the execution's processing task", async || {
        let message =
            queues.receive(QueueName::Fulfilment, 10).await.unwrap().into_iter().find(|m| m.body.contains(&name))?;
        queues.delete(QueueName::Fulfilment, &message.receipt_handle).await.unwrap();
        let task: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        task["task_token"].as_str().map(str::to_owned)
    })
    .await;
    system.ports.callbacks.send_task_failure(&token, "OrderNotPending", "moved on").await.unwrap();
    let workflow = system.ports.workflow.clone();
    let arn = started.execution_arn.clone();
    eventually("the execution to end", async || {
        let status = workflow.describe_execution(&arn).await.unwrap()?.status;
        (status != ExecutionStatus::Running).then_some(())
    })
    .await;
    started.execution_arn
}
