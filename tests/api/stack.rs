//! The deployed stack, stood up before anyone deploys it: `infra/template.yaml` itself (no copy)
//! transformed by the pinned aws-sam-translator (`tools/sam/transform.py`, as `sam deploy` would
//! after `sam build`) and created by moto's CloudFormation with the parameters a user gives
//! (`tools/moto/deploy_stack.py`, which says which moto gaps it works around and how). Then
//! `orders serve --aws-endpoint --prefix STACK` runs an order through the tables, queues, bucket and
//! state machine that stack made, and has to create nothing of its own: a resource the code names
//! differently from the template would be made anew, and fail the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use orders_core::adapters::aws::AwsClients;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backends::wait_for_execution;
use crate::common::{AwsTarget, Launch, Server, body_json, seed_order};
use crate::moto::Moto;

const STACK: &str = "shop";
const API_KEY_PARAMETER: &str = "stack-test-key-0123456789abcdef";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a tool of the repository's pinned Python venvs; panics with its output when it fails.
fn run(python: &str, script: &str, args: &[&str]) -> String {
    let interpreter = repo().join(python);
    assert!(interpreter.is_file(), "{} is missing: run scripts/test's install steps", interpreter.display());
    let output = Command::new(interpreter)
        .arg(repo().join(script))
        .args(args)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// The stack as moto's CloudFormation created it.
struct Stack {
    moto: Moto,
    /// What tools/moto/deploy_stack.py reports: physical ids, what was left out, the event source
    /// mappings and the functions' configurations as deployed.
    deployed: Value,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn deploy() -> Stack {
        let moto = Moto::start().await;
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.json");
        let transformed = dir.path().join("transformed.json");
        std::fs::write(&template, crate::template::as_json().to_string()).unwrap();
        run(
            ".tools/sam/bin/python",
            "tools/sam/transform.py",
            &[path(&template), "statemachine/order-processing.asl.json", "shop-artifacts", path(&transformed)],
        );
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(API_KEY_PARAMETER));
        let deployed = run(
            ".venv/bin/python",
            "tools/moto/deploy_stack.py",
            &[
                &moto.endpoint(),
                STACK,
                path(&transformed),
                "shop-artifacts",
                &format!("ApiKeyValue={API_KEY_PARAMETER}"),
                &format!("ApiKeySha256={digest}"),
            ],
        );
        Stack { moto, deployed: serde_json::from_str(&deployed).unwrap(), _dir: dir }
    }

    /// The names of every table, queue, bucket and state machine on the endpoint.
    async fn inventory(&self) -> BTreeSet<String> {
        let clients = AwsClients::for_emulator(&self.moto.endpoint(), "us-east-1").await;
        let mut names = BTreeSet::new();
        let tables = clients.dynamodb.list_tables().send().await.unwrap();
        names.extend(tables.table_names().iter().map(|t| format!("table {t}")));
        let queues = clients.sqs.list_queues().send().await.unwrap();
        names.extend(queues.queue_urls().iter().map(|q| format!("queue {}", q.rsplit('/').next().unwrap())));
        let buckets = clients.s3.list_buckets().send().await.unwrap();
        names.extend(buckets.buckets().iter().map(|b| format!("bucket {}", b.name().unwrap())));
        let machines = clients.sfn.list_state_machines().send().await.unwrap();
        names.extend(machines.state_machines().iter().map(|m| format!("state machine {}", m.name())));
        names
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_template_deploys_and_orders_run_through_the_stack_it_creates() {
    // Given the template deployed into moto's CloudFormation
    let stack = Stack::deploy().await;
    let left_out: Vec<&str> =
        stack.deployed["left_out"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(left_out.iter().all(|id| id.starts_with("Api") || id.starts_with("OrdersApi")), "{left_out:?}");
    let before = stack.inventory().await;
    for expected in [
        "table shop-orders",
        "table shop-catalog",
        "table shop-reservations",
        "queue shop-fulfilment",
        "queue shop-fulfilment-dlq",
        "bucket shop-backups-123456789012-us-east-1",
        "state machine shop-OrderProcessing",
    ] {
        assert!(before.contains(expected), "the stack has no {expected}: {before:?}");
    }
    // And the event source mappings are deployed as the handlers answer (partial batch responses)
    let mappings = stack.deployed["event_source_mappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 4, "{mappings:?}");
    assert!(mappings.iter().all(|m| m["FunctionResponseTypes"] == json!(["ReportBatchItemFailures"])), "{mappings:?}");

    // When `orders serve` runs against it, and an order of a tracked product goes all the way
    let target = AwsTarget { endpoint: stack.moto.endpoint(), prefix: STACK.into() };
    let server = Server::launch(Launch {
        aws: Some(target.clone()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        ..Launch::default()
    })
    .await;
    let set = server.request(reqwest::Method::PUT, "/products/PROD001/stock").json(&json!({"stock": 10})).send().await;
    assert_eq!(set.unwrap().status(), StatusCode::OK);
    let created = body_json(server.create(&seed_order()).await).await;
    let (order_id, arn) = (created["order_id"].as_str().unwrap(), created["execution_arn"].as_str().unwrap());
    server.wait_for_order(order_id, |o| o["status"] == "processing").await;
    server.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 2).await;
    for status in ["shipped", "delivered"] {
        assert_eq!(server.set_status(order_id, status, None).await.status(), StatusCode::OK);
    }
    wait_for_execution(&server, arn, "SUCCEEDED").await;

    // Then every version is backed up in the stack's bucket, and the units are consumed
    let backups = crate::backends::Backups::Bucket(orders_core::adapters::aws::S3BackupStore::new(
        AwsClients::for_emulator(&target.endpoint, "us-east-1").await.s3,
        target.bucket(),
    ));
    let versions = backups.wait_for(order_id, 4).await;
    assert_eq!(versions[3]["status"], "delivered");
    server.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 0).await;
    // And the server made no resource of its own: every name the code uses is the stack's
    assert_eq!(stack.inventory().await, before);
}
