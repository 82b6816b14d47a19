//! The embedded default's create: the order and the start of its workflow execution are one write,
//! so neither is ever stored without the other, and a repeat starts nothing.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use orders_core::adapters::embedded::{DATABASE_FILE, EmbeddedConfig, QueueSettings, WorkflowLocation};
use orders_core::application::CreateOrder;
use orders_core::domain::{NewOrder, NewOrderItem};
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
async fn a_created_order_has_its_execution_and_a_repeat_starts_none() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    let service = system.ports.order_service();
    // When an order is created with a key, and the same request comes again
    let created = service.create_order(request(Some("key-1"))).await.unwrap();
    let repeated = service.create_order(request(Some("key-1"))).await.unwrap();
    // Then the repeat answers the first order, and one execution exists: the order's, running
    assert!(repeated.replayed);
    assert_eq!((repeated.order_id, &repeated.execution_arn), (created.order_id, &created.execution_arn));
    assert_eq!(executions(&dir), 1);
    let arn: ExecutionArn = created.execution_arn.parse().unwrap();
    let execution = system.ports.workflow.describe_execution(&arn).await.unwrap().unwrap();
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert!(system.database.get_order(created.order_id).await.unwrap().is_some());
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

// One thread: nothing the create spawns runs before the queue is read, so what is read there is
// what the create's own write stored.
#[tokio::test]
async fn a_created_orders_first_task_is_sent_and_submitted_in_the_create_itself() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    // When an order is created (nothing drives the workflow afterwards: the pipeline is not running)
    let created = system.ports.order_service().create_order(request(None)).await.unwrap();
    // Then, as the create returns, the order is on the fulfilment queue with its task's token, and
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
    assert!(system.database.get_order(created.order_id).await.unwrap().is_some());
    assert!(messages[0]["task_token"].as_str().is_some_and(|token| !token.is_empty()), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_message_that_cannot_be_sent_leaves_no_execution_and_the_order_unstarted() {
    let dir = tempfile::tempdir().unwrap();
    let system = system(&dir).await;
    // Given a queue that refuses messages (as a full disk or a constraint would)
    refuse_inserts(&dir, "queue_messages");
    // When a client creates an order
    let created = system.ports.order_service().create_order(request(None)).await.unwrap();
    // Then the order is kept, but neither its execution nor a message half of one: its change
    // record starts the workflow once the queue takes messages again
    assert!(system.database.get_order(created.order_id).await.unwrap().is_some());
    assert_eq!(executions(&dir), 0);
    assert!(fulfilment_messages(&dir).is_empty());
}
