//! What a hostile client and a careless operator found (SIGKILL under load, an engine that fails
//! after the order is written, restores racing deletes, a data file deleted under the server), each
//! as a scenario on the real `orders serve`: on the embedded default and, where it applies, on moto.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use orders_core::adapters::aws::{AwsClients, S3BackupStore};
use orders_core::ports::{BackupKey, BackupStore};
use orders_testkit::{EVENTUALLY, eventually};

use crate::common::{AwsTarget, Launch, Server, body_json, orders_aws_cli, orders_cli, seed_order};
use crate::moto::Moto;

/// The embedded data file, opened beside the running server as a second SQLite connection.
fn open_database(data_dir: &Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(data_dir.join("orders.sqlite3")).unwrap();
    connection.busy_timeout(Duration::from_secs(10)).unwrap();
    connection
}

/// Creates the seed order and returns the 201's order id and execution ARN.
async fn create_order(server: &Server) -> (String, String) {
    let response = server.create(&seed_order()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "the order is stored, so the answer is a 201");
    let created = body_json(response).await;
    (created["order_id"].as_str().unwrap().to_owned(), created["execution_arn"].as_str().unwrap().to_owned())
}

async fn execution_status(server: &Server, arn: &str) -> (StatusCode, Value) {
    server.get_json(&format!("/executions/{}", arn.replace(':', "%3A"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_whose_workflow_cannot_start_is_created_and_started_once_the_engine_answers() {
    // Given a server whose workflow engine fails to start executions (its executions table refuses
    // inserts, as a full disk would): the create then writes the order noted unstarted
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path()).await;
    let database = open_database(data.path());
    database
        .execute_batch(
            "CREATE TRIGGER refuse_executions BEFORE INSERT ON executions
             BEGIN SELECT RAISE(FAIL, 'injected fault: no room for executions'); END;",
        )
        .unwrap();

    // When a client creates an order
    let (order_id, arn) = create_order(&server).await;

    // Then the order is stored, pending, and has no execution yet
    let (status, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!((status, order["status"].as_str()), (StatusCode::OK, Some("pending")));
    assert_eq!(order["execution_arn"], arn.as_str());
    assert_eq!(execution_status(&server, &arn).await.0, StatusCode::NOT_FOUND);

    // When the server restarts while the engine still fails, and then the engine recovers
    server.stop_with("KILL").await;
    let server = Server::start_in(data.path()).await;
    assert_eq!(server.get_json(&format!("/orders/{order_id}")).await.1["status"], "pending");
    database.execute_batch("DROP TRIGGER refuse_executions").unwrap();

    // Then the order's own execution runs: the order is processing and the ARN the client got is live
    server.wait_for_order(&order_id, |order| order["status"] == "processing").await;
    let (status, execution) = execution_status(&server, &arn).await;
    assert_eq!((status, execution["status"].as_str()), (StatusCode::OK, Some("RUNNING")));
    let (_, listing) = server.get_json("/orders").await;
    assert_eq!(listing["pagination"]["total"], 1, "no duplicate order");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_aws_an_order_whose_workflow_cannot_start_is_created_and_started_after_a_restart() {
    // Given orders serve on moto, whose state machine has gone (StartExecution fails)
    let moto = Moto::start().await;
    let aws = AwsTarget { endpoint: moto.endpoint(), prefix: "nostart".into() };
    let data = tempfile::tempdir().unwrap();
    let launch = || Launch {
        data_dir: Some(data.path().to_owned()),
        aws: Some(aws.clone()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        ..Launch::default()
    };
    let server = Server::launch(launch()).await;
    let clients = AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
    let machine = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{}-OrderProcessing", aws.prefix);
    clients.sfn.delete_state_machine().state_machine_arn(&machine).send().await.unwrap();

    // When a client creates an order
    let (order_id, arn) = create_order(&server).await;

    // Then the order is stored and pending
    let (status, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!((status, order["status"].as_str()), (StatusCode::OK, Some("pending")));

    // When orders serve restarts (its start-up creates the missing state machine again)
    server.stop_with("KILL").await;
    let server = Server::launch(launch()).await;

    // Then the order's execution runs, under the ARN the client was given
    server.wait_for_order(&order_id, |order| order["status"] == "processing").await;
    let (status, execution) = execution_status(&server, &arn).await;
    assert_eq!((status, execution["status"].as_str()), (StatusCode::OK, Some("RUNNING")));
    let response = server.request(Method::GET, "/orders").send().await.unwrap();
    assert_eq!(body_json(response).await["pagination"]["total"], 1, "no duplicate order");
}

/// `POST /orders` of the seed order with an Idempotency-Key.
async fn create_with_key(server: &Server, key: &str) -> reqwest::Response {
    server.request(Method::POST, "/orders").header("Idempotency-Key", key).json(&seed_order()).send().await.unwrap()
}

/// The ids of every order, as the listing shows them (newest first), once each is `processing`.
async fn processing_orders(server: &Server) -> Vec<String> {
    let (_, listing) = server.get_json("/orders?limit=100").await;
    let ids: Vec<String> =
        listing["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        server.wait_for_order(id, |order| order["status"] == "processing").await;
    }
    ids
}

fn import_line(reference: &str) -> String {
    serde_json::json!({"client_reference": reference, "order": {"customer_id": "ERP", "items": [{"product_id": "PROD003", "quantity": 1}]}})
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn after_data_loss_a_restore_keeps_the_listing_order_the_keys_and_the_import_references() {
    // Given orders made one after the other: one with an Idempotency-Key, five plain ones, and two
    // imported from a file, all processing and backed up
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path()).await;
    let first = create_with_key(&server, "checkout-42").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let keyed = body_json(first).await["order_id"].as_str().unwrap().to_owned();
    for customer in ["CUST1", "CUST2", "CUST3", "CUST4", "CUST5"] {
        server.create_for(customer).await;
    }
    let file = data.path().join("erp.jsonl");
    std::fs::write(&file, [import_line("ERP-1"), import_line("ERP-2")].join("\n")).unwrap();
    assert!(orders_cli(data.path(), &["import", file.to_str().unwrap()]).0);
    server.wait_for_total(8, EVENTUALLY).await;
    let before = processing_orders(&server).await;
    eventually("every order backed up at its latest version", || async {
        orders_cli(data.path(), &["backup", "verify"]).0.then_some(())
    })
    .await;

    // When the database is lost and rebuilt from the backups
    server.stop_with("TERM").await;
    for file in ["orders.sqlite3", "orders.sqlite3-wal", "orders.sqlite3-shm"] {
        let _ = std::fs::remove_file(data.path().join(file));
    }
    let (ok, restored, errors) = orders_cli(data.path(), &["backup", "restore", "--all"]);
    assert!(ok, "{restored}{errors}");
    assert!(restored.contains("restored 8,"), "{restored}");
    let server = Server::start_in(data.path()).await;

    // Then the listing is newest first, as it was
    let (_, listing) = server.get_json("/orders?limit=100").await;
    let after: Vec<&str> =
        listing["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap()).collect();
    assert_eq!(after, before);

    // And a retry with the same key answers with the first order and creates nothing
    let retry = create_with_key(&server, "checkout-42").await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers().get("Idempotent-Replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(body_json(retry).await["order_id"], keyed.as_str());

    // And importing the file again (with one new line, last) creates only the new line's order
    std::fs::write(&file, [import_line("ERP-1"), import_line("ERP-2"), import_line("ERP-3")].join("\n")).unwrap();
    assert!(orders_cli(data.path(), &["import", file.to_str().unwrap()]).0);
    server.wait_for_total(9, EVENTUALLY).await;
    let (_, listing) = server.get_json("/orders?limit=1").await;
    assert_eq!(listing["pagination"]["total"], 9, "ERP-1 and ERP-2 are not created twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_never_brings_back_an_order_deleted_before_its_tombstone_was_backed_up() {
    // Given two orders, processing and backed up
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path()).await;
    let deleted = server.create_processing("CUST1").await;
    let kept = server.create_processing("CUST2").await;
    eventually("both orders backed up", || async { orders_cli(data.path(), &["backup", "verify"]).0.then_some(()) })
        .await;

    // When one is deleted, and its tombstone is not in the backups (as a backup queue that lags
    // behind leaves it while a restore runs)
    let response = server.request(Method::DELETE, &format!("/orders/{deleted}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tombstone = data.path().join("backups").join(format!("orders/{deleted}/deleted.json"));
    let tombstone_body = eventually("the tombstone backed up", || async { std::fs::read(&tombstone).ok() }).await;
    std::fs::remove_file(&tombstone).unwrap();

    // And the operator restores everything while the server runs
    let (ok, restored, errors) = orders_cli(data.path(), &["backup", "restore", "--all"]);
    assert!(ok, "{restored}{errors}");
    assert!(restored.contains("deleted (left deleted) 1"), "{restored}");

    // Then the deleted order stays deleted and the other is untouched
    assert_eq!(server.get_json(&format!("/orders/{deleted}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.get_json(&format!("/orders/{kept}")).await.1["version"], 2);
    assert_eq!(server.get_json("/orders").await.1["pagination"]["total"], 1);

    // And verify tells an order that is live although its backups say it was deleted
    let kept_tombstone = data.path().join("backups").join(format!("orders/{kept}/deleted.json"));
    std::fs::write(&kept_tombstone, tombstone_body).unwrap();
    let (ok, report, _) = orders_cli(data.path(), &["backup", "verify"]);
    assert!(!ok, "{report}");
    assert!(report.contains(&format!("deleted but live: orders/{kept}/deleted.json")), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_aws_a_restore_never_brings_back_an_order_deleted_before_its_tombstone_was_backed_up() {
    // Given orders serve on moto with two orders, processing and backed up
    let moto = Moto::start().await;
    let aws = AwsTarget { endpoint: moto.endpoint(), prefix: "restore".into() };
    let data = tempfile::tempdir().unwrap();
    let server = Server::launch(Launch {
        data_dir: Some(data.path().to_owned()),
        aws: Some(aws.clone()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        ..Launch::default()
    })
    .await;
    let deleted = server.create_processing("CUST1").await;
    let kept = server.create_processing("CUST2").await;
    eventually("both orders backed up", || async {
        orders_aws_cli(&aws, data.path(), &["backup", "verify"]).0.then_some(())
    })
    .await;

    // When one is deleted and its tombstone is not in the bucket (yet)
    let response = server.request(Method::DELETE, &format!("/orders/{deleted}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let clients = AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
    let backups = S3BackupStore::new(clients.s3.clone(), aws.bucket());
    let tombstone = BackupKey::Tombstone { order_id: deleted.parse().unwrap() };
    eventually("the tombstone backed up", || async { backups.get(&tombstone).await.unwrap() }).await;
    clients.s3.delete_object().bucket(aws.bucket()).key(tombstone.object_key()).send().await.unwrap();

    // And the operator restores everything
    let (ok, restored) = orders_aws_cli(&aws, data.path(), &["backup", "restore", "--all"]);
    assert!(ok && restored.contains("deleted (left deleted) 1"), "{restored}");

    // Then the deleted order stays deleted and the other is untouched
    assert_eq!(server.get_json(&format!("/orders/{deleted}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.get_json(&format!("/orders/{kept}")).await.1["version"], 2);
    assert_eq!(server.get_json("/orders").await.1["pagination"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_data_file_under_a_running_server_stops_writes_instead_of_acknowledging_lost_ones() {
    // Given a running server with an order
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path()).await;
    create_order(&server).await;

    // When its database file is deleted under it
    std::fs::remove_file(data.path().join("orders.sqlite3")).unwrap();

    // Then a create is refused with the seed's 500 body instead of a 201 for a write that would be lost
    let response = server.create(&seed_order()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_json(response).await["error"], "Storage failure");
    // And the log says what happened and what to do
    let log = std::fs::read_to_string(data.path().join("server.log")).unwrap();
    assert!(log.contains("was deleted or replaced while this process had it open: writes are refused"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_the_same_data_dir_is_refused_and_the_first_goes_on() {
    // Given a running server
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path()).await;

    // When a second orders serve starts on the same data dir
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("ORDERS_API_KEY", crate::common::API_KEY)
        .kill_on_drop(true)
        .output();
    // A second server that is not refused serves on: it is killed when the wait gives up.
    let second = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second orders serve was not refused: it kept running")
        .unwrap();

    // Then it stops at once, naming the running one, and the first still serves
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another orders serve (pid") && stderr.contains("is running on"), "{stderr}");
    create_order(&server).await;
}
