//! The pipeline through the deployed stack, every call under the role that makes it: the template
//! stood up in moto's CloudFormation with IAM enforced (`tests/support/stack.rs`), its five
//! functions' real binaries run as Lambda runs them with their deployed environment and role, fed
//! by the event source mappings as deployed (`tests/support/lambda_service.rs`), and the REST API
//! reached as API Gateway reaches the api function. An operator (the stack's administrator) does
//! what operators do: loads the catalog, replays a dead-letter queue, restores a backup.
//!
//! Then least privilege, measured: each role's grants beside the calls its function made
//! (`tools/moto/least_privilege.py`), kept in `docs/benchmarks/iam.md`.

use std::sync::Arc;

use futures::FutureExt;

use orders_core::adapters::aws::S3BackupStore;
use orders_core::domain::ProductCatalog;
use orders_core::ports::{OutgoingMessage, QueueName};
use orders_testkit::eventually;
use serde_json::{Value, json};

use crate::backends::{Backups, encoded};
use crate::common::{AwsTarget, orders_aws_cli_as, seed_order};
use crate::lambda_service::{DeployedFunction, EventSourceMappings, workspace_binary};
use crate::logs::{about_order, field, json_lines};
use crate::runtime_api::{rest_event, rest_response};
use crate::stack_support::{API_KEY_PARAMETER, STACK, Stack};

/// The REST API as API Gateway hands it to the api function: the stage in the path, the key checked.
struct Gateway {
    function: Arc<DeployedFunction>,
}

impl Gateway {
    /// `method path` with `body`, answered with its status and JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => {
                let pairs = query.split('&').filter_map(|pair| pair.split_once('='));
                (path, Some(pairs.map(|(k, v)| (k.to_owned(), json!(v))).collect::<serde_json::Map<_, _>>().into()))
            }
            None => (path, None),
        };
        rest_response(self.function.invoke(rest_event(method, path, query, Some(API_KEY_PARAMETER), body)).await)
    }

    /// As [`Gateway::call`], for a call that must succeed: its body.
    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert!(status < 300, "{method} {path}: {status} {answer}\n{}", self.function.output());
        answer
    }

    /// Waits until `GET path` answers 200 with a body `done` accepts, and returns it.
    async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually(format!("GET {path}"), async || {
            let (status, body) = self.call("GET", path, None).await;
            if status == 200 && done(&body) { Ok(body) } else { Err(format!("{status} {body}")) }
        })
        .await
    }
}

/// `orders ARGS` against the stack, as its administrator: whether it succeeded, and what it printed.
fn operator_run(stack: &Stack, args: &[&str]) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let (key_id, secret) = stack.admin_keys();
    let target = AwsTarget { endpoint: stack.moto.endpoint(), prefix: STACK.into() };
    orders_aws_cli_as(&target, data.path(), (&key_id, &secret), args)
}

/// As [`operator_run`], for a command that must succeed: what it printed.
fn operator(stack: &Stack, args: &[&str]) -> String {
    let (succeeded, text) = operator_run(stack, args);
    assert!(succeeded, "orders {}: {text}", args.join(" "));
    text
}

/// The binaries of the five functions, by logical id.
fn functions() -> [(&'static str, std::path::PathBuf); 5] {
    let built = env!("CARGO_BIN_EXE_orders");
    [
        ("ApiFunction", workspace_binary(built, "api")),
        ("StreamFunction", workspace_binary(built, "stream")),
        ("BackupFunction", workspace_binary(built, "backup")),
        ("FulfilmentFunction", workspace_binary(built, "fulfilment")),
        ("ImportFunction", workspace_binary(built, "import")),
    ]
}

/// The calls refused to a function's role so far (function, action, resource, count).
fn refused(stack: &Stack) -> Value {
    stack.least_privilege()["denied"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_go_through_the_deployed_stack_with_every_call_under_its_functions_role() {
    // Given the stack, IAM enforced
    let stack = Stack::deploy().await;
    // When the scenarios run (a failure among them says first which calls a role was refused: what
    // a grant missing from the template looks like)
    let outcome = std::panic::AssertUnwindSafe(scenarios(&stack)).catch_unwind().await;
    let while_broken = outcome.unwrap_or_else(|failure| {
        eprintln!("calls refused to a function's role while the scenarios ran: {:#}", refused(&stack));
        std::panic::resume_unwind(failure)
    });

    // Then least privilege, measured over all of it: no call was refused but the backup writes while
    // their grant was gone; nothing is granted that no path uses, unless documented; and every statement
    // is the only grant of some call (removing any one fails a call, and the failure names it)
    let measured = stack.least_privilege();
    println!("{}", measured["markdown"].as_str().unwrap());
    assert_eq!(measured["denied"], while_broken, "calls refused to a function's role");
    assert_eq!(
        measured["unused"],
        json!([]),
        "granted, used by no scenario, explained nowhere (docs/benchmarks/iam.md)"
    );
    assert_eq!(measured["redundant"], json!([]), "statements that permit no call on their own");
}

/// The scenarios, each call under its function's role; returns the calls refused while the backup
/// writers' grant was gone.
async fn scenarios(stack: &Stack) -> Value {
    // Given the demo catalog loaded by an operator
    let admin = stack.admin_ports().await;
    admin.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    // And each function running as deployed, fed by its event source mappings as deployed
    let mut running = Vec::new();
    for (logical_id, binary) in functions() {
        running.push(DeployedFunction::start(stack, logical_id, &binary).await);
    }
    let _mappings = EventSourceMappings::start(stack, &running).await;
    let api = Gateway { function: running[0].clone() };
    let backups =
        Backups::Bucket(S3BackupStore::new(stack.admin().await.s3, format!("{STACK}-backups-123456789012-us-east-1")));
    let outputs = || running.iter().map(|f| format!("--- {}:\n{}", f.logical_id, f.output())).collect::<String>();

    // When a merchant tracks stock, and a client orders and the order is shipped and delivered
    api.ok("GET", "/openapi.json", None).await;
    api.ok("PUT", "/products/PROD001/stock", Some(json!({"stock": 10}))).await;
    let created = api.ok("POST", "/orders", Some(seed_order())).await;
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    let arn = created["execution_arn"].as_str().unwrap().to_owned();
    api.wait_for(&format!("/orders/{order_id}"), |o| o["status"] == "processing").await;
    // Then the processing step reserved its units
    api.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 2).await;
    for status in ["shipped", "delivered"] {
        api.ok("PUT", &format!("/orders/{order_id}/status"), Some(json!({"status": status}))).await;
    }
    // And the workflow ends, the units consumed, every version backed up
    api.wait_for(&format!("/executions/{}", encoded(&arn)), |e| e["status"] == "SUCCEEDED").await;
    api.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 0).await;
    let versions = backups.wait_for(&order_id, 4).await;
    let statuses: Vec<&Value> = versions.iter().map(|v| &v["status"]).collect();
    assert_eq!(statuses, ["pending", "processing", "shipped", "delivered"], "{}", outputs());
    // And one id follows the order through every function that handled it: its create request's
    // (API Gateway's request id, the client having sent none), on every line about the order
    let lines_of =
        |logical_id: &str| json_lines(&running.iter().find(|f| f.logical_id == logical_id).unwrap().output());
    let api_lines = lines_of("ApiFunction");
    let created_line = about_order(&api_lines, &order_id)
        .into_iter()
        .find(|line| field(line, "message") == Some("order created"))
        .unwrap_or_else(|| panic!("no 'order created' line: {}", outputs()));
    let correlation_id = field(created_line, "correlation_id").expect("the create's line carries its id").to_owned();
    for function in ["ApiFunction", "StreamFunction", "FulfilmentFunction"] {
        let lines = lines_of(function);
        let about = about_order(&lines, &order_id);
        assert!(!about.is_empty(), "{function} logged nothing about {order_id}: {}", outputs());
        let without: Vec<_> = about.iter().filter(|l| field(l, "correlation_id") != Some(&correlation_id)).collect();
        assert!(without.is_empty(), "{function}'s lines about {order_id} without {correlation_id}: {without:#?}");
    }

    // When another order is cancelled while it is processing, then its units come back
    let cancelled = api
        .ok(
            "POST",
            "/orders",
            Some(json!({"customer_id": "CUST002", "items": [{"product_id": "PROD001", "quantity": 3}]})),
        )
        .await;
    let cancelled = cancelled["order_id"].as_str().unwrap().to_owned();
    api.wait_for("/products/PROD001", |p| p["reserved"] == 3).await;
    api.ok("PUT", &format!("/orders/{cancelled}/status"), Some(json!({"status": "cancelled"}))).await;
    api.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 0).await;
    // And the client's other routes answer under the api function's role
    let listed = api.ok("GET", "/orders?limit=1&page=1", None).await;
    assert_eq!(listed["pagination"]["total"], 2, "{listed}");
    api.ok("GET", "/products", None).await;
    api.ok("POST", &format!("/orders/{order_id}/workflow"), None).await;
    backups.wait_for(&cancelled, 3).await;
    api.ok("DELETE", &format!("/orders/{cancelled}"), None).await;
    assert_eq!(api.call("GET", &format!("/orders/{cancelled}"), None).await.0, 404);

    // When a producer sends an import batch with a good entry and a bad one to the import queue
    let batch = json!({"orders": [
        {"client_reference": "ERP-1", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD002", "quantity": 1}]}},
        {"client_reference": "ERP-2", "order": {"customer_id": "ERP", "items": [{"product_id": "NOPE", "quantity": 1}]}},
    ]});
    let message = OutgoingMessage { body: batch.to_string(), ..OutgoingMessage::default() };
    admin.queues.send(QueueName::Import, message).await.unwrap();
    // Then the good one is created and processed, and the bad one is in the import DLQ with its reason
    let imported = api.wait_for("/orders?customer_id=ERP", |l| l["pagination"]["total"] == 1).await;
    let imported = imported["orders"][0]["order_id"].as_str().unwrap().to_owned();
    api.wait_for(&format!("/orders/{imported}"), |o| o["status"] == "processing").await;
    let parked = eventually("the refused entry in the import DLQ", async || {
        let parked = admin.queues.receive(QueueName::ImportDlq, 10).await.unwrap();
        parked.into_iter().next().ok_or("empty")
    })
    .await;
    assert!(parked.attributes["reason"].contains("NOPE"), "{:?}", parked.attributes);

    // When a producer sends the backup queue something that is no backup job
    let garbage = OutgoingMessage { body: json!({"not": "a backup job"}).to_string(), ..OutgoingMessage::default() };
    admin.queues.send(QueueName::Backup, garbage).await.unwrap();
    // Then the backup function parks it in the backup DLQ at once, saying why, and the operator
    // removes it after reading it
    let parked = eventually("the malformed job in the backup DLQ", async || {
        let parked = admin.queues.receive(QueueName::BackupDlq, 10).await.unwrap();
        parked.into_iter().next().ok_or("empty")
    })
    .await;
    assert!(parked.attributes["reason"].starts_with("malformed message"), "{:?}", parked.attributes);
    admin.queues.delete(QueueName::BackupDlq, &parked.receipt_handle).await.unwrap();

    assert_eq!(refused(stack), json!([]), "nothing refused to any role so far");

    // When the backups lose their grant to be written (a broken deploy: the WriteBackups statement
    // gone from both roles that write them: the stream role, which writes each new version itself,
    // and the backup role, which retries through the backup queue the writes the stream function
    // could not make), and an order changes. (With only the stream role's grant gone, the backup
    // function would write the job at once: the fallback, with no DLQ; with only the backup role's
    // gone, the stream function would write it and the backup function would never be asked.)
    backups.wait_for(&imported, 2).await;
    let writers = [("StreamFunction", "StreamFunctionRolePolicy0"), ("BackupFunction", "BackupFunctionRolePolicy0")];
    let grants: Vec<Value> = writers.iter().map(|(function, policy)| stack.role_policy(function, policy)).collect();
    for ((function, policy), granted) in writers.iter().zip(&grants) {
        let mut broken = granted.clone();
        let statements = broken["Statement"].as_array_mut().unwrap();
        let before = statements.len();
        statements.retain(|s| s["Sid"] != "WriteBackups");
        assert_eq!(statements.len(), before - 1, "{function} has its WriteBackups statement");
        stack.put_role_policy(function, policy, &broken);
    }
    // (with the deployed 180 s visibility timeout the 5 deliveries the redrive allows would take
    // 15 minutes; the redrive itself stays as deployed)
    let backup_queue = format!("{}/123456789012/{STACK}-backup", stack.moto.endpoint());
    let attributes = stack.admin().await.sqs.set_queue_attributes().queue_url(&backup_queue);
    attributes.attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1").send().await.unwrap();
    api.ok("PUT", &format!("/orders/{imported}/status"), Some(json!({"status": "shipped"}))).await;
    // Then the stream function's write is refused and it sends the job to the backup queue; the
    // backup function's writes are refused too, until the queue's redrive parks it in the backup DLQ
    eventually("the backup job moved from the backup queue to its DLQ", async || {
        let queued = admin.queues.depth(QueueName::Backup).await.unwrap();
        let parked = admin.queues.depth(QueueName::BackupDlq).await.unwrap();
        if queued == 0 && parked == 1 { Ok(()) } else { Err(format!("{queued} queued, {parked} parked")) }
    })
    .await;
    assert!(backups.version(&imported, 3).await.is_none());
    let while_broken = refused(stack);
    let denied = while_broken.as_array().unwrap();
    assert!(denied.iter().all(|d| d["action"] == "s3:PutObject"), "{denied:#?}");
    for (function, _) in writers {
        assert!(
            denied.iter().any(|d| d["function"] == function),
            "IAM is enforced: {function}'s backup write was refused while its grant was gone: {denied:#?}"
        );
    }
    assert!(denied.iter().all(|d| writers.iter().any(|(f, _)| d["function"] == *f)), "{denied:#?}");
    // When the operator restores the grants and replays the DLQ, then every version is backed up
    // (by the backup function, from the replayed job)
    for ((function, policy), granted) in writers.iter().zip(&grants) {
        stack.put_role_policy(function, policy, granted);
    }
    operator(stack, &["dlq", "replay", "backup-dlq"]);
    backups.wait_for(&imported, 3).await;
    eventually("every order's latest version backed up", async || match operator_run(stack, &["backup", "verify"]) {
        (true, _) => Ok(()),
        (false, report) => Err(report),
    })
    .await;

    // When an order is lost from the table, then the operator restores it from its backups
    let lost = aws_sdk_dynamodb::types::AttributeValue::S(order_id.clone());
    stack
        .admin()
        .await
        .dynamodb
        .delete_item()
        .table_name(format!("{STACK}-orders"))
        .key("order_id", lost)
        .send()
        .await
        .unwrap();
    assert_eq!(api.call("GET", &format!("/orders/{order_id}"), None).await.0, 404);
    operator(stack, &["backup", "restore", "--order", &order_id]);
    let restored = api.ok("GET", &format!("/orders/{order_id}"), None).await;
    assert_eq!((restored["status"].as_str(), restored["version"].as_u64()), (Some("delivered"), Some(4)));

    while_broken
}
