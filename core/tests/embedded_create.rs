//! The embedded default's create writes the order and its change record; the change starts the
//! order's workflow execution (in one write with its first task's message), and a client asking
//! for the execution before that finds it started. A repeat starts no second one.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use orders_core::adapters::embedded::{DATABASE_FILE, EmbeddedConfig, QueueSettings, WorkflowLocation};
use orders_core::application::{CreateOrder, OrderError, ensure_order_workflow};
use orders_core::domain::{NewOrder, NewOrderItem, OrderId, OrderStatus};
use orders_core::ports::{ExecutionArn, ExecutionStatus, OrderStore};
use orders_core::wiring::{EmbeddedSystem, wire_embedded};

async fn system(dir: &tempfile::TempDir) -> EmbeddedSystem {
    let config = EmbeddedConfig {
        data_dir: dir.path().to_owned(),
        location: WorkflowLocation::default(),
        queue_settings: QueueSettings { visibility_timeout: Duration::from_secs(30), max_receive_count: 5 },
    };
    wire_embedded(&config).await.unwrap()
}

fn request(key: Option<&str>) -> CreateOrder {
    CreateOrder {
        order: NewOrder {
            customer_id: "CUST001".into(),
            items: vec![NewOrderItem { product_id: "PROD001".into(), quantity: 1 }],
        },
        idempotency_key: key.map(str::to_owned),
        key_lifetime: None,
        correlation_id: None,
    }
}

fn executions(dir: &tempfile::TempDir) -> i64 {
    let file = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    file.query_row("SELECT COUNT(*) FROM executions", [], |row| row.get(0)).unwrap()
}

/// Makes every insert into `table` fail, as a fault in the file would.
fn refuse_inserts(dir: &tempfile::TempDir, table: &str) {
    let file = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    file.execute_batch(&format!(
        "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}
         BEGIN SELECT RAISE(FAIL, 'injected fault: no room in {table}'); END;"
    ))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_orders_execution_is_there_when_the_client_asks_and_a_repeat_starts_no_second_one() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    let service = system.ports.order_service();
    // When an order is created with a key (nothing reads the change feed: the pipeline is not
    // running, so its change record has not started the execution yet)
    let created = service.create_order(request(Some("key-1"))).await.unwrap();
    assert!(system.database.get_order(created.order_id).await.unwrap().is_some());
    assert_eq!(executions(&dir), 0);
    // Then the client asking for the execution the create named finds it running
    let arn: ExecutionArn = created.execution_arn.parse().unwrap();
    let execution = service.describe_execution(&arn).await.unwrap();
    assert_eq!((execution.status, execution.name.as_str()), (ExecutionStatus::Running, &*created.order_id.to_string()));
    // And the same request again answers the first order, with no second execution
    let repeated = service.create_order(request(Some("key-1"))).await.unwrap();
    assert!(repeated.replayed);
    assert_eq!((repeated.order_id, &repeated.execution_arn), (created.order_id, &created.execution_arn));
    assert_eq!(executions(&dir), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_arn_of_no_pending_order_is_not_found_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    let service = system.ports.order_service();
    // Given an order created and cancelled before its change record started its execution, and a
    // pending one
    let created = service.create_order(request(None)).await.unwrap();
    service.update_status(created.order_id, OrderStatus::Cancelled.into(), None).await.unwrap();
    let pending = service.create_order(request(None)).await.unwrap();
    // When a client asks for the cancelled one's execution, for one of an order that never was, and
    // for one named by the pending order under another state machine
    let arn: ExecutionArn = created.execution_arn.parse().unwrap();
    let unknown = system.ports.workflow.execution_arn(&OrderId::generate().to_string());
    let elsewhere = ExecutionArn::for_execution(
        "arn:aws:states:us-east-1:123456789012:stateMachine:Elsewhere",
        &pending.order_id.to_string(),
    )
    .unwrap();
    // Then none is found, and nothing started
    for asked in [&arn, &unknown, &elsewhere] {
        assert!(matches!(service.describe_execution(asked).await, Err(OrderError::ExecutionNotFound)), "{asked}");
    }
    assert_eq!(executions(&dir), 0);
}

/// Undoes [`refuse_inserts`].
fn allow_inserts(dir: &tempfile::TempDir, table: &str) {
    let file = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    file.execute_batch(&format!("DROP TRIGGER refuse_{table}")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_that_cannot_be_written_leaves_no_execution_behind() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    // Given orders that cannot be written (as a constraint the order breaks would refuse it)
    refuse_inserts(&dir, "orders");
    // When a client creates an order
    let refused = system.ports.order_service().create_order(request(None)).await;
    // Then the create fails, and its execution was not started either
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(executions(&dir), 0);
}

fn fulfilment_messages(dir: &tempfile::TempDir) -> Vec<serde_json::Value> {
    let file = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let mut stmt = file.prepare("SELECT body FROM queue_messages WHERE queue = 'fulfilment'").unwrap();
    stmt.query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|body| serde_json::from_str(&body.unwrap()).unwrap())
        .collect()
}

// One thread: nothing the start spawns runs before the queue is read, so what is read there is
// what the start's own write stored.
#[tokio::test]
async fn an_orders_start_sends_and_submits_its_first_task_in_its_own_write() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    // Given a created order (nothing drives the workflow afterwards: the pipeline is not running)
    let created = system.ports.order_service().create_order(request(None)).await.unwrap();
    assert!(fulfilment_messages(&dir).is_empty());
    // When its execution starts (as its change record's reaction starts it)
    let order = system.database.get_order(created.order_id).await.unwrap().unwrap();
    ensure_order_workflow(system.ports.workflow.as_ref(), &order).await.unwrap();
    // Then, as the start returns, the order is on the fulfilment queue with its task's token, and
    // the execution's history says the task was submitted
    let messages = fulfilment_messages(&dir);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["order_id"], created.order_id.to_string());
    let history = system.workflow.executor().get_execution_history(&created.execution_arn).await.unwrap();
    let kinds: Vec<String> = history.iter().map(|event| event.event_type.to_string()).collect();
    assert_eq!(
        kinds,
        ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted"],
        "{history:?}"
    );
    assert!(messages[0]["task_token"].as_str().is_some_and(|token| !token.is_empty()), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_message_that_cannot_be_sent_leaves_no_execution_and_the_start_goes_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    let created = system.ports.order_service().create_order(request(None)).await.unwrap();
    let order = system.database.get_order(created.order_id).await.unwrap().unwrap();
    // Given a queue that refuses messages (as a full disk or a constraint would)
    refuse_inserts(&dir, "queue_messages");
    // When the order's execution starts
    let refused = ensure_order_workflow(system.ports.workflow.as_ref(), &order).await;
    // Then the start fails whole: neither the execution nor a message half of one is kept
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(executions(&dir), 0);
    assert!(fulfilment_messages(&dir).is_empty());
    // And once the queue takes messages again, the start (its change record's, delivered again)
    // stores both
    allow_inserts(&dir, "queue_messages");
    ensure_order_workflow(system.ports.workflow.as_ref(), &order).await.unwrap();
    assert_eq!((executions(&dir), fulfilment_messages(&dir).len()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_asking_and_the_change_feed_starting_at_once_make_one_execution() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    let service = system.ports.order_service();
    // Given a created order whose change record has not started its execution yet
    let created = service.create_order(request(None)).await.unwrap();
    let order = system.database.get_order(created.order_id).await.unwrap().unwrap();
    let arn: ExecutionArn = created.execution_arn.parse().unwrap();
    // When clients ask for its execution while the change feed's reaction starts it, all at once
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..16 {
        let (service, workflow, order, arn) =
            (service.clone(), system.ports.workflow.clone(), order.clone(), arn.clone());
        racing.spawn(async move {
            if n % 2 == 0 {
                service.describe_execution(&arn).await.map(|execution| execution.status).map_err(|e| e.to_string())
            } else {
                ensure_order_workflow(workflow.as_ref(), &order)
                    .await
                    .map(|()| ExecutionStatus::Running)
                    .map_err(|e| e.to_string())
            }
        });
    }
    // Then every one of them finds it running, and there is one execution with one message
    while let Some(outcome) = racing.join_next().await {
        assert_eq!(outcome.unwrap(), Ok(ExecutionStatus::Running));
    }
    assert_eq!((executions(&dir), fulfilment_messages(&dir).len()), (1, 1));
}
