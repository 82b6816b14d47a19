//! The scenarios, each written once against the ports.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Duration as Span;
use orders_core::domain::order::now_millis;
use orders_core::domain::{
    FailureReason, Money, NewStatus, OrderId, OrderItem, OrderStatus, OrderStopped, OutOfStock, Product,
    ProductCatalog, ReservationState, ReserveOutcome, SettleOutcome, StockLine,
};
use orders_core::ports::{
    BackupKey, BackupWrite, CallbackError, CreateOutcome, ExecutionStatus, IdempotencyBinding, IdempotencyRecord,
    ListFilter, ListRequest, OrderBackup, OutgoingMessage, PagePosition, ProcessingStart, QueueName, StatusWait,
    StoreError, WorkflowError,
};
use orders_testkit::eventually;
use serde_json::json;

use crate::common::new_order;
use crate::{MAX_RECEIVE_COUNT, Ports, VISIBILITY};

pub async fn orders_are_created_read_and_deleted(ports: &Ports) {
    let order = new_order("CUST001");
    assert_eq!(ports.orders.create_order(&order, None).await.unwrap(), CreateOutcome::Created);
    assert_eq!(ports.orders.get_order(order.order_id).await.unwrap(), Some(order.clone()));
    assert!(matches!(ports.orders.create_order(&order, None).await, Err(StoreError::AlreadyExists(_))));
    let deleted = ports.orders.delete_order(order.order_id, Some(1)).await.unwrap();
    assert_eq!(deleted, order);
    assert_eq!(ports.orders.get_order(order.order_id).await.unwrap(), None);
    assert!(matches!(ports.orders.delete_order(order.order_id, None).await, Err(StoreError::NotFound(_))));
}

pub async fn idempotency_records_replay_and_refuse(ports: &Ports) {
    let first = new_order("CUST001");
    let record = IdempotencyRecord {
        key: "key-1".into(),
        fingerprint: "print-a".into(),
        order_id: first.order_id,
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:M:x".into(),
        expires_at: now_millis() + Span::hours(1),
    };
    assert_eq!(ports.orders.create_order(&first, Some(&record)).await.unwrap(), CreateOutcome::Created);
    let found = ports.orders.find_idempotency("key-1").await.unwrap().unwrap();
    assert_eq!((found.order_id, found.fingerprint.as_str()), (first.order_id, "print-a"));
    // The same key and fingerprint with a new order: nothing written, the first answer back
    let second = new_order("CUST001");
    let repeat = IdempotencyRecord { order_id: second.order_id, ..record.clone() };
    match ports.orders.create_order(&second, Some(&repeat)).await.unwrap() {
        CreateOutcome::Replayed(first_record) => assert_eq!(first_record.order_id, first.order_id),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(ports.orders.get_order(second.order_id).await.unwrap(), None);
    // Another fingerprint: refused
    let other = IdempotencyRecord { fingerprint: "print-b".into(), order_id: second.order_id, ..record.clone() };
    assert!(matches!(ports.orders.create_order(&second, Some(&other)).await, Err(StoreError::IdempotencyKeyReused)));
    // An expired record protects nothing
    let expired = IdempotencyRecord { key: "key-2".into(), expires_at: now_millis() - Span::hours(1), ..record };
    let third = new_order("CUST001");
    ports.orders.create_order(&third, Some(&expired)).await.unwrap();
    assert_eq!(ports.orders.find_idempotency("key-2").await.unwrap(), None);
    assert_eq!(ports.orders.find_idempotency("never-used").await.unwrap(), None);
}

pub async fn status_changes_follow_the_table_and_versions(ports: &Ports) {
    let order = new_order("CUST001");
    let id = order.order_id;
    ports.orders.create_order(&order, None).await.unwrap();
    let update = ports.orders.update_status(id, OrderStatus::Processing.into(), Some(1)).await.unwrap();
    assert!(update.changed);
    assert_eq!((update.order.status, update.order.version), (OrderStatus::Processing, 2));
    let same = ports.orders.update_status(id, OrderStatus::Processing.into(), None).await.unwrap();
    assert!(!same.changed);
    assert_eq!(same.order.version, 2);
    assert!(matches!(
        ports.orders.update_status(id, OrderStatus::Pending.into(), None).await,
        Err(StoreError::IllegalTransition(_))
    ));
    assert!(matches!(
        ports.orders.update_status(id, OrderStatus::Shipped.into(), Some(1)).await,
        Err(StoreError::VersionMismatch { expected: 1, current: 2 })
    ));
    // The workflow's conditional transition
    assert!(matches!(
        ports.orders.transition(id, &[OrderStatus::Pending], OrderStatus::Processing.into()).await,
        Err(StoreError::ConditionFailed { current: OrderStatus::Processing })
    ));
    let shipped = ports.orders.transition(id, &[OrderStatus::Processing], OrderStatus::Shipped.into()).await.unwrap();
    assert_eq!((shipped.order.status, shipped.order.version), (OrderStatus::Shipped, 3));
    let stored = ports.orders.get_order(id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (OrderStatus::Shipped, 3));
    assert!(stored.updated_at >= stored.created_at);
    let missing = OrderId::generate();
    assert!(matches!(
        ports.orders.update_status(missing, OrderStatus::Shipped.into(), None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        ports.orders.transition(missing, &[OrderStatus::Pending], OrderStatus::Failed.into()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn page(
    ports: &Ports,
    filter: &ListFilter,
    limit: u32,
    position: PagePosition,
) -> (Vec<OrderId>, u64, Option<u64>) {
    let page = ports.orders.list_orders(&ListRequest { filter: filter.clone(), limit, position }).await.unwrap();
    (page.orders.iter().map(|o| o.order_id).collect(), page.total, page.next_cursor)
}

pub async fn orders_are_listed_at_the_places_their_lookups_found_even_when_creates_race(ports: &Ports) {
    // Given a catalog, an order created as usual, and an order created with an Idempotency-Key
    let catalog = ProductCatalog::new(vec![product("A", None)]).unwrap();
    ports.catalog.replace_catalog(&catalog).await.unwrap();
    let customer = format!("PLACE-{}", OrderId::generate());
    let first = new_order(&customer);
    ports.orders.create_order(&first, None).await.unwrap();
    let keyed = new_order(&format!("KEYED-{}", OrderId::generate()));
    let record = IdempotencyRecord {
        key: format!("key-{}", keyed.order_id),
        fingerprint: "f".into(),
        order_id: keyed.order_id,
        execution_arn: "arn".into(),
        expires_at: now_millis() + Span::hours(1),
    };
    ports.orders.create_order(&keyed, Some(&record)).await.unwrap();
    // When a create looks before it writes, with that key
    let seen = ports.lookups.look_before_create(Some(&record.key), &["A", "NOPE"]).await.unwrap();
    // Then it finds the earlier request and the products there are
    assert_eq!(seen.earlier.map(|earlier| earlier.order_id), Some(keyed.order_id));
    assert!(seen.catalog.get("A").is_some() && seen.catalog.get("NOPE").is_none());
    // When a look is not used (a refused order), and two creates look at the same moment and both
    // write at the places they found, then one more is created as usual
    let _refused = ports.lookups.look_before_create(None, &["A"]).await.unwrap();
    let (one, two) = (new_order(&customer), new_order(&customer));
    let (look_one, look_two) =
        tokio::join!(ports.lookups.look_before_create(None, &["A"]), ports.lookups.look_before_create(None, &["A"]));
    let (look_one, look_two) = (look_one.unwrap(), look_two.unwrap());
    assert_eq!(ports.orders.create_order_at(&one, None, look_one.place, true).await.unwrap(), CreateOutcome::Created);
    assert_eq!(ports.orders.create_order_at(&two, None, look_two.place, true).await.unwrap(), CreateOutcome::Created);
    let last = new_order(&customer);
    ports.orders.create_order(&last, None).await.unwrap();
    // Then the listing shows each once, newest first, the racer that wrote second above the first,
    // and the unused look leaves no gap
    let mine = ListFilter { customer_id: Some(customer), ..ListFilter::default() };
    let (ids, total, next) = page(ports, &mine, 3, PagePosition::Number(1)).await;
    assert_eq!((ids, total), (vec![last.order_id, two.order_id, one.order_id], 4));
    let (rest, _, _) = page(ports, &mine, 3, PagePosition::After(next.unwrap())).await;
    assert_eq!(rest, vec![first.order_id]);
}

pub async fn listing_pages_cursors_filters_and_totals(ports: &Ports) {
    // Given 23 orders of two customers, newest last, some cancelled and one deleted
    let mut created = Vec::new();
    for i in 0..23 {
        let order = new_order(if i % 2 == 0 { "ANN" } else { "BEN" });
        ports.orders.create_order(&order, None).await.unwrap();
        created.push(order.order_id);
    }
    for id in created.iter().step_by(4) {
        ports.orders.update_status(*id, OrderStatus::Cancelled.into(), None).await.unwrap();
    }
    ports.orders.delete_order(created[1], None).await.unwrap();
    let alive: Vec<OrderId> = created.iter().rev().copied().filter(|id| *id != created[1]).collect();
    let everything = ListFilter::default();
    // Then page by number, newest first, with the total
    let (first, total, next) = page(ports, &everything, 5, PagePosition::Number(1)).await;
    assert_eq!(total, 22);
    assert_eq!(first, alive[..5]);
    let (fifth, _, last_next) = page(ports, &everything, 5, PagePosition::Number(5)).await;
    assert_eq!(fifth, alive[20..]);
    assert_eq!(last_next, None);
    assert!(page(ports, &everything, 5, PagePosition::Number(6)).await.0.is_empty());
    // And the cursor walks the same orders once each
    let mut walked = first.clone();
    let mut cursor = next;
    while let Some(after) = cursor {
        let (ids, _, next) = page(ports, &everything, 5, PagePosition::After(after)).await;
        walked.extend(ids);
        cursor = next;
    }
    assert_eq!(walked, alive);
    // And filters narrow both the page and the total
    let cancelled = ListFilter { status: Some(OrderStatus::Cancelled), customer_id: None };
    let (ids, total, _) = page(ports, &cancelled, 100, PagePosition::Number(1)).await;
    let expected: HashSet<OrderId> = created.iter().step_by(4).copied().collect();
    assert_eq!(total, 6);
    assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), expected);
    let ann_pending = ListFilter { status: Some(OrderStatus::Pending), customer_id: Some("ANN".into()) };
    let (ids, total, _) = page(ports, &ann_pending, 100, PagePosition::Number(1)).await;
    assert_eq!(total, 6);
    assert_eq!(ids.len(), 6);
    let ben = ListFilter { status: None, customer_id: Some("BEN".into()) };
    assert_eq!(page(ports, &ben, 100, PagePosition::Number(1)).await.1, 10);
}

pub async fn status_waits_are_kept_on_existing_orders_only(ports: &Ports) {
    let order = new_order("CUST001");
    ports.orders.create_order(&order, None).await.unwrap();
    let wait = StatusWait { status: OrderStatus::Shipped, task_token: "token-1".into() };
    ports.orders.await_status(order.order_id, wait.clone()).await.unwrap();
    // Keeping a wait changes nothing a client sees
    assert_eq!(ports.orders.get_order(order.order_id).await.unwrap(), Some(order));
    assert!(matches!(ports.orders.await_status(OrderId::generate(), wait).await, Err(StoreError::NotFound(_))));
}

pub async fn a_failed_processing_fails_the_order_with_its_reason_and_no_wait(ports: &Ports) {
    // Given an order in processing whose workflow waits for it to ship
    let order = new_order("CUST001");
    let id = order.order_id;
    ports.orders.create_order(&order, None).await.unwrap();
    ports.orders.transition(id, &[OrderStatus::Pending], OrderStatus::Processing.into()).await.unwrap();
    let wait = StatusWait { status: OrderStatus::Shipped, task_token: "token-1".into() };
    ports.orders.await_status(id, wait).await.unwrap();
    assert_eq!(ports.stored_waits.task_token(id).await.as_deref(), Some("token-1"));
    // When its processing fails for good
    let reason = FailureReason::from_cause("fulfilment refused: HTTP 422");
    let in_progress = [OrderStatus::Pending, OrderStatus::Processing];
    let failed = ports.orders.fail_processing(id, &in_progress, reason.clone()).await.unwrap();
    // Then the order is failed with the reason, one version on
    assert!(failed.changed);
    assert_eq!((failed.order.status, failed.order.version), (OrderStatus::Failed, 3));
    let stored = ports.orders.get_order(id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.failure_reason.as_deref()), (OrderStatus::Failed, Some(reason.as_str())));
    // And the wait is gone with it: the change carries none for the stream to answer
    assert_eq!(ports.stored_waits.task_token(id).await, None);
    // And a second failure, or one of a missing order, is refused as a transition is
    assert!(matches!(
        ports.orders.fail_processing(id, &in_progress, reason.clone()).await,
        Err(StoreError::ConditionFailed { current: OrderStatus::Failed })
    ));
    assert!(matches!(
        ports.orders.fail_processing(OrderId::generate(), &in_progress, reason).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn the_catalog_is_replaced_whole_and_prices_known_products(ports: &Ports) {
    ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let found = ports.catalog.products(&["PROD001", "NOPE"]).await.unwrap();
    assert_eq!(found.get("PROD001").unwrap().unit_price, Money::from_cents(2550));
    assert!(found.get("NOPE").is_none());
    let apple =
        Product { product_id: "APPLE".into(), name: "Apple".into(), unit_price: Money::from_cents(29), stock: None };
    ports.catalog.replace_catalog(&ProductCatalog::new(vec![apple.clone()]).unwrap()).await.unwrap();
    let found = ports.catalog.products(&["PROD001", "APPLE"]).await.unwrap();
    assert_eq!(found.products(), vec![apple]);
}

pub async fn queues_hide_received_messages_and_delete_them(ports: &Ports) {
    let message = OutgoingMessage {
        body: json!({"job": 1}).to_string(),
        attributes: [("order_id".to_owned(), "o-1".to_owned())].into(),
    };
    ports.queues.send(QueueName::Backup, message.clone()).await.unwrap();
    let received = ports.queues.receive(QueueName::Backup, 10).await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, message.body);
    assert_eq!(received[0].attributes, message.attributes);
    assert_eq!(received[0].receive_count, 1);
    assert!(ports.queues.receive(QueueName::Backup, 10).await.unwrap().is_empty(), "in flight: hidden");
    // A released message is visible again at once
    ports.queues.release(QueueName::Backup, &received[0].receipt_handle).await.unwrap();
    let received = ports.queues.receive(QueueName::Backup, 10).await.unwrap();
    assert_eq!((received.len(), received[0].receive_count), (1, 2));
    assert_eq!(ports.queues.depth(QueueName::Backup).await.unwrap(), 1);
    ports.queues.delete(QueueName::Backup, &received[0].receipt_handle).await.unwrap();
    assert_eq!(ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
    // (a window, not a wait: past the visibility timeout nothing may come back)
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
    assert!(ports.queues.receive(QueueName::Backup, 10).await.unwrap().is_empty(), "deleted: gone for good");
}

pub async fn a_batch_delete_removes_the_messages_it_names_and_skips_stale_handles(ports: &Ports) {
    // Given three messages received together, and one received, deleted and so stale
    for job in 1..=4 {
        let message = OutgoingMessage { body: json!({"job": job}).to_string(), attributes: Default::default() };
        ports.queues.send(QueueName::Fulfilment, message).await.unwrap();
    }
    let mut received = Vec::new();
    while received.len() < 4 {
        let batch = ports.queues.receive(QueueName::Fulfilment, 10).await.unwrap();
        assert!(!batch.is_empty(), "all four are visible: {received:?}");
        received.extend(batch);
    }
    let stale = received.pop().unwrap();
    ports.queues.delete(QueueName::Fulfilment, &stale.receipt_handle).await.unwrap();
    let kept = received.pop().unwrap();

    // When two of them and the stale handle are deleted in one batch
    let batch = [received[0].receipt_handle.clone(), received[1].receipt_handle.clone(), stale.receipt_handle];
    ports.queues.delete_batch(QueueName::Fulfilment, &batch).await.unwrap();

    // Then only the one left out is still in the queue, and it comes back after its timeout
    assert_eq!(ports.queues.depth(QueueName::Fulfilment).await.unwrap(), 1);
    let again = eventually("the message left out comes back", async || {
        let back = ports.queues.receive(QueueName::Fulfilment, 10).await.map_err(|e| e.to_string())?;
        if back.is_empty() { Err("not visible yet".to_owned()) } else { Ok(back) }
    })
    .await;
    assert_eq!(again.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), [kept.body.as_str()]);
    ports.queues.delete_batch(QueueName::Fulfilment, &[again[0].receipt_handle.clone()]).await.unwrap();
    assert_eq!(ports.queues.depth(QueueName::Fulfilment).await.unwrap(), 0);
}

pub async fn a_waiting_receive_hands_over_a_message_sent_while_it_waits(ports: &Ports) {
    // Given an empty queue, and a receive waiting up to 20 s for a message
    let queues = ports.queues.clone();
    let waiting =
        tokio::spawn(async move { queues.receive_waiting(QueueName::Import, 10, Duration::from_secs(20)).await });
    // When a message is sent
    let message = OutgoingMessage { body: "late".into(), attributes: Default::default() };
    ports.queues.send(QueueName::Import, message).await.unwrap();
    // Then the waiting receive hands it over
    let received = waiting.await.unwrap().unwrap();
    assert_eq!(received.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["late"]);
    ports.queues.delete(QueueName::Import, &received[0].receipt_handle).await.unwrap();
    // And a waiting receive of a queue that stays empty ends, empty
    let nothing = ports.queues.receive_waiting(QueueName::ImportDlq, 10, Duration::from_secs(1)).await.unwrap();
    assert!(nothing.is_empty());
}

pub async fn messages_received_too_often_move_to_the_dead_letter_queue(ports: &Ports) {
    let message = OutgoingMessage { body: "poison".into(), attributes: Default::default() };
    ports.queues.send(QueueName::Fulfilment, message).await.unwrap();
    let mut receives = 0;
    eventually("the poison message in the fulfilment DLQ", async || {
        if ports.queues.depth(QueueName::FulfilmentDlq).await.unwrap() == 1 {
            return Ok(());
        }
        receives += ports.queues.receive(QueueName::Fulfilment, 10).await.unwrap().len() as u32;
        Err(format!("received {receives} times"))
    })
    .await;
    assert_eq!(receives, MAX_RECEIVE_COUNT, "delivered maxReceiveCount times");
    assert_eq!(ports.queues.depth(QueueName::FulfilmentDlq).await.unwrap(), 1);
    assert_eq!(ports.queues.depth(QueueName::Fulfilment).await.unwrap(), 0);
    let dead = ports.queues.receive(QueueName::FulfilmentDlq, 10).await.unwrap();
    assert_eq!(dead[0].body, "poison");
}

pub async fn backups_are_written_once(ports: &Ports) {
    let key = BackupKey::Version { order_id: OrderId::generate(), version: 2 };
    assert_eq!(ports.backups.put_if_absent(&key, b"{\"v\":2}").await.unwrap(), BackupWrite::Written);
    assert_eq!(ports.backups.put_if_absent(&key, b"{\"v\":\"other\"}").await.unwrap(), BackupWrite::AlreadyPresent);
    assert_eq!(ports.backups.get(&key).await.unwrap().unwrap(), b"{\"v\":2}");
    let missing = BackupKey::Tombstone { order_id: OrderId::generate() };
    assert_eq!(ports.backups.get(&missing).await.unwrap(), None);
}

pub async fn workflow_executions_start_once_per_name(ports: &Ports) {
    let name = OrderId::generate().to_string();
    let input = json!({ "order_id": name });
    let started = ports.workflow.start_execution(&name, &input).await.unwrap();
    assert!(started.newly_started);
    assert_eq!(started.execution_arn, ports.workflow.execution_arn(&name));
    assert!(started.execution_arn.as_str().starts_with("arn:aws:states:us-east-1:123456789012:execution:"));
    assert_eq!(started.execution_arn.name(), name);
    let again = ports.workflow.start_execution(&name, &input).await.unwrap();
    assert!(!again.newly_started);
    assert!(matches!(
        ports.workflow.start_execution(&name, &json!({"order_id": "other"})).await,
        Err(WorkflowError::AlreadyExists(_))
    ));
    let described = ports.workflow.describe_execution(&started.execution_arn).await.unwrap().unwrap();
    assert_eq!((described.name.as_str(), &described.input), (name.as_str(), &input));
    let unknown = ports.workflow.execution_arn(&OrderId::generate().to_string());
    assert_eq!(ports.workflow.describe_execution(&unknown).await.unwrap(), None);
    // (this order does not exist: the workflow's first step finds no pending order and ends)
    assert!(matches!(
        ports.callbacks.send_task_success("no-such-token", &json!({})).await,
        Err(CallbackError::TaskGone(_))
    ));
}

pub async fn workflow_executions_are_ensured_once_per_name(ports: &Ports) {
    // Given an execution made sure of for a name that has none
    let name = OrderId::generate().to_string();
    let input = json!({ "order_id": name });
    let arn = ports.workflow.ensure_execution(&name, &input).await.unwrap();
    // Then it is that name's execution, started with that input
    assert_eq!(arn, ports.workflow.execution_arn(&name));
    let described = ports.workflow.describe_execution(&arn).await.unwrap().unwrap();
    assert_eq!(described.input, input);
    // And making sure again, or starting it, starts nothing new
    assert_eq!(ports.workflow.ensure_execution(&name, &input).await.unwrap(), arn);
    assert!(!ports.workflow.start_execution(&name, &input).await.unwrap().newly_started);
    // And once it has ended (its order does not exist: the processing task, answered as the worker
    // answers an order that went past processing), it is still made sure of, not started again
    let task = next_task(ports).await;
    assert_eq!(task["task"], "process");
    let token = task["task_token"].as_str().unwrap();
    ports.callbacks.send_task_failure(token, "OrderNotPending", "nothing left to process").await.unwrap();
    eventually("the execution of a missing order to end", async || {
        let status = ports.workflow.describe_execution(&arn).await.unwrap().unwrap().status;
        if status == ExecutionStatus::Running { Err("running") } else { Ok(()) }
    })
    .await;
    assert_eq!(ports.workflow.ensure_execution(&name, &input).await.unwrap(), arn);
    // And another input under the same name is refused
    assert!(matches!(
        ports.workflow.ensure_execution(&name, &json!({"order_id": "other"})).await,
        Err(WorkflowError::AlreadyExists(_))
    ));
}

/// A new order whose execution has started and sent its one saga task, the order's processing
/// (taken off the queue).
async fn an_order_awaiting_its_processing(
    ports: &Ports,
) -> (orders_core::domain::Order, orders_core::ports::StartedExecution, serde_json::Value) {
    let order = new_order("CUST001");
    ports.orders.create_order(&order, None).await.unwrap();
    let name = order.order_id.to_string();
    let started = ports.workflow.start_execution(&name, &json!({ "order_id": name })).await.unwrap();
    let task = next_task(ports).await;
    (order, started, task)
}

/// The next task the workflow sends the fulfilment queue (taken off the queue).
async fn next_task(ports: &Ports) -> serde_json::Value {
    eventually("a workflow task to be sent", async || {
        let message = ports.queues.receive(QueueName::Fulfilment, 1).await.unwrap().pop()?;
        ports.queues.delete(QueueName::Fulfilment, &message.receipt_handle).await.unwrap();
        Some(serde_json::from_str::<serde_json::Value>(&message.body).unwrap())
    })
    .await
}

pub async fn a_waiting_execution_shows_its_history(ports: &Ports) {
    // Given a pending order whose execution waits on its processing task
    let (_order, started, task) = an_order_awaiting_its_processing(ports).await;
    assert_eq!(task["task"], "process");
    assert!(task["task_token"].is_string());
    assert!(task["entered_at"].as_str().is_some_and(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok()), "{task}");
    // Then the history shows where it waits
    let history = ports.workflow.history(&started.execution_arn).await.unwrap();
    assert_eq!(history.first().map(|e| e.event_type.as_str()), Some("ExecutionStarted"));
    assert!(history.windows(2).all(|w| w[0].id < w[1].id));
    assert!(history.iter().any(|e| e.state.as_deref() == Some("Process")), "{history:?}");
    assert!(
        ports
            .workflow
            .history(&ports.workflow.execution_arn(&OrderId::generate().to_string()))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_failed_task_fails_the_order_with_its_cause(ports: &Ports) {
    // Given an order whose execution waits on its processing
    let (order, started, task) = an_order_awaiting_its_processing(ports).await;
    assert_eq!(task["task"], "process");
    // When the processing fails with a cause (the hand-off refused)
    let token = task["task_token"].as_str().unwrap();
    ports.callbacks.send_task_failure(token, "FulfilmentRefused", "fulfilment refused: HTTP 422").await.unwrap();
    // Then the saga compensates first: the workflow asks for the order's stock to be released
    let task = next_task(ports).await;
    assert_eq!(
        (task["task"].as_str(), task["order_id"].as_str()),
        (Some("release"), Some(&*order.order_id.to_string()))
    );
    ports.callbacks.send_task_success(task["task_token"].as_str().unwrap(), &json!({})).await.unwrap();
    // And then marks the order failed with that cause as its reason, and the execution fails
    let failed = eventually("the order to be failed", async || {
        let order = ports.orders.get_order(order.order_id).await.unwrap()?;
        (order.status == OrderStatus::Failed).then_some(order)
    })
    .await;
    // (where the engine drops the cause, the reason is the error's name)
    let reason =
        if ports.caught_errors_keep_their_cause { "fulfilment refused: HTTP 422" } else { "FulfilmentRefused" };
    assert_eq!(failed.failure_reason.as_deref(), Some(reason));
    let execution = eventually("the execution to end", async || {
        let described = ports.workflow.describe_execution(&started.execution_arn).await.unwrap()?;
        (described.status != ExecutionStatus::Running).then_some(described)
    })
    .await;
    assert_eq!((execution.status, execution.error.as_deref()), (ExecutionStatus::Failed, Some("FulfilmentRefused")));
}

pub async fn a_client_failing_an_order_gives_the_reason(ports: &Ports) {
    // Given an order
    let order = new_order("CUST001");
    ports.orders.create_order(&order, None).await.unwrap();
    // When a client fails it, saying why
    let reason = FailureReason::parse("payment declined").unwrap();
    let to = NewStatus { status: OrderStatus::Failed, reason: Some(reason) };
    let failed = ports.orders.update_status(order.order_id, to, Some(1)).await.unwrap();
    // Then the order keeps the reason, and failing it again keeps the first one
    assert_eq!(failed.order.failure_reason.as_deref(), Some("payment declined"));
    let again = NewStatus { status: OrderStatus::Failed, reason: Some(FailureReason::parse("other").unwrap()) };
    let same = ports.orders.update_status(order.order_id, again, None).await.unwrap();
    assert!(!same.changed);
    let stored = ports.orders.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.failure_reason.as_deref(), Some("payment declined"));
}

pub async fn orders_are_restored_once_and_backups_are_listed(ports: &Ports) {
    use orders_core::ports::RestoreOutcome;
    let backup = |order: &orders_core::domain::Order| OrderBackup { order: order.clone(), idempotency: None };
    // An absent order comes back; the same version again changes nothing; a newer one replaces it
    let mut order = new_order("CUST009");
    assert_eq!(ports.orders.restore(&backup(&order)).await.unwrap(), RestoreOutcome::Restored);
    assert_eq!(ports.orders.restore(&backup(&order)).await.unwrap(), RestoreOutcome::AlreadyCurrent);
    order.version = 3;
    order.status = OrderStatus::Shipped;
    assert_eq!(ports.orders.restore(&backup(&order)).await.unwrap(), RestoreOutcome::Updated);
    assert_eq!(ports.orders.get_order(order.order_id).await.unwrap(), Some(order.clone()));
    let shipped = ListFilter { status: Some(OrderStatus::Shipped), customer_id: Some("CUST009".into()) };
    assert_eq!(page(ports, &shipped, 10, PagePosition::Number(1)).await.1, 1);
    let older = orders_core::domain::Order { version: 2, ..order.clone() };
    assert_eq!(ports.orders.restore(&backup(&older)).await.unwrap(), RestoreOutcome::AlreadyCurrent);
    // An order the store deleted stays deleted, whatever version its backup holds
    let deleted = new_order("CUST010");
    ports.orders.create_order(&deleted, None).await.unwrap();
    ports.orders.delete_order(deleted.order_id, None).await.unwrap();
    let newer = orders_core::domain::Order { version: 2, ..deleted.clone() };
    for version in [&deleted, &newer] {
        assert_eq!(ports.orders.restore(&backup(version)).await.unwrap(), RestoreOutcome::Deleted);
    }
    assert_eq!(ports.orders.get_order(deleted.order_id).await.unwrap(), None);
    // An order restored with its live idempotency binding answers its key again; an expired binding
    // does not, and a key another order holds by now stays that order's
    let keyed = new_order("CUST011");
    let key = format!("restored-{}", keyed.order_id);
    let binding = IdempotencyBinding {
        key: key.clone(),
        fingerprint: "print-r".into(),
        expires_at: now_millis() + Span::hours(1),
    };
    let restored = OrderBackup { order: keyed.clone(), idempotency: Some(binding.clone()) };
    assert_eq!(ports.orders.restore(&restored).await.unwrap(), RestoreOutcome::Restored);
    let record = ports.orders.find_idempotency(&key).await.unwrap().expect("the key answers again");
    assert_eq!((record.order_id, record.fingerprint.as_str()), (keyed.order_id, "print-r"));
    let expired = OrderBackup {
        order: new_order("CUST012"),
        idempotency: Some(IdempotencyBinding {
            key: format!("{key}-old"),
            expires_at: now_millis() - Span::hours(1),
            ..binding.clone()
        }),
    };
    assert_eq!(ports.orders.restore(&expired).await.unwrap(), RestoreOutcome::Restored);
    assert_eq!(ports.orders.find_idempotency(&format!("{key}-old")).await.unwrap(), None);
    let taken = OrderBackup { order: new_order("CUST013"), idempotency: Some(binding) };
    assert_eq!(ports.orders.restore(&taken).await.unwrap(), RestoreOutcome::Restored);
    assert_eq!(ports.orders.find_idempotency(&key).await.unwrap().unwrap().order_id, keyed.order_id);
    // Backup objects are listed by order (on S3 one key per page: listings cross pages)
    let id = OrderId::generate();
    let other = OrderId::generate();
    for key in [
        BackupKey::Version { order_id: id, version: 1 },
        BackupKey::Version { order_id: id, version: 2 },
        BackupKey::Tombstone { order_id: id },
        BackupKey::Version { order_id: other, version: 1 },
    ] {
        ports.backups.put_if_absent(&key, b"{}").await.unwrap();
    }
    let order_ids = ports.backups.order_ids().await.unwrap();
    assert!(order_ids.contains(&id) && order_ids.contains(&other), "{order_ids:?}");
    let mut keys: Vec<String> = ports.backups.keys(id).await.unwrap().iter().map(BackupKey::object_key).collect();
    keys.sort();
    assert_eq!(
        keys,
        [format!("orders/{id}/deleted.json"), format!("orders/{id}/v1.json"), format!("orders/{id}/v2.json")]
    );
    assert!(ports.backups.keys(OrderId::generate()).await.unwrap().is_empty());
}

fn product(id: &str, stock: Option<u64>) -> Product {
    Product { product_id: id.into(), name: format!("Product {id}"), unit_price: Money::from_cents(100), stock }
}

fn line(product_id: &str, quantity: u64) -> StockLine {
    StockLine { product_id: product_id.into(), quantity }
}

/// (available, reserved) of a product.
async fn stock_of(ports: &Ports, product_id: &str) -> (Option<u64>, u64) {
    let entry = ports.catalog.product(product_id).await.unwrap().unwrap();
    (entry.product.stock, entry.reserved)
}

pub async fn products_are_listed_read_and_their_stock_set_on_their_version(ports: &Ports) {
    // Given a catalog with a tracked and an untracked product
    let catalog = ProductCatalog::new(vec![product("A1", Some(120)), product("B2", None), product("C3", Some(0))]);
    ports.catalog.replace_catalog(&catalog.unwrap()).await.unwrap();
    // Then it lists by id, a page at a time, with the total
    let page = ports.catalog.list_products(1, 1).await.unwrap();
    assert_eq!((page.total, page.products.len()), (3, 1));
    assert_eq!(page.products[0].product.product_id, "B2");
    assert_eq!(page.products[0].product.stock, None);
    let a1 = ports.catalog.product("A1").await.unwrap().unwrap();
    assert_eq!((a1.product.stock, a1.reserved), (Some(120), 0));
    assert!(ports.catalog.product("NOPE").await.unwrap().is_none());
    // When the stock is set on the version read, it is; on an older version it is refused
    let updated = ports.catalog.set_stock("A1", 7, Some(a1.version)).await.unwrap();
    assert_eq!(updated.product.stock, Some(7));
    assert!(updated.version > a1.version);
    assert!(matches!(
        ports.catalog.set_stock("A1", 9, Some(a1.version)).await,
        Err(StoreError::VersionMismatch { current, .. }) if current == updated.version
    ));
    assert!(matches!(ports.catalog.set_stock("NOPE", 1, None).await, Err(StoreError::ProductNotFound(_))));
    // And an untracked product becomes tracked when its stock is set
    assert_eq!(ports.catalog.set_stock("B2", 3, None).await.unwrap().product.stock, Some(3));
}

pub async fn reservations_hold_all_lines_or_none_once_per_order(ports: &Ports) {
    // Given two tracked products and an untracked one
    let catalog = ProductCatalog::new(vec![product("A", Some(5)), product("B", Some(2)), product("U", None)]);
    ports.catalog.replace_catalog(&catalog.unwrap()).await.unwrap();
    let first = OrderId::generate();
    // When an order reserves lines of all three
    let lines = [line("A", 3), line("U", 50), line("B", 2)];
    let reserved = ports.stock.reserve(first, &lines).await.unwrap();
    // Then the tracked lines are held, and the untracked one is not counted
    assert_eq!(reserved, ReserveOutcome::Reserved { lines: vec![line("A", 3), line("B", 2)] });
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    assert_eq!(stock_of(ports, "B").await, (Some(0), 2));
    // And the same order reserving again holds nothing more
    assert_eq!(ports.stock.reserve(first, &lines).await.unwrap(), reserved);
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    // When another order asks for more than is left, nothing of it is held, and the first short
    // line is named (the same answer when asked again)
    let second = OrderId::generate();
    let refused = ports.stock.reserve(second, &[line("A", 1), line("B", 1)]).await.unwrap();
    let expected = OutOfStock { product_id: "B".into(), requested: 1, available: 0 };
    assert_eq!(refused, ReserveOutcome::OutOfStock(expected.clone()));
    assert_eq!(refused_text(&refused), "out of stock: B (requested 1, available 0)");
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    ports.catalog.set_stock("B", 10, None).await.unwrap();
    assert_eq!(ports.stock.reserve(second, &[line("A", 1), line("B", 1)]).await.unwrap(), refused);
}

fn refused_text(outcome: &ReserveOutcome) -> String {
    match outcome {
        ReserveOutcome::OutOfStock(refusal) => refusal.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn a_release_gives_units_back_once_and_a_delivery_consumes_them(ports: &Ports) {
    let catalog = ProductCatalog::new(vec![product("A", Some(10))]).unwrap();
    ports.catalog.replace_catalog(&catalog).await.unwrap();
    let (cancelled, delivered) = (OrderId::generate(), OrderId::generate());
    ports.stock.reserve(cancelled, &[line("A", 3)]).await.unwrap();
    ports.stock.reserve(delivered, &[line("A", 4)]).await.unwrap();
    assert_eq!(stock_of(ports, "A").await, (Some(3), 7));
    // When the first is released twice, its units come back once
    assert_eq!(ports.stock.release(cancelled).await.unwrap(), SettleOutcome::Settled { lines: vec![line("A", 3)] });
    assert_eq!(
        ports.stock.release(cancelled).await.unwrap(),
        SettleOutcome::AlreadySettled(ReservationState::Released)
    );
    assert_eq!(stock_of(ports, "A").await, (Some(6), 4));
    // And a late reservation of a released order holds nothing
    assert_eq!(
        ports.stock.reserve(cancelled, &[line("A", 3)]).await.unwrap(),
        ReserveOutcome::Settled(ReservationState::Released)
    );
    // When the second is delivered, its units leave for good: a release after that gives nothing back
    assert_eq!(ports.stock.consume(delivered).await.unwrap(), SettleOutcome::Settled { lines: vec![line("A", 4)] });
    assert_eq!(
        ports.stock.release(delivered).await.unwrap(),
        SettleOutcome::AlreadySettled(ReservationState::Consumed)
    );
    assert_eq!(stock_of(ports, "A").await, (Some(6), 0));
    // And an order released before it reserved anything can never reserve
    let early = OrderId::generate();
    assert_eq!(ports.stock.release(early).await.unwrap(), SettleOutcome::NothingReserved);
    assert_eq!(
        ports.stock.reserve(early, &[line("A", 1)]).await.unwrap(),
        ReserveOutcome::Settled(ReservationState::Released)
    );
    // And a catalog file read again (a restart with --catalog) keeps the stock a tracked product
    // has and the units it has reserved; a new product takes the file's stock
    let again = OrderId::generate();
    ports.stock.reserve(again, &[line("A", 2)]).await.unwrap();
    let file = ProductCatalog::new(vec![product("A", Some(50)), product("NEW", Some(7))]).unwrap();
    ports.catalog.replace_catalog(&file).await.unwrap();
    assert_eq!(stock_of(ports, "A").await, (Some(4), 2));
    assert_eq!(stock_of(ports, "NEW").await, (Some(7), 0));
    ports.stock.release(again).await.unwrap();
    assert_eq!(stock_of(ports, "A").await, (Some(6), 0));
    // And a file that lists a product without stock stops tracking it
    ports.catalog.replace_catalog(&ProductCatalog::new(vec![product("A", None)]).unwrap()).await.unwrap();
    assert_eq!(stock_of(ports, "A").await, (None, 0));
}

pub async fn concurrent_reservations_never_take_more_than_the_stock(ports: &Ports) {
    // Given 10 units and 30 orders of 1 unit each, reserving at once
    let catalog = ProductCatalog::new(vec![product("HOT", Some(10))]).unwrap();
    ports.catalog.replace_catalog(&catalog).await.unwrap();
    let attempts = (0..30).map(|_| {
        let stock = ports.stock.clone();
        tokio::spawn(async move { stock.reserve(OrderId::generate(), &[line("HOT", 1)]).await })
    });
    let mut held = 0;
    for attempt in attempts {
        // (an attempt that kept losing to others gives up as passing trouble, retried by its queue)
        if let Ok(ReserveOutcome::Reserved { .. }) = attempt.await.unwrap() {
            held += 1;
        }
    }
    // Then exactly the 10 units are held, and none is left
    assert_eq!(held, 10);
    assert_eq!(stock_of(ports, "HOT").await, (Some(0), 10));
}

pub async fn an_order_of_a_hundred_tracked_lines_is_reserved_and_released_whole(ports: &Ports) {
    // Given 100 tracked products (more than one DynamoDB transaction holds with the record)
    let products: Vec<Product> = (0..100).map(|i| product(&format!("P{i:03}"), Some(1))).collect();
    ports.catalog.replace_catalog(&ProductCatalog::new(products).unwrap()).await.unwrap();
    let lines: Vec<StockLine> = (0..100).map(|i| line(&format!("P{i:03}"), 1)).collect();
    // When one order takes every one of them
    let order = OrderId::generate();
    assert!(
        matches!(ports.stock.reserve(order, &lines).await.unwrap(), ReserveOutcome::Reserved { lines } if lines.len() == 100)
    );
    assert_eq!(stock_of(ports, "P099").await, (Some(0), 1));
    // Then another order wanting the last product is refused
    let other = OrderId::generate();
    let outcome = ports.stock.reserve(other, &[line("P099", 1)]).await.unwrap();
    assert_eq!(refused_text(&outcome), "out of stock: P099 (requested 1, available 0)");
    // And releasing it gives every unit back
    assert!(
        matches!(ports.stock.release(order).await.unwrap(), SettleOutcome::Settled { lines } if lines.len() == 100)
    );
    assert_eq!(stock_of(ports, "P000").await, (Some(1), 0));
    assert_eq!(stock_of(ports, "P099").await, (Some(1), 0));
}

pub async fn a_hundred_line_order_short_on_its_last_line_holds_nothing(ports: &Ports) {
    let mut products: Vec<Product> = (0..99).map(|i| product(&format!("P{i:03}"), Some(1))).collect();
    products.push(product("LAST", Some(0)));
    ports.catalog.replace_catalog(&ProductCatalog::new(products).unwrap()).await.unwrap();
    let mut lines: Vec<StockLine> = (0..99).map(|i| line(&format!("P{i:03}"), 1)).collect();
    lines.push(line("LAST", 1));
    let outcome = ports.stock.reserve(OrderId::generate(), &lines).await.unwrap();
    assert_eq!(refused_text(&outcome), "out of stock: LAST (requested 1, available 0)");
    assert_eq!(stock_of(ports, "P000").await, (Some(1), 0));
}

/// An order of `lines` (product, units), created pending.
async fn an_order_of(ports: &Ports, lines: &[(&str, u32)]) -> orders_core::domain::Order {
    let mut order = new_order("CUST042");
    order.items = lines
        .iter()
        .map(|(product_id, quantity)| OrderItem {
            product_id: (*product_id).to_owned(),
            quantity: *quantity,
            unit_price: Money::from_cents(100),
            line_total: Money::from_cents(100 * i64::from(*quantity)),
        })
        .collect();
    ports.orders.create_order(&order, None).await.unwrap();
    order
}

/// The products a workflow's input names for the order (what the processing task is handed).
fn products_of(order: &orders_core::domain::Order) -> Vec<String> {
    let input = orders_core::application::execution_input(order);
    serde_json::from_value(input["product_ids"].clone()).unwrap()
}

fn started(outcome: ProcessingStart) -> (orders_core::domain::Order, Vec<StockLine>) {
    match outcome {
        ProcessingStart::Started { order, reserved } => (order, reserved),
        other => panic!("expected the processing to start, got {other:?}"),
    }
}

pub async fn processing_begins_with_the_reservation_the_status_and_the_wait_at_once(ports: &Ports) {
    // Given a tracked product with 5 units and an untracked one
    let catalog = ProductCatalog::new(vec![product("A", Some(5)), product("U", None)]).unwrap();
    ports.catalog.replace_catalog(&catalog).await.unwrap();
    let processing = ListFilter { status: Some(OrderStatus::Processing), customer_id: Some("CUST042".into()) };
    // When a pending order of both begins its processing
    let order = an_order_of(ports, &[("A", 3), ("U", 7)]).await;
    let wait = StatusWait { status: OrderStatus::Delivered, task_token: "token-1".into() };
    let (begun, reserved) =
        started(ports.stock.begin_processing(order.order_id, &wait, &products_of(&order)).await.unwrap());
    // Then its tracked units are held, it is processing (a new version), and listed so
    assert_eq!(reserved, [line("A", 3)]);
    assert_eq!((begun.status, begun.version), (OrderStatus::Processing, 2));
    assert_eq!(ports.orders.get_order(order.order_id).await.unwrap(), Some(begun.clone()));
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    assert_eq!(page(ports, &processing, 10, PagePosition::Number(1)).await.1, 1);
    // And beginning again (a redelivered task, a new token) holds nothing more and moves nothing
    let again = StatusWait { task_token: "token-2".into(), ..wait.clone() };
    let (same, reserved_again) = started(ports.stock.begin_processing(order.order_id, &again, &[]).await.unwrap());
    assert_eq!((same, reserved_again), (begun, reserved));
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    assert_eq!(page(ports, &processing, 10, PagePosition::Number(1)).await.1, 1);
    // When another order wants more than is left, nothing is held and it stays pending
    let short = an_order_of(ports, &[("A", 3)]).await;
    assert_eq!(
        ports.stock.begin_processing(short.order_id, &wait, &products_of(&short)).await.unwrap(),
        ProcessingStart::OutOfStock(OutOfStock { product_id: "A".into(), requested: 3, available: 2 })
    );
    assert_eq!(ports.orders.get_order(short.order_id).await.unwrap().unwrap().status, OrderStatus::Pending);
    // And a cancelled order, a deleted one, one never stored, and one a client shipped first do not
    // begin
    let cancelled = an_order_of(ports, &[("A", 1)]).await;
    ports.orders.update_status(cancelled.order_id, OrderStatus::Cancelled.into(), None).await.unwrap();
    assert_eq!(
        ports.stock.begin_processing(cancelled.order_id, &wait, &products_of(&cancelled)).await.unwrap(),
        ProcessingStart::Stopped(OrderStopped::Cancelled)
    );
    let deleted = an_order_of(ports, &[("A", 1)]).await;
    ports.orders.delete_order(deleted.order_id, None).await.unwrap();
    assert_eq!(
        ports.stock.begin_processing(deleted.order_id, &wait, &products_of(&deleted)).await.unwrap(),
        ProcessingStart::Stopped(OrderStopped::Deleted)
    );
    assert_eq!(
        ports.stock.begin_processing(OrderId::generate(), &wait, &["A".to_owned()]).await.unwrap(),
        ProcessingStart::NotStored
    );
    let shipped = an_order_of(ports, &[("A", 1)]).await;
    ports.orders.update_status(shipped.order_id, OrderStatus::Processing.into(), None).await.unwrap();
    ports.orders.update_status(shipped.order_id, OrderStatus::Shipped.into(), None).await.unwrap();
    assert_eq!(
        ports.stock.begin_processing(shipped.order_id, &wait, &products_of(&shipped)).await.unwrap(),
        ProcessingStart::NotPending(OrderStatus::Shipped)
    );
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    // And an order shipped after its processing began goes on with its reservation
    ports.orders.update_status(order.order_id, OrderStatus::Shipped.into(), None).await.unwrap();
    let (shipped_on, kept) = started(ports.stock.begin_processing(order.order_id, &again, &[]).await.unwrap());
    assert_eq!((shipped_on.status, kept), (OrderStatus::Shipped, vec![line("A", 3)]));
}

pub async fn processing_an_order_of_more_lines_than_one_transaction_holds_begins_whole(ports: &Ports) {
    // Given 100 tracked products, and an order of every one of them
    let products: Vec<Product> = (0..100).map(|i| product(&format!("P{i:03}"), Some(2))).collect();
    ports.catalog.replace_catalog(&ProductCatalog::new(products).unwrap()).await.unwrap();
    let ids: Vec<String> = (0..100).map(|i| format!("P{i:03}")).collect();
    let lines: Vec<(&str, u32)> = ids.iter().map(|id| (id.as_str(), 1)).collect();
    let order = an_order_of(ports, &lines).await;
    // When its processing begins
    let wait = StatusWait { status: OrderStatus::Delivered, task_token: "token-1".into() };
    let (begun, reserved) =
        started(ports.stock.begin_processing(order.order_id, &wait, &products_of(&order)).await.unwrap());
    // Then every line is held and the order is processing
    assert_eq!((begun.status, reserved.len()), (OrderStatus::Processing, 100));
    assert_eq!(stock_of(ports, "P099").await, (Some(1), 1));
    // And delivered, then consumed as the change reactions consume a delivery that could not
    // hold its consumption in its own write (DynamoDB: more lines than fit beside the order), every
    // unit leaves the stock once
    ports.orders.update_status(order.order_id, OrderStatus::Shipped.into(), None).await.unwrap();
    ports.orders.update_status(order.order_id, OrderStatus::Delivered.into(), None).await.unwrap();
    ports.stock.consume(order.order_id).await.unwrap();
    assert_eq!(stock_of(ports, "P000").await, (Some(1), 0));
    assert_eq!(stock_of(ports, "P099").await, (Some(1), 0));
}

pub async fn a_delivery_consumes_the_reserved_stock_in_its_own_write(ports: &Ports) {
    // Given an order of 3 tracked units whose processing has begun
    let catalog = ProductCatalog::new(vec![product("A", Some(5)), product("U", None)]).unwrap();
    ports.catalog.replace_catalog(&catalog).await.unwrap();
    let order = an_order_of(ports, &[("A", 3), ("U", 1)]).await;
    let wait = StatusWait { status: OrderStatus::Delivered, task_token: "token-1".into() };
    started(ports.stock.begin_processing(order.order_id, &wait, &products_of(&order)).await.unwrap());
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3));
    // When it is shipped, then delivered
    ports.orders.update_status(order.order_id, OrderStatus::Shipped.into(), None).await.unwrap();
    assert_eq!(stock_of(ports, "A").await, (Some(2), 3), "shipping consumes nothing");
    let delivered = ports.orders.update_status(order.order_id, OrderStatus::Delivered.into(), None).await.unwrap();
    // Then its units left the stock with the delivery, once: nothing is left to consume
    assert_eq!(delivered.order.status, OrderStatus::Delivered);
    assert_eq!(stock_of(ports, "A").await, (Some(2), 0));
    assert_eq!(
        ports.stock.consume(order.order_id).await.unwrap(),
        SettleOutcome::AlreadySettled(ReservationState::Consumed)
    );
    assert_eq!(stock_of(ports, "A").await, (Some(2), 0));
}
