//! One id through the whole pipeline on the embedded default: the id of the request that created
//! an order (the client's `x-request-id`) is on every log line about that order, from every
//! handler it went through: the create, the change reactions, the backups, the workflow's tasks and
//! the hand-off, and later requests' status changes. (On AWS, through the deployed functions:
//! `deployed_pipeline.rs`.)

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backends::{Backups, wait_for_execution};
use crate::common::{Launch, Server, body_json, seed_order};
use crate::fulfilment::Receiver;
use crate::logs::{about_order, field, json_lines};

#[tokio::test(flavor = "multi_thread")]
async fn every_log_line_about_an_order_carries_the_id_of_the_request_that_created_it() {
    // Given a server writing JSON logs, handing orders off to a merchant who takes them
    let receiver = Receiver::spawn(&[], 200).await;
    let (args, env) = receiver.serve_config(vec!["--log-format".into(), "json".into()]);
    let server = Server::launch(Launch { args, env, ..Launch::default() }).await;

    // When a client creates an order under its own request id, and it is shipped and delivered
    let correlation_id = "checkout-7f3a9c";
    let response = server
        .request(Method::POST, "/orders")
        .header("x-request-id", correlation_id)
        .json(&seed_order())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], correlation_id);
    let created = body_json(response).await;
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    for status in ["shipped", "delivered"] {
        let change = json!({"status": status});
        let response =
            server.request(Method::PUT, &format!("/orders/{order_id}/status")).json(&change).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let execution = wait_for_execution(&server, created["execution_arn"].as_str().unwrap(), "SUCCEEDED").await;
    // (the execution's input carries it too, and so the processing task's message)
    assert_eq!(execution["input"]["correlation_id"], correlation_id);
    Backups::Folder(server.data_dir().to_owned()).wait_for(&order_id, 4).await;

    // Then every line about the order carries that id, beside the order id
    let log = std::fs::read_to_string(server.data_dir().join("server.log")).unwrap();
    let lines = json_lines(&log);
    let about = about_order(&lines, &order_id);
    let without: Vec<_> = about.iter().filter(|line| field(line, "correlation_id") != Some(correlation_id)).collect();
    assert!(without.is_empty(), "lines about {order_id} without its correlation id: {without:#?}");
    // And they come from every handler the order went through
    let messages: BTreeSet<&str> = about.iter().filter_map(|line| field(line, "message")).collect();
    for expected in ["order created", "backup written", "order handed off", "order status changed"] {
        assert!(messages.contains(expected), "no {expected:?} line about the order: {messages:?}");
    }
    let spans: BTreeSet<&str> =
        about.iter().filter_map(|line| line.get("span").and_then(|s| s["name"].as_str())).collect();
    for handler in ["request", "order_change", "backup", "workflow_task"] {
        assert!(spans.contains(handler), "no line from {handler}: {spans:?}");
    }
}
