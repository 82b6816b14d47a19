//! Many clients at once: updates of one order without `If-Match` lose nothing, and concurrent creates
//! are all counted. (`status_and_delete` races `If-Match` updates; `idempotency` races one key.)

use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Server, body_json};

#[tokio::test(flavor = "multi_thread")]
async fn fifty_clients_changing_one_order_at_once_lose_no_update() {
    // Given an order in processing, at version 2
    let server = Server::start().await;
    let order_id = server.create_processing("CUST001").await;

    // When 50 clients change its status at the same moment, without If-Match
    let targets = ["shipped", "delivered", "cancelled", "failed", "shipped"];
    let attempts = (0..50).map(|i| {
        let server = &server;
        let order_id = &order_id;
        async move {
            let response = server.set_status(order_id, targets[i % targets.len()], None).await;
            let status = response.status();
            (status, body_json(response).await)
        }
    });
    let answers: Vec<(StatusCode, Value)> = join_all(attempts).await;

    // Then every answer is a success or a refused transition, never a server error
    for (status, body) in &answers {
        assert!(matches!(*status, StatusCode::OK | StatusCode::CONFLICT), "{status} {body}");
    }
    // And the successes wrote versions 3, 4, … with no gap, one status per version (setting the status
    // an order already has is answered with that version and writes nothing)
    let mut written: std::collections::BTreeMap<u64, BTreeSet<String>> = Default::default();
    for (_, body) in answers.iter().filter(|(status, _)| *status == StatusCode::OK) {
        let version = body["version"].as_u64().unwrap();
        written.entry(version).or_default().insert(body["status"].as_str().unwrap().to_owned());
    }
    assert!(!written.is_empty());
    assert!(written.values().all(|statuses| statuses.len() == 1), "two changes share a version: {written:?}");
    let versions: Vec<u64> = written.keys().copied().collect();
    assert_eq!(versions, (3..3 + versions.len() as u64).collect::<Vec<_>>(), "{written:?}");
    // And the order is the last change: nothing was overwritten by a slower writer
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    let (last_version, last_status) = written.last_key_value().unwrap();
    assert_eq!(order["version"].as_u64().unwrap(), *last_version);
    assert!(last_status.contains(order["status"].as_str().unwrap()), "{order} vs {written:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_creates_are_all_stored_and_counted() {
    // Given a running server
    let server = Server::start().await;

    // When 200 clients create an order at once, each for its own customer
    let creates = (0..200).map(|i| {
        let server = &server;
        async move {
            let body = json!({"customer_id": format!("C-{i:03}"), "items": [{"product_id": "PROD002", "quantity": 1}]});
            server.create(&body).await.status()
        }
    });
    let statuses = join_all(creates).await;

    // Then all are created, and the listing counts and walks exactly 200 distinct orders
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    let (_, first) = server.get_json("/orders?limit=100").await;
    assert_eq!(first["pagination"], json!({"page": 1, "limit": 100, "total": 200, "pages": 2}));
    let (_, second) = server.get_json("/orders?limit=100&page=2").await;
    let customers: BTreeSet<&str> = [&first, &second]
        .iter()
        .flat_map(|page| page["orders"].as_array().unwrap())
        .map(|order| order["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(customers.len(), 200);
    let (_, filtered) = server.get_json("/orders?limit=1&customer_id=C-123").await;
    assert_eq!(filtered["pagination"]["total"], 1);
}
