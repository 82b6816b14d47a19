//! The whole pipeline inside `orders serve`: the workflow marks the order processing, the
//! fulfilment worker answers its callback, status changes wake the waiting workflow through the
//! change feed and the stream processor, and the backup worker keeps one file per order version.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Launch, Server, body_json, seed_order};

fn encoded(arn: &str) -> String {
    arn.replace(':', "%3A")
}

async fn wait_for_execution(server: &Server, arn: &str, status: &str) -> Value {
    server.wait_for(&format!("/executions/{}", encoded(arn)), |e| e["status"] == status).await
}

/// Waits until the order's backup folder holds exactly `versions` (v1.json …) and returns them.
async fn wait_for_backups(data_dir: &Path, order_id: &str, versions: u64) -> Vec<Value> {
    let folder = data_dir.join("backups").join("orders").join(order_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        let expected: Vec<String> = (1..=versions).map(|v| format!("v{v}.json")).collect();
        if names == expected {
            return expected
                .iter()
                .map(|name| serde_json::from_slice(&std::fs::read(folder.join(name)).unwrap()).unwrap())
                .collect();
        }
        assert!(tokio::time::Instant::now() < deadline, "backups of {order_id}: {names:?}, want {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create(server: &Server) -> (String, String) {
    let created = body_json(server.create(&seed_order()).await).await;
    (created["order_id"].as_str().unwrap().to_owned(), created["execution_arn"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_order_flows_from_created_to_delivered_with_a_backup_of_every_version() {
    // Given a created order
    let server = Server::start().await;
    let (order_id, arn) = create(&server).await;
    // Then its execution runs and marks it processing
    let execution = wait_for_execution(&server, &arn, "RUNNING").await;
    assert_eq!(execution["name"], order_id.as_str());
    server.wait_for_order(&order_id, |o| o["status"] == "processing" && o["version"] == 2).await;
    // When the client ships it, then delivers it
    assert_eq!(server.set_status(&order_id, "shipped", None).await.status(), StatusCode::OK);
    assert_eq!(server.set_status(&order_id, "delivered", None).await.status(), StatusCode::OK);
    // Then the execution succeeds, having been fulfilled and woken twice
    let execution = wait_for_execution(&server, &arn, "SUCCEEDED").await;
    assert_eq!(execution["output"]["fulfilment"]["fulfilment_id"], format!("FUL-{order_id}"));
    // (the wait for "shipped" may have been answered by a record that was already delivered)
    let shipped = execution["output"]["shipped"]["status"].as_str().unwrap();
    assert!(["shipped", "delivered"].contains(&shipped), "{shipped}");
    assert_eq!(execution["output"]["delivered"]["status"], "delivered");
    assert!(execution["stop_date"].is_string());
    // And the order is delivered, with one backup per version
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!((order["status"].as_str(), order["version"].as_u64()), (Some("delivered"), Some(4)));
    let backups = wait_for_backups(server.data_dir(), &order_id, 4).await;
    let statuses: Vec<&str> = backups.iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "processing", "shipped", "delivered"]);
    assert_eq!(backups[3], order, "the last backup is the order as it stands");
}

#[tokio::test]
async fn a_cancelled_order_ends_its_execution_cleanly() {
    let server = Server::start().await;
    let (order_id, arn) = create(&server).await;
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    // When the client cancels it while the workflow waits
    assert_eq!(server.set_status(&order_id, "cancelled", None).await.status(), StatusCode::OK);
    // Then the execution succeeds (a clean end), the order stays cancelled, every version backed up
    let execution = wait_for_execution(&server, &arn, "SUCCEEDED").await;
    assert_eq!(execution["error"], Value::Null);
    let backups = wait_for_backups(server.data_dir(), &order_id, 3).await;
    assert_eq!(backups[2]["status"], "cancelled");
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "cancelled");
}

#[tokio::test]
async fn a_failed_order_fails_its_execution() {
    let server = Server::start().await;
    let (order_id, arn) = create(&server).await;
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    // When the order is marked failed while the workflow waits
    assert_eq!(server.set_status(&order_id, "failed", None).await.status(), StatusCode::OK);
    // Then the execution fails, naming why
    let execution = wait_for_execution(&server, &arn, "FAILED").await;
    assert_eq!(execution["error"], "OrderFailed");
    assert!(execution["cause"].as_str().unwrap().contains(&order_id));
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "failed");
    wait_for_backups(server.data_dir(), &order_id, 3).await;
}

#[tokio::test]
async fn an_order_cancelled_before_processing_is_left_alone() {
    // Given an order cancelled in the same instant it was created (its workflow may not have run)
    let server = Server::start().await;
    let (order_id, arn) = create(&server).await;
    let cancelled = server.set_status(&order_id, "cancelled", None).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    // Then the execution ends without error and the order stays cancelled, whichever came first
    wait_for_execution(&server, &arn, "SUCCEEDED").await;
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "cancelled");
}

#[tokio::test]
async fn killing_the_server_mid_workflow_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // (a message the killed server had received comes back after its visibility timeout: 1 s here)
    let launch = || Launch {
        data_dir: Some(dir.path().to_owned()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        ..Launch::default()
    };
    // Given orders part-way through their workflows
    let server = Server::launch(launch()).await;
    let (first, first_arn) = create(&server).await;
    let (second, second_arn) = create(&server).await;
    server.wait_for_order(&first, |o| o["status"] == "processing").await;
    server.wait_for_order(&second, |o| o["status"] == "processing").await;
    assert_eq!(server.set_status(&second, "shipped", None).await.status(), StatusCode::OK);
    // When the server is killed outright, and started again
    server.stop_with("KILL").await;
    let server = Server::launch(launch()).await;
    // Then the executions go on from where they were
    assert_eq!(server.set_status(&first, "shipped", None).await.status(), StatusCode::OK);
    // (killed again, in the middle of waiting for delivery)
    server.stop_with("KILL").await;
    let server = Server::launch(launch()).await;
    for order_id in [&first, &second] {
        assert_eq!(server.set_status(order_id, "delivered", None).await.status(), StatusCode::OK);
    }
    wait_for_execution(&server, &first_arn, "SUCCEEDED").await;
    wait_for_execution(&server, &second_arn, "SUCCEEDED").await;
    // And every version of both orders is backed up
    for order_id in [&first, &second] {
        let backups = wait_for_backups(dir.path(), order_id, 4).await;
        assert_eq!(backups[3]["status"], "delivered");
    }
}
