//! The workers' Lambda binaries run as Lambda runs them: started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at a local Runtime API, handed real event shapes, answering with (partial) batch
//! responses, and doing their work on a deployment in moto; what they count read back from the
//! Embedded Metric Format lines they print.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/emf.rs"]
mod emf;
#[path = "../../tests/support/moto.rs"]
mod moto;
#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use deployment::Deployment;
use emf::Emf;
use orders_core::application::BackupJob;
use orders_core::domain::{Money, Order, OrderId, OrderItem, OrderStatus, ProductCatalog};
use orders_core::ports::{BackupKey, QueueName};
use runtime_api::{Invocation, RuntimeApi, spawn_function};
use serde_json::{Value, json};

/// The metrics' namespace the tests give the functions (the template gives one per stack).
const NAMESPACE: &str = "OrderPipeline/lambda-tests";

async fn start(binary: &str, deployment: &Deployment) -> (RuntimeApi, runtime_api::FunctionProcess) {
    let api = RuntimeApi::start().await;
    let mut env = deployment.function_env();
    env.push(("METRICS_NAMESPACE", NAMESPACE.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = spawn_function(binary, &api, &env).await;
    (api, function)
}

fn sqs_event(bodies: &[(&str, String)]) -> Value {
    sqs_event_with_attributes(bodies, json!({}))
}

/// An SQS event whose every record carries `attributes` (SQS message attributes, as Lambda shows them).
fn sqs_event_with_attributes(bodies: &[(&str, String)], attributes: Value) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": format!("handle-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1732520000000"},
                "messageAttributes": attributes, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lambda-backup", "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Serves `receiver` at a `/hook` URL on loopback, keeps `secret` in Secrets Manager as
/// `secret_name`, and starts the fulfilment function configured with that URL and the secret's ARN.
async fn start_handing_off_to(
    deployment: &Deployment,
    receiver: axum::Router,
    secret_name: &str,
    secret: &str,
) -> (RuntimeApi, runtime_api::FunctionProcess) {
    let secrets = &deployment.system.clients.secrets;
    let created = secrets.create_secret().name(secret_name).secret_string(secret).send().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let api = RuntimeApi::start().await;
    let mut env = deployment.function_env();
    env.push(("FULFILMENT_WEBHOOK_URL", url));
    env.push(("FULFILMENT_WEBHOOK_SECRET_ARN", created.arn.unwrap()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = spawn_function(env!("CARGO_BIN_EXE_fulfilment"), &api, &env).await;
    (api, function)
}

/// The invocation's span among a JSON log line's spans.
fn invocation(line: &Value) -> Value {
    let spans = line["spans"].as_array().unwrap_or_else(|| panic!("no spans: {line}"));
    spans.iter().find(|span| span["name"] == "invocation").cloned().unwrap_or_else(|| panic!("{line}"))
}

fn order(version: u64) -> Order {
    let now = orders_core::domain::order::now_millis();
    Order {
        order_id: OrderId::generate(),
        customer_id: "CUST001".into(),
        items: Vec::new(),
        total_amount: Money::from_cents(15075),
        status: OrderStatus::Shipped,
        version,
        created_at: now,
        updated_at: now,
        execution_arn: None,
        failure_reason: None,
        correlation_id: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backup_function_writes_to_s3_and_parks_the_bad_record_in_its_dlq_with_the_reason() {
    let deployment = Deployment::start().await;
    let (api, function) = start(env!("CARGO_BIN_EXE_backup"), &deployment).await;
    let order = order(3);
    let job = serde_json::to_string(&BackupJob::Version { order: order.clone(), idempotency: None }).unwrap();
    let answer = api.invoke(sqs_event(&[("good", job), ("bad", "{not json".into())])).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let dead = deployment.system.ports.queues.receive(QueueName::BackupDlq, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{}", function.output());
    assert_eq!(dead[0].body, "{not json");
    assert_eq!(dead[0].attributes["source_message_id"], "bad");
    assert!(dead[0].attributes["reason"].starts_with("malformed message:"), "{:?}", dead[0].attributes);
    let stored = deployment
        .system
        .ports
        .backups
        .get(&BackupKey::Version { order_id: order.order_id, version: 3 })
        .await
        .unwrap();
    let stored: Order = serde_json::from_slice(&stored.unwrap()).unwrap();
    assert_eq!(stored, order);
    // The logs are JSON lines, the first invocation's marked as the cold start
    let output = function.output();
    let line = output.lines().find(|l| l.contains("backup written")).unwrap();
    let log: Value = serde_json::from_str(line).unwrap();
    assert_eq!(log["level"], "INFO");
    assert_eq!(invocation(&log)["cold_start"], true, "{line}");
    // And its metrics, in the stack's namespace with the function's name: one cold start, the
    // backup's lag, the parked record
    let metrics = Emf::parse(&output);
    assert!(metrics.data.iter().all(|d| d.namespace == NAMESPACE), "{output}");
    let backup = [("function", "backup")];
    assert_eq!(metrics.sum("cold_starts", &backup), 1.0, "{output}");
    let lag = metrics.values("backup_lag_seconds", &backup);
    assert_eq!(lag.len(), 1, "{output}");
    assert!(lag[0] >= 0.0 && lag[0] < 60.0, "{lag:?}");
    assert!(metrics.matching("backup_lag_seconds", &backup).all(|d| d.unit.as_deref() == Some("Seconds")));
    assert_eq!(metrics.sum("dlq_messages_parked", &[("function", "backup"), ("queue", "backup")]), 1.0, "{output}");

    // When the operator replays the parked job (now fixed) and it is delivered again
    let mut replayed = order.clone();
    replayed.version = 4;
    let job = serde_json::to_string(&BackupJob::Version { order: replayed, idempotency: None }).unwrap();
    let from_dlq = json!({"replayed_from": {"stringValue": "backup-dlq", "dataType": "String"}});
    let answer = api.invoke(sqs_event_with_attributes(&[("again", job)], from_dlq)).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    // Then it counts as a replay, and the warm invocation as no cold start
    let output = function.output();
    let metrics = Emf::parse(&output);
    assert_eq!(metrics.sum("dlq_replays", &[("function", "backup"), ("queue", "backup")]), 1.0, "{output}");
    assert_eq!(metrics.sum("cold_starts", &backup), 1.0, "{output}");
    let warm = output.lines().filter(|l| l.contains("backup written")).nth(1).unwrap();
    assert_eq!(invocation(&serde_json::from_str(warm).unwrap())["cold_start"], false, "{warm}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_function_writes_a_stream_event_s_backups_to_s3_without_the_backup_queue() {
    let deployment = Deployment::start().await;
    let (api, function) = start(env!("CARGO_BIN_EXE_stream"), &deployment).await;
    let event: Value = serde_json::from_str(include_str!("fixtures/dynamodb-stream-modify.json")).unwrap();
    let answer = api.invoke(event).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    // The backups are written before the batch is answered: version 3 of one order, the other's
    // tombstone; no job went to the backup queue (it only carries the writes that fail)
    let backups = &deployment.system.ports.backups;
    let changed: OrderId = "550e8400-e29b-41d4-a716-446655440000".parse().unwrap();
    let deleted: OrderId = "6fa459ea-ee8a-3ca4-894e-db77e160355e".parse().unwrap();
    let version = backups.get(&BackupKey::Version { order_id: changed, version: 3 }).await.unwrap();
    assert!(version.is_some(), "{}", function.output());
    let tombstone = backups.get(&BackupKey::Tombstone { order_id: deleted }).await.unwrap();
    assert!(tombstone.is_some(), "{}", function.output());
    assert_eq!(deployment.system.ports.queues.depth(QueueName::Backup).await.unwrap(), 0);
    // And each backup's lag from its change is a metric of the stream function
    let metrics = Emf::parse(&function.output());
    assert_eq!(metrics.values("backup_lag_seconds", &[("function", "stream")]).len(), 2, "{}", function.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fulfilment_function_answers_tasks_and_parks_the_malformed_record_in_its_dlq() {
    let deployment = Deployment::start().await;
    let (api, function) = start(env!("CARGO_BIN_EXE_fulfilment"), &deployment).await;
    let event: Value = serde_json::from_str(include_str!("fixtures/sqs-fulfilment-batch.json")).unwrap();
    let answer = api.invoke(event).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let dead = deployment.system.ports.queues.receive(QueueName::FulfilmentDlq, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{}", function.output());
    assert_eq!(dead[0].attributes["source_message_id"], "2e1424d4-f796-459a-8184-9c92662be6da");
    assert!(dead[0].attributes["reason"].contains("launch_rockets"), "{:?}", dead[0].attributes);
    let metrics = Emf::parse(&function.output());
    let parked = [("function", "fulfilment"), ("queue", "fulfilment")];
    assert_eq!(metrics.sum("dlq_messages_parked", &parked), 1.0, "{}", function.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_missing_its_configuration_stops_at_start_naming_it() {
    let api = RuntimeApi::start().await;
    let mut function = spawn_function(env!("CARGO_BIN_EXE_backup"), &api, &[]).await;
    let status = function.wait_exit(Duration::from_secs(10)).await.expect("it stops by itself");
    assert!(!status.success());
    let output = function.output();
    assert!(output.contains("environment variables BACKUP_BUCKET, BACKUP_DLQ_URL are required"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_import_function_creates_orders_and_rejects_the_invalid_to_the_dlq() {
    let deployment = Deployment::start().await;
    deployment.system.ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let (api, function) = start(env!("CARGO_BIN_EXE_import"), &deployment).await;
    let good = json!({"client_reference": "L-1", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 2}]}});
    let bad = json!({"client_reference": "L-2", "order": {"customer_id": "ERP", "items": [{"product_id": "NOPE", "quantity": 1}]}});
    let event = json!({"Records": [
        {"messageId": "i-1", "receiptHandle": "h-1", "body": json!({"orders": [good, bad]}).to_string(),
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lambda-import", "awsRegion": "us-east-1"}
    ]});
    let answer = api.invoke(event).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let listing = deployment.system.ports.order_service().list_orders(Default::default()).await.unwrap();
    assert_eq!(listing.total, 1);
    let rejects = deployment.system.ports.queues.receive(QueueName::ImportDlq, 10).await.unwrap();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].attributes["client_reference"], "L-2");
    // And the entries are counted by outcome, the order as created, the refusal as parked
    let output = function.output();
    let metrics = Emf::parse(&output);
    let import = |outcome| [("function", "import"), ("outcome", outcome)];
    assert_eq!(metrics.sum("import_entries", &import("accepted")), 1.0, "{output}");
    assert_eq!(metrics.sum("import_entries", &import("refused")), 1.0, "{output}");
    assert_eq!(metrics.sum("orders_created", &[("function", "import")]), 1.0, "{output}");
    assert_eq!(metrics.sum("dlq_messages_parked", &[("function", "import"), ("queue", "import")]), 1.0, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fulfilment_function_signs_its_hand_off_with_the_secret_it_reads_from_secrets_manager() {
    // Given a deployment whose webhook secret is in Secrets Manager, and a merchant's receiver
    let deployment = Deployment::start().await;
    let secret = "whsec_lambda_0123456789abcdef";
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| async move {
            let signature = headers["x-orders-signature"].to_str().unwrap().to_owned();
            record.lock().unwrap().push((signature, body));
            axum::http::StatusCode::ACCEPTED
        }),
    );
    // And an order to hand off
    let mut order = order(2);
    order.status = OrderStatus::Processing;
    deployment.system.ports.orders.create_order(&order, None).await.unwrap();
    // When the function, configured with the webhook's URL and the secret's ARN, gets the task
    let (api, function) = start_handing_off_to(&deployment, receiver, "lambda/fulfilment-webhook", secret).await;
    let task = json!({"task": "hand_off", "order_id": order.order_id, "task_token": "an-answered-token"});
    let answer = api.invoke(sqs_event(&[("m-1", task.to_string())])).await;
    // Then the receiver got the order once, signed with that secret
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{}", function.output());
    let (signature, body) = &received[0];
    let timestamp: i64 = signature.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(signature, &orders_core::adapters::webhook::signature(secret, timestamp, body.as_bytes()));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["order"]["order_id"], order.order_id.to_string());
    // And the hand-off is counted as accepted, with how long the merchant took
    let metrics = Emf::parse(&function.output());
    let fulfilment = [("function", "fulfilment")];
    assert_eq!(metrics.sum("webhook_handoffs", &[("function", "fulfilment"), ("outcome", "accepted")]), 1.0);
    assert_eq!(metrics.values("webhook_handoff_seconds", &fulfilment).len(), 1, "{}", function.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fulfilment_function_counts_a_refused_hand_off_and_the_order_it_fails() {
    // Given a merchant's receiver that refuses every order, and an order in processing
    let deployment = Deployment::start().await;
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { (axum::http::StatusCode::UNPROCESSABLE_ENTITY, "address unknown") }),
    );
    let mut order = order(2);
    order.status = OrderStatus::Processing;
    deployment.system.ports.orders.create_order(&order, None).await.unwrap();
    // When the function hands it off
    let secret = "whsec_refusing_0123456789abcdef";
    let (api, function) = start_handing_off_to(&deployment, receiver, "lambda/fulfilment-refusing", secret).await;
    let task = json!({"task": "hand_off", "order_id": order.order_id, "task_token": "a-refused-token"});
    let answer = api.invoke(sqs_event(&[("m-1", task.to_string())])).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    // Then the order failed, and the refusal and the failure are counted
    let stored = deployment.system.ports.orders.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Failed, "{}", function.output());
    let output = function.output();
    let metrics = Emf::parse(&output);
    assert_eq!(metrics.sum("webhook_handoffs", &[("function", "fulfilment"), ("outcome", "refused")]), 1.0, "{output}");
    let failed = [("function", "fulfilment"), ("reason", "fulfilment_refused")];
    assert_eq!(metrics.sum("orders_failed", &failed), 1.0, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fulfilment_function_counts_a_stock_out_and_the_order_it_fails() {
    // Given a product out of stock, and a pending order for one of it
    let deployment = Deployment::start().await;
    let ports = &deployment.system.ports;
    ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    ports.product_service().set_stock("PROD001", 0, None).await.unwrap();
    let mut order = order(1);
    order.status = OrderStatus::Pending;
    let price = Money::from_cents(2550);
    order.items = vec![OrderItem { product_id: "PROD001".into(), quantity: 1, unit_price: price, line_total: price }];
    order.total_amount = price;
    ports.orders.create_order(&order, None).await.unwrap();
    // When the workflow asks the fulfilment function to reserve its stock
    let (api, function) = start(env!("CARGO_BIN_EXE_fulfilment"), &deployment).await;
    let task = json!({"task": "reserve", "order_id": order.order_id, "task_token": "a-reserve-token"});
    let answer = api.invoke(sqs_event(&[("r-1", task.to_string())])).await;
    assert_eq!(answer, Invocation::Response(json!({"batchItemFailures": []})), "{}", function.output());
    // Then the order failed for lack of stock, and both are counted
    let stored = ports.orders.get_order(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Failed, "{}", function.output());
    let metrics = Emf::parse(&function.output());
    assert_eq!(metrics.sum("stock_outs", &[("function", "fulfilment")]), 1.0, "{}", function.output());
    let failed = [("function", "fulfilment"), ("reason", "out_of_stock")];
    assert_eq!(metrics.sum("orders_failed", &failed), 1.0, "{}", function.output());
}
