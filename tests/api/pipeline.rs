//! The whole pipeline inside `orders serve`: the workflow marks the order processing, the
//! fulfilment worker answers its saga tasks (reserve, hand off, consume), status changes wake the waiting workflow through the
//! change feed and the stream processor, and the backup worker keeps one file per order version.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backends::{Backend, wait_for_execution};
use crate::common::{Server, body_json, seed_order};

async fn create(server: &Server) -> (String, String) {
    let created = body_json(server.create(&seed_order()).await).await;
    (created["order_id"].as_str().unwrap().to_owned(), created["execution_arn"].as_str().unwrap().to_owned())
}

async fn an_order_flows_from_created_to_delivered_with_a_backup_of_every_version(backend: Backend) {
    // Given a created order
    let server = backend.start().await;
    let (order_id, arn) = create(&server).await;
    // Then its execution runs and marks it processing
    let execution = wait_for_execution(&server, &arn, "RUNNING").await;
    assert_eq!(execution["name"], order_id.as_str());
    server.wait_for_order(&order_id, |o| o["status"] == "processing" && o["version"] == 2).await;
    // When the client ships it, then delivers it
    assert_eq!(server.set_status(&order_id, "shipped", None).await.status(), StatusCode::OK);
    assert_eq!(server.set_status(&order_id, "delivered", None).await.status(), StatusCode::OK);
    // Then the execution succeeds, its one task (the stock reserved, the order handed off: no
    // webhook here, nothing to send) answered once, by the delivery, which consumed the stock
    let execution = wait_for_execution(&server, &arn, "SUCCEEDED").await;
    let output = &execution["output"];
    assert_eq!(output["delivered"]["status"], "delivered");
    assert_eq!(output["delivered"]["stock"]["order_id"], order_id);
    assert_eq!(output["delivered"]["stock"]["consumed_by"], "delivery", "in the delivery's own write");
    assert_eq!(output.get("shipped"), None, "shipping does not wake the workflow");
    assert!(execution["stop_date"].is_string());
    // And the order is delivered, with one backup per version
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!((order["status"].as_str(), order["version"].as_u64()), (Some("delivered"), Some(4)));
    let backups = backend.backups().await.wait_for(&order_id, 4).await;
    let statuses: Vec<&str> = backups.iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "processing", "shipped", "delivered"]);
    // (the backups also keep the order's correlation id, which the API does not show)
    let mut last = backups[3].clone();
    assert!(last.as_object_mut().unwrap().remove("correlation_id").is_some_and(|id| id.is_string()), "{last}");
    assert_eq!(last, order, "the last backup is the order as it stands");
}

async fn a_cancelled_order_ends_its_execution_cleanly(backend: Backend) {
    let server = backend.start().await;
    let (order_id, arn) = create(&server).await;
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    // When the client cancels it while the workflow waits
    assert_eq!(server.set_status(&order_id, "cancelled", None).await.status(), StatusCode::OK);
    // Then the execution succeeds (a clean end), the order stays cancelled, every version backed up
    let execution = wait_for_execution(&server, &arn, "SUCCEEDED").await;
    assert_eq!(execution["error"], Value::Null);
    let backups = backend.backups().await.wait_for(&order_id, 3).await;
    assert_eq!(backups[2]["status"], "cancelled");
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "cancelled");
}

async fn a_failed_order_fails_its_execution(backend: Backend) {
    let server = backend.start().await;
    let (order_id, arn) = create(&server).await;
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    // When the order is marked failed while the workflow waits, with a reason
    let failed = server
        .request(Method::PUT, &format!("/orders/{order_id}/status"))
        .json(&json!({ "status": "failed", "reason": "payment declined" }))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::OK);
    // Then the execution fails, naming why
    let execution = wait_for_execution(&server, &arn, "FAILED").await;
    assert_eq!(execution["error"], "OrderFailed");
    if backend.is_embedded() {
        // (moto leaves out a Fail state's CausePath; Step Functions and the embedded engine fill it)
        assert!(execution["cause"].as_str().unwrap().contains(&order_id));
    }
    // And the order shows the client's reason (the workflow's own failure write finds it failed
    // already), as does the backup of that version
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(
        (order["status"].as_str(), order["failure_reason"].as_str()),
        (Some("failed"), Some("payment declined"))
    );
    let backups = backend.backups().await.wait_for(&order_id, 3).await;
    assert_eq!(backups[2]["failure_reason"], "payment declined");
}

async fn an_order_cancelled_before_processing_is_left_alone(backend: Backend) {
    // Given an order cancelled in the same instant it was created (its workflow may not have run)
    let server = backend.start().await;
    let (order_id, arn) = create(&server).await;
    let cancelled = server.set_status(&order_id, "cancelled", None).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    // Then the execution ends without error and the order stays cancelled, whichever came first
    wait_for_execution(&server, &arn, "SUCCEEDED").await;
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "cancelled");
}

async fn killing_the_server_mid_workflow_loses_nothing(backend: Backend) {
    // Given orders part-way through their workflows
    let server = backend.start().await;
    let (first, first_arn) = create(&server).await;
    let (second, second_arn) = create(&server).await;
    server.wait_for_order(&first, |o| o["status"] == "processing").await;
    server.wait_for_order(&second, |o| o["status"] == "processing").await;
    assert_eq!(server.set_status(&second, "shipped", None).await.status(), StatusCode::OK);
    // When the server is killed outright, and started again
    server.stop_with("KILL").await;
    let server = backend.start().await;
    // Then the executions go on from where they were
    assert_eq!(server.set_status(&first, "shipped", None).await.status(), StatusCode::OK);
    // (killed again, in the middle of waiting for delivery)
    server.stop_with("KILL").await;
    let server = backend.start().await;
    for order_id in [&first, &second] {
        assert_eq!(server.set_status(order_id, "delivered", None).await.status(), StatusCode::OK);
    }
    wait_for_execution(&server, &first_arn, "SUCCEEDED").await;
    wait_for_execution(&server, &second_arn, "SUCCEEDED").await;
    // And every version of both orders is backed up
    for order_id in [&first, &second] {
        let backups = backend.backups().await.wait_for(order_id, 4).await;
        assert_eq!(backups[3]["status"], "delivered");
    }
}

on_every_backend!(
    an_order_flows_from_created_to_delivered_with_a_backup_of_every_version,
    a_cancelled_order_ends_its_execution_cleanly,
    a_failed_order_fails_its_execution,
    an_order_cancelled_before_processing_is_left_alone,
    killing_the_server_mid_workflow_loses_nothing,
);
