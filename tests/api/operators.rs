//! Operators and batch producers against a running `orders serve`: `orders import` of a file, and
//! `orders catalog load`.

use std::time::Duration;

use orders_testkit::{EVENTUALLY, eventually};
use serde_json::{Value, json};

use crate::common::{Server, orders_aws_cli, orders_cli};

fn line(reference: &str, product: &str, quantity: Value) -> String {
    json!({"client_reference": reference, "order": {"customer_id": "ERP", "items": [{"product_id": product, "quantity": quantity}]}})
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn importing_a_thousand_orders_with_ten_bad_rows_creates_990_once() {
    // Given a running server and a file of 1,000 orders, 10 of them invalid in different ways
    let server = Server::start().await;
    let mut lines: Vec<String> = (0..990)
        .map(|i| line(&format!("ERP-{i:04}"), ["PROD001", "PROD002", "PROD003"][i % 3], json!(1 + i % 5)))
        .collect();
    let bad = [
        line("BAD-1", "NOPE", json!(1)),
        line("BAD-2", "GONE", json!(1)),
        line("BAD-3", "PROD001", json!(0)),
        line("BAD-4", "PROD001", json!("two")),
        line("ERP-0001", "PROD001", json!(1)),
        "{broken json".to_owned(),
        json!({"order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 1}]}}).to_string(),
        json!({"client_reference": "BAD-8", "order": {"items": [{"product_id": "PROD001", "quantity": 1}]}}).to_string(),
        json!({"client_reference": "BAD-9", "order": {"customer_id": "ERP", "items": []}}).to_string(),
        json!({"client_reference": "BAD-10", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": 1, "gift": true}]}}).to_string(),
    ];
    for (i, bad_line) in bad.into_iter().enumerate() {
        lines.insert(i * 97 + 5, bad_line);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    // When it is imported
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["import", file.to_str().unwrap()]);
    // Then the command fails, saying 10 were rejected, with their lines and reasons in the rejects file
    assert!(!ok, "{stdout}{stderr}");
    assert!(stdout.contains("read 1000 orders"), "{stdout}");
    assert!(stdout.contains("sent 990 in 10 messages"), "{stdout}");
    assert!(stderr.contains("10 of 1000 orders were rejected"), "{stderr}");
    let rejects: Vec<Value> = std::fs::read_to_string(dir.path().join("orders.jsonl.rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 10);
    let reasons: Vec<&str> = rejects.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"order: Unknown product_id \"NOPE\" in items[0].product_id"), "{reasons:?}");
    assert!(reasons.contains(&"order: Missing required field: customer_id"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("client_reference appears more than once")), "{reasons:?}");
    assert!(rejects.iter().all(|r| r["line"].as_u64().unwrap() >= 1));
    // And the 990 valid orders are created by the running server
    server.wait_for_total(990, Duration::from_secs(240)).await;

    // When the same file is imported again
    let (ok, stdout, _) = orders_cli(server.data_dir(), &["import", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(stdout.contains("sent 990"), "{stdout}");
    // Then nothing new is created
    // (a window, not a wait: nothing may appear in it, so there is nothing to wait for)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, list) = server.get_json("/orders?limit=1").await;
    assert_eq!(list["pagination"]["total"], 990);
}

/// A DLQ's message count in `orders dlq list` output.
pub(crate) fn dlq_depth(listing: &str, queue: &str) -> u64 {
    listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some(queue))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {queue} in:\n{listing}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_backup_worker_fills_its_dlq_and_a_replay_after_the_fix_backs_everything_up() {
    // Given a server whose backup folder is broken (a file stands where the folder should be)
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("backups"), "not a folder").unwrap();
    let server = Server::launch(crate::common::Launch {
        data_dir: Some(dir.path().to_owned()),
        args: vec!["--visibility-timeout".into(), "0.3".into(), "--max-receive-count".into(), "2".into()],
        ..Default::default()
    })
    .await;
    // When orders are created (each change's backup write fails in the stream processor, which
    // queues it as a job for the backup worker, whose writes fail too)
    let mut orders = Vec::new();
    for customer in ["A", "B", "C"] {
        orders.push(server.create_processing(customer).await);
    }
    // Then every job ends in the backup DLQ after two deliveries
    eventually("6 messages in the backup DLQ", async || {
        let (ok, listing, stderr) = orders_cli(server.data_dir(), &["dlq", "list"]);
        assert!(ok, "{stderr}");
        if dlq_depth(&listing, "backup-dlq") == 6 { Ok(()) } else { Err(listing) }
    })
    .await;
    let (ok, peek, _) = orders_cli(server.data_dir(), &["dlq", "peek", "backup", "--max", "2"]);
    assert!(ok);
    assert!(peek.contains("backup-dlq: 6 messages in all, showing 2"), "{peek}");
    // (every look is a receive, so the count includes the polling above)
    assert!(peek.contains("reason:        failed "), "{peek}");
    assert!(peek.contains("\"kind\":\"version\""), "{peek}");
    // And a dry run changes nothing; a filter narrows it (and ends, though nothing matches)
    let (ok, dry, _) = orders_cli(server.data_dir(), &["dlq", "replay", "backup-dlq", "--dry-run"]);
    assert!(ok);
    assert!(dry.contains("would replay 6 messages from backup-dlq to backup"), "{dry}");
    let (ok, dry, _) =
        orders_cli(server.data_dir(), &["dlq", "replay", "backup-dlq", "--dry-run", "--filter", &orders[0]]);
    assert!(ok);
    assert!(dry.contains("would replay 2 messages from backup-dlq to backup; 4 left"), "{dry}");
    let (ok, none, _) = orders_cli(server.data_dir(), &["dlq", "replay", "backup-dlq", "--filter", "matches-nothing"]);
    assert!(ok);
    assert!(none.contains("replayed 0 messages from backup-dlq to backup; 6 left"), "{none}");
    // When the fault is fixed and the DLQ replayed
    std::fs::remove_file(dir.path().join("backups")).unwrap();
    let (ok, replay, stderr) = orders_cli(server.data_dir(), &["dlq", "replay", "backup-dlq", "--rate", "100"]);
    assert!(ok, "{stderr}");
    assert!(replay.contains("replayed 6 messages from backup-dlq to backup; 0 left"), "{replay}");
    // Then the DLQ is empty and every version of every order is backed up
    let (_, listing, _) = orders_cli(server.data_dir(), &["dlq", "list"]);
    assert_eq!(dlq_depth(&listing, "backup-dlq"), 0);
    for order_id in &orders {
        for version in [1, 2] {
            let path = dir.path().join("backups/orders").join(order_id).join(format!("v{version}.json"));
            eventually(format!("{} backed up", path.display()), async || path.exists()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_store_is_lost_a_restore_brings_every_order_back_with_its_last_status() {
    // Given orders in several states, one of them deleted, all backed up
    let dir = tempfile::tempdir().unwrap();
    let launch = || crate::common::Launch { data_dir: Some(dir.path().to_owned()), ..Default::default() };
    let server = Server::launch(launch()).await;
    let delivered = server.create_processing("A").await;
    let cancelled = server.create_processing("B").await;
    let processing = server.create_processing("C").await;
    let deleted = server.create_processing("D").await;
    for (id, status) in [(&delivered, "shipped"), (&delivered, "delivered"), (&cancelled, "cancelled")] {
        assert_eq!(server.set_status(id, status, None).await.status(), reqwest::StatusCode::OK);
    }
    let response = server.request(reqwest::Method::DELETE, &format!("/orders/{deleted}")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let mut before = Vec::new();
    for id in [&delivered, &cancelled, &processing] {
        before.push(server.get_json(&format!("/orders/{id}")).await.1);
    }
    let tombstone = dir.path().join("backups/orders").join(&deleted).join("deleted.json");
    eventually("backups to catch up", async || {
        let (verified, _, _) = orders_cli(server.data_dir(), &["backup", "verify"]);
        verified && tombstone.exists()
    })
    .await;
    // When the store is lost
    assert_eq!(server.stop_with("TERM").await, Some(0));
    for file in ["orders.sqlite3", "orders.sqlite3-wal", "orders.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let restore = |dir: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
            .args(["backup", "restore", "--all", "--data-dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Then a restore brings back the three live orders and leaves the deleted one deleted
    assert!(restore(dir.path()).contains("restored 3, updated 0, already current 0, deleted (left deleted) 1"));
    // And running it again changes nothing
    assert!(restore(dir.path()).contains("restored 0, updated 0, already current 3, deleted (left deleted) 1"));
    let server = Server::launch(launch()).await;
    for (id, expected) in [&delivered, &cancelled, &processing].into_iter().zip(before) {
        let (status, order) = server.get_json(&format!("/orders/{id}")).await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert_eq!(order, expected, "order {id} is back exactly as it was");
    }
    let (status, _) = server.get_json(&format!("/orders/{deleted}")).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 3);
    let (_, cancelled_only) = server.get_json("/orders?status=cancelled").await;
    assert_eq!(cancelled_only["pagination"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_sees_where_an_execution_waits_and_its_history() {
    let server = Server::start().await;
    let order_id = server.create_processing("CUST001").await;
    // The order is processing: its workflow has reserved the stock, handed the order off, and waits
    // for the delivery in its one task
    let shown = eventually("the execution to wait for the delivery", async || {
        let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["executions", &order_id]);
        assert!(ok, "{stderr}");
        if stdout.contains("current state: Process") { Ok(stdout) } else { Err(stdout) }
    })
    .await;
    assert!(shown.contains(&format!(":execution:OrderProcessing:{order_id}")), "{shown}");
    assert!(shown.contains("status:        RUNNING"), "{shown}");
    assert!(shown.contains("ExecutionStarted"), "{shown}");
    assert!(shown.contains("TaskStateEntered") || shown.contains("Process"), "{shown}");
    // An ARN works as well as an order id; nonsense is refused clearly
    let arn = format!("arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:{order_id}");
    let (ok, by_arn, _) = orders_cli(server.data_dir(), &["executions", &arn]);
    assert!(ok && by_arn.contains("current state: Process"), "{by_arn}");
    let (ok, _, stderr) = orders_cli(server.data_dir(), &["executions", "nonsense"]);
    assert!(!ok);
    assert!(stderr.contains("is neither an order id nor an execution ARN"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_commands_work_against_an_aws_endpoint() {
    // Given orders serve on moto
    let moto = crate::moto::Moto::start().await;
    let aws = crate::common::AwsTarget { endpoint: moto.endpoint(), prefix: "ops".into() };
    let server = Server::launch(crate::common::Launch {
        aws: Some(aws.clone()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // When a file is imported through SQS
    let file = dir.path().join("orders.jsonl");
    std::fs::write(
        &file,
        [line("AWS-1", "PROD001", json!(1)), line("AWS-2", "PROD002", json!(2)), line("AWS-3", "NOPE", json!(1))]
            .join("\n"),
    )
    .unwrap();
    let (ok, output) = orders_aws_cli(&aws, dir.path(), &["import", file.to_str().unwrap()]);
    assert!(!ok && output.contains("1 of 3 orders were rejected"), "{output}");
    // Then the orders are created, their executions run on Step Functions and are shown
    server.wait_for_total(2, Duration::from_secs(60)).await;
    let (_, list) = server.get_json("/orders").await;
    let order_id = list["orders"][0]["order_id"].as_str().unwrap().to_owned();
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    let (ok, shown) = orders_aws_cli(&aws, dir.path(), &["executions", &order_id]);
    assert!(ok && shown.contains("status:        RUNNING") && shown.contains("Process"), "{shown}");
    // And the backups verify, the DLQs are listed, and a restore finds everything current
    let verified = eventually("backups to verify", async || {
        let (ok, output) = orders_aws_cli(&aws, dir.path(), &["backup", "verify"]);
        if ok { Ok(output) } else { Err(output) }
    })
    .await;
    assert!(verified.contains("checked 2 orders"), "{verified}");
    let (ok, listing) = orders_aws_cli(&aws, dir.path(), &["dlq", "list"]);
    assert!(ok, "{listing}");
    assert_eq!(dlq_depth(&listing, "backup-dlq"), 0);
    let (ok, restored) = orders_aws_cli(&aws, dir.path(), &["backup", "restore", "--all"]);
    assert!(ok && restored.contains("restored 0, updated 0, already current 2"), "{restored}");
    // And none of them changed the deployment: the queue keeps the visibility timeout serve set
    let clients = orders_core::adapters::aws::AwsClients::for_emulator(&aws.endpoint, "us-east-1").await;
    let url = clients.sqs.get_queue_url().queue_name("ops-backup").send().await.unwrap().queue_url.unwrap();
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names("VisibilityTimeout".into())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes.get(&"VisibilityTimeout".into()).map(String::as_str), Some("1"));
}

fn load_catalog(server: &Server, file: &std::path::Path) -> (bool, String) {
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["catalog", "load", file.to_str().unwrap()]);
    (ok, stdout + &stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loaded_catalog_prices_new_orders_and_old_orders_keep_their_prices() {
    // Given a running server and an order of 2 x PROD001 at the demo price (25.50)
    let server = Server::start().await;
    let body = json!({"customer_id": "C-1", "items": [{"product_id": "PROD001", "quantity": 2}]});
    let old = crate::common::body_json(server.create(&body).await).await["order_id"].as_str().unwrap().to_owned();

    // When an operator loads a catalog where PROD001 costs 30.00 and NEW-1 exists
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.json");
    let products = json!({"products": [
        {"product_id": "PROD001", "name": "Widget", "unit_price": "30.00"},
        {"product_id": "NEW-1", "name": "Gadget", "unit_price": "4.99"}
    ]});
    std::fs::write(&file, products.to_string()).unwrap();
    let (ok, output) = load_catalog(&server, &file);
    assert!(ok, "{output}");
    assert!(output.contains("catalog replaced: 2 products"), "{output}");

    // Then new orders use the new prices, products no longer listed are refused, and the old order
    // keeps the price it was made with
    let created = server
        .create(&json!({"customer_id": "C-1", "items": [{"product_id": "PROD001", "quantity": 1}, {"product_id": "NEW-1", "quantity": 2}]}))
        .await;
    assert_eq!(created.status(), 201);
    let new = crate::common::body_json(created).await["order_id"].as_str().unwrap().to_owned();
    let (_, new_order) = server.get_json(&format!("/orders/{new}")).await;
    assert_eq!(new_order["total_amount"], json!(39.98));
    let gone = server.create(&json!({"customer_id": "C-1", "items": [{"product_id": "PROD002", "quantity": 1}]})).await;
    assert_eq!(gone.status(), 400);
    let (_, old_order) = server.get_json(&format!("/orders/{old}")).await;
    assert_eq!(old_order["total_amount"], json!(51.0));

    // And a broken catalog file changes nothing and says what is wrong
    std::fs::write(&file, r#"{"products": [{"product_id": "X", "name": "X", "unit_price": "-1"}]}"#).unwrap();
    let (ok, output) = load_catalog(&server, &file);
    assert!(!ok && output.contains("catalog"), "{output}");
    let again = server.create(&json!({"customer_id": "C-1", "items": [{"product_id": "NEW-1", "quantity": 1}]})).await;
    assert_eq!(again.status(), 201);
}

/// A catalog without the demo products: apples at 0.29.
fn apples_catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("apples.json");
    let products = json!({"products": [{"product_id": "APPLE", "name": "Apple", "unit_price": "0.29"}]});
    std::fs::write(&file, products.to_string()).unwrap();
    file
}

/// The seed's order is refused: its PROD001 is no product of the catalog.
async fn demo_product_is_unknown(server: &Server) {
    let demo = server.create(&crate::common::seed_order()).await;
    crate::common::assert_error(
        demo,
        reqwest::StatusCode::BAD_REQUEST,
        "Unknown product_id \"PROD001\" in items[0].product_id",
    )
    .await;
}

/// The loaded catalog prices orders and the demo's PROD001 is unknown.
async fn only_the_loaded_catalog_prices_orders(server: &Server) {
    let apples = json!({"customer_id": "C-1", "items": [{"product_id": "APPLE", "quantity": 3}]});
    let created = server.create(&apples).await;
    assert_eq!(created.status(), 201);
    let order_id = crate::common::body_json(created).await["order_id"].as_str().unwrap().to_owned();
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["total_amount"], json!(0.87));
    demo_product_is_unknown(server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_on_an_aws_endpoint_keeps_the_loaded_catalog() {
    // Given orders serve on moto (started with --demo-catalog, as every moto scenario is) and a
    // catalog without PROD001 loaded with `orders catalog load`
    let moto = crate::moto::Moto::start().await;
    let aws = crate::common::AwsTarget { endpoint: moto.endpoint(), prefix: "catalog".into() };
    let launch = || crate::common::Launch { aws: Some(aws.clone()), ..Default::default() };
    let server = Server::launch(launch()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, output) =
        orders_aws_cli(&aws, dir.path(), &["catalog", "load", apples_catalog(dir.path()).to_str().unwrap()]);
    assert!(ok, "{output}");
    // When serve is restarted
    assert_eq!(server.stop_with("TERM").await, Some(0));
    let server = Server::launch(launch()).await;
    // Then the user's products still price orders and PROD001 stays unknown
    only_the_loaded_catalog_prices_orders(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_on_an_aws_endpoint_stores_the_demo_catalog_only_when_asked() {
    // Given an empty deployment on moto
    let moto = crate::moto::Moto::start().await;
    let aws = crate::common::AwsTarget { endpoint: moto.endpoint(), prefix: "nodemo".into() };
    // When serve starts on it (creating its resources) without --demo-catalog
    let server =
        Server::launch(crate::common::Launch { aws: Some(aws.clone()), aws_demo_catalog: false, ..Default::default() })
            .await;
    // Then no demo product was written: the seed's order names an unknown product
    demo_product_is_unknown(&server).await;
}

#[tokio::test]
async fn a_restart_of_the_embedded_default_keeps_the_loaded_catalog() {
    // Given the embedded default (demo catalog on its first start) and a catalog without PROD001
    // loaded with `orders catalog load`
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let (ok, output) = load_catalog(&server, &apples_catalog(dir.path()));
    assert!(ok, "{output}");
    // When serve is restarted on the same data
    assert_eq!(server.stop_with("TERM").await, Some(0));
    let server = Server::start_in(dir.path()).await;
    // Then the user's products still price orders and PROD001 stays unknown
    only_the_loaded_catalog_prices_orders(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_references_pass_the_cli_only_where_the_worker_takes_them_and_a_bom_loses_no_line() {
    // Given a running server and a JSON Lines file written with a byte order mark, whose orders
    // carry references in other scripts, one with a control character and one named twice
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.jsonl");
    let lines = [
        line("Bestellung-Müller-1", "PROD001", json!(1)),
        line("注文-42", "PROD002", json!(1)),
        line("BELL-\u{7}-1", "PROD001", json!(1)),
        r#"{"client_reference":"A-1","client_reference":"A-2","order":{"customer_id":"ERP","items":[{"product_id":"PROD001","quantity":1}]}}"#.to_owned(),
    ];
    std::fs::write(&file, format!("\u{feff}{}", lines.join("\n"))).unwrap();

    // When it is imported
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["import", file.to_str().unwrap()]);

    // Then the two Unicode references are sent (line 1, behind the BOM, included), and the other two
    // are rejected with their lines and the worker's own reasons
    assert!(!ok, "{stdout}{stderr}");
    assert!(stdout.contains("sent 2 in 1 messages") && stdout.contains("rejected 2"), "{stdout}");
    let rejects: Vec<Value> = std::fs::read_to_string(dir.path().join("orders.jsonl.rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reasons: Vec<(u64, &str)> =
        rejects.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(
        reasons[0],
        (3, "Invalid field client_reference: must be a string of 1 to 200 characters without control characters")
    );
    assert_eq!(reasons[1].0, 4);
    assert!(reasons[1].1.starts_with("Invalid JSON: duplicate key \"client_reference\""), "{reasons:?}");

    // And the worker creates both orders and refuses nothing: the import DLQ stays empty
    server.wait_for_total(2, EVENTUALLY).await;
    let (ok, listing, _) = orders_cli(server.data_dir(), &["dlq", "list"]);
    assert!(ok, "{listing}");
    assert_eq!(crate::operators::dlq_depth(&listing, "import-dlq"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_after_an_interrupted_one_says_what_is_in_flight_and_fails() {
    use orders_core::adapters::embedded::{Database, EmbeddedQueues};
    use orders_core::ports::{MessageQueue, OutgoingMessage, QueueName};
    // Given five messages in the backup DLQ, received by a replay that was then interrupted (they
    // are hidden for the DLQ's 30 s visibility timeout, not deleted)
    let dir = tempfile::tempdir().unwrap();
    let queues = EmbeddedQueues::new(Database::open(&dir.path().join("orders.sqlite3")).unwrap(), []);
    for i in 0..5 {
        let message = OutgoingMessage { body: format!("{{\"job\":{i}}}"), ..Default::default() };
        queues.send(QueueName::BackupDlq, message).await.unwrap();
    }
    assert_eq!(queues.receive(QueueName::BackupDlq, 10).await.unwrap().len(), 5);

    // When the operator runs the replay again
    let (ok, stdout, stderr) = orders_cli(dir.path(), &["dlq", "replay", "backup-dlq"]);

    // Then it does not report an empty queue and exit 0: it names the five in-flight messages and fails
    assert!(!ok, "{stdout}{stderr}");
    assert!(stdout.contains("replayed 0 messages"), "{stdout}");
    assert!(stderr.contains("5 more messages are in flight in backup-dlq"), "{stderr}");
    // And they are all still in the DLQ, for the next run
    assert_eq!(queues.depth(QueueName::BackupDlq).await.unwrap(), 5);
}
