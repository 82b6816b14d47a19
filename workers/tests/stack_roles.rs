//! The functions of the deployed stack, each run as Lambda runs it (the real binary through a local
//! Runtime API) with exactly the environment the stack gave it (`GetFunctionConfiguration`) and the
//! credentials of its own role, IAM enforced (`tests/support/stack.rs`): what its role does not
//! grant, it cannot do.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/moto.rs"]
mod moto;
#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;
#[path = "../../tests/support/stack.rs"]
mod stack;
#[path = "../../tests/support/template.rs"]
mod template;

use orders_core::adapters::aws::S3BackupStore;
use orders_core::application::BackupJob;
use orders_core::domain::order::now_millis;
use orders_core::domain::{Money, Order, OrderId, OrderItem, OrderStatus, Product, ProductCatalog};
use orders_core::ports::{BackupKey, BackupStore};
use runtime_api::{FunctionProcess, Invocation, RuntimeApi, spawn_function};
use serde_json::{Value, json};
use stack::{STACK, Stack};

/// Starts `binary` as the stack's function `logical_id`: its deployed environment, its role.
async fn start_as_deployed(stack: &Stack, logical_id: &str, binary: &str) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let env = stack.function_env(logical_id);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let function = spawn_function(binary, &api, &env).await;
    (api, function)
}

fn sqs_event(queue: &str, body: &Value) -> Value {
    json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "handle-1", "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1732520000000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{STACK}-{queue}"), "awsRegion": "us-east-1"
    }]})
}

fn an_order() -> Order {
    let now = now_millis();
    let price = Money::from_cents(2550);
    Order {
        order_id: OrderId::new_random(),
        customer_id: "CUST001".into(),
        items: vec![OrderItem {
            product_id: "HOT".into(),
            quantity: 2,
            unit_price: price,
            line_total: Money::from_cents(5100),
        }],
        total_amount: Money::from_cents(5100),
        status: OrderStatus::Processing,
        version: 2,
        created_at: now,
        updated_at: now,
        execution_arn: None,
        failure_reason: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backup_and_fulfilment_functions_do_their_work_under_their_own_roles() {
    // Given the stack, IAM enforced, with an order and a tracked product put there by an operator
    let stack = Stack::deploy().await;
    let admin = stack.admin_ports().await;
    let order = an_order();
    admin.orders.create_order(&order, None).await.unwrap();
    let hot =
        Product { product_id: "HOT".into(), name: "Hot".into(), unit_price: Money::from_cents(2550), stock: Some(5) };
    admin.catalog.replace_catalog(&ProductCatalog::new(vec![hot]).unwrap()).await.unwrap();

    // When the backup function, as deployed, gets a backup job
    let (api, function) = start_as_deployed(&stack, "BackupFunction", env!("CARGO_BIN_EXE_backup")).await;
    let job = serde_json::to_value(BackupJob::Version { order: order.clone(), idempotency: None }).unwrap();
    let answer = api.invoke(sqs_event("backup", &job)).await;
    // Then it wrote the version into the stack's bucket under its role
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let bucket = S3BackupStore::new(stack.admin().await.s3, format!("{STACK}-backups-123456789012-us-east-1"));
    let key = BackupKey::Version { order_id: order.order_id, version: 2 };
    assert!(bucket.get(&key).await.unwrap().is_some(), "{}", function.output());

    // When the fulfilment function, as deployed, gets the order's reservation task
    let (api, function) = start_as_deployed(&stack, "FulfilmentFunction", env!("CARGO_BIN_EXE_fulfilment")).await;
    let task = json!({"task": "reserve", "order_id": order.order_id, "task_token": "an-answered-token"});
    let answer = api.invoke(sqs_event("fulfilment", &task)).await;
    // Then it reserved the units under its role (its record and the product, one transaction)
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let product = admin.catalog.product("HOT").await.unwrap().unwrap();
    assert_eq!((product.product.stock, product.reserved), (Some(3), 2), "{}", function.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_and_stream_functions_do_their_work_under_their_own_roles() {
    // Given the stack, IAM enforced, with the demo catalog
    let stack = Stack::deploy().await;
    let admin = stack.admin_ports().await;
    admin.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();

    // When the import function, as deployed, gets a batch with a good entry and a bad one
    let (api, function) = start_as_deployed(&stack, "ImportFunction", env!("CARGO_BIN_EXE_import")).await;
    let batch = json!({"orders": [
        {"client_reference": "ERP-1", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 1}]}},
        {"client_reference": "ERP-2", "order": {"customer_id": "ERP", "items": [{"product_id": "NOPE", "quantity": 1}]}},
    ]});
    let answer = api.invoke(sqs_event("import", &batch)).await;
    // Then the good one is created (its workflow started) and the bad one is in the import DLQ,
    // with its reason, all under the function's role
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let listed = admin
        .orders
        .list_orders(&orders_core::ports::ListRequest {
            filter: Default::default(),
            limit: 10,
            position: orders_core::ports::PagePosition::Number(1),
        })
        .await
        .unwrap();
    assert_eq!(listed.total, 1, "{}", function.output());
    let parked = admin.queues.receive(orders_core::ports::QueueName::ImportDlq, 10).await.unwrap();
    assert_eq!(parked.len(), 1, "{}", function.output());
    assert!(parked[0].attributes["reason"].contains("NOPE"), "{:?}", parked[0].attributes);

    // When the stream function, as deployed, gets the orders table's stream records
    let (api, function) = start_as_deployed(&stack, "StreamFunction", env!("CARGO_BIN_EXE_stream")).await;
    let event: Value = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let answer = api.invoke(event).await;
    // Then it queued their backup jobs under its role
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let jobs = admin.queues.receive(orders_core::ports::QueueName::Backup, 10).await.unwrap();
    assert!(!jobs.is_empty(), "{}", function.output());
}
