//! `Idempotency-Key` on `POST /orders`: retries never create a second order.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Server, assert_error, body_json, seed_order};

async fn create_with_key(server: &Server, key: &str, body: &serde_json::Value) -> reqwest::Response {
    server.request(Method::POST, "/orders").header("Idempotency-Key", key).json(body).send().await.unwrap()
}

#[tokio::test]
async fn the_same_key_and_body_returns_the_first_response_and_creates_nothing() {
    // Given an order created with a key
    let server = Server::start().await;
    let first = create_with_key(&server, "retry-7f3a", &seed_order()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = body_json(first).await;
    // When the client retries (the same body, spelled differently)
    let respelled = json!({"items": [{"quantity": 2, "product_id": "PROD001"}, {"product_id": "PROD002", "quantity": 1}], "customer_id": "CUST001"});
    let again = create_with_key(&server, "retry-7f3a", &respelled).await;
    // Then it gets the first response, marked as a replay, and no second order exists
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(body_json(again).await, first);
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let server = Server::start().await;
    assert_eq!(create_with_key(&server, "k-1", &seed_order()).await.status(), StatusCode::CREATED);
    let mut other = seed_order();
    other["items"][0]["quantity"] = json!(3);
    let response = create_with_key(&server, "k-1", &other).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Idempotency-Key was already used with a different request",
    )
    .await;
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 1);
    // A key that cannot be one is a 400
    let response = create_with_key(&server, &"k".repeat(256), &seed_order()).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Invalid field Idempotency-Key: must be 1 to 255 printable ASCII characters",
    )
    .await;
}

#[tokio::test]
async fn the_same_key_sent_concurrently_creates_one_order() {
    // Given 12 clients sending the same keyed request at the same moment
    let server = Server::start().await;
    let body = seed_order();
    let responses = join_all((0..12).map(|_| create_with_key(&server, "burst-1", &body))).await;
    // Then all succeed with the same order id, and exactly one order exists
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(body_json(response).await["order_id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 1);
}
