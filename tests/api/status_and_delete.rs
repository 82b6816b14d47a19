//! Status changes (transition table, If-Match, concurrency) and deletion.

use futures::future::join_all;
use reqwest::{Method, StatusCode};

use crate::common::{Server, assert_error, body_json};

#[tokio::test]
async fn an_order_moves_along_the_transition_table() {
    // Given an order its workflow has marked processing (version 2)
    let server = Server::start().await;
    let order_id = server.create_processing("CUST001").await;
    // When it is shipped and delivered
    for (step, status) in ["shipped", "delivered"].into_iter().enumerate() {
        let response = server.set_status(&order_id, status, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let version = step as u64 + 3;
        assert_eq!(response.headers().get("etag").unwrap().to_str().unwrap(), format!("\"{version}\""));
        let order = body_json(response).await;
        // Then each change is saved with a new version
        assert_eq!(order["status"], status);
        assert_eq!(order["version"], version);
    }
    // And a delivered order cannot go back to pending
    let response = server.set_status(&order_id, "pending", None).await;
    assert_error(response, StatusCode::CONFLICT, "Illegal status transition from delivered to pending").await;
    // And setting the status it has changes nothing
    let response = server.set_status(&order_id, "delivered", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["version"], 4);
}

#[tokio::test]
async fn bad_status_bodies_are_400s() {
    let server = Server::start().await;
    let order_id = server.create_for("CUST001").await;
    let put =
        |body: serde_json::Value| server.request(Method::PUT, &format!("/orders/{order_id}/status")).json(&body).send();
    let cases = [
        (serde_json::json!({}), "Missing required field: status"),
        (serde_json::json!({"status": 3}), "Invalid field status: must be a string"),
        (
            serde_json::json!({"status": "lost"}),
            "Invalid field status: status must be one of pending, processing, shipped, delivered, cancelled, failed (got \"lost\")",
        ),
        (serde_json::json!({"status": "shipped", "extra": 1}), "Invalid field extra: is not a known field"),
        (
            serde_json::json!({"status": "cancelled", "reason": "changed my mind"}),
            "Invalid field reason: is only for a change to \"failed\"",
        ),
        (serde_json::json!({"status": "failed", "reason": 7}), "Invalid field reason: must be a string"),
        (serde_json::json!({"status": "failed", "reason": null}), "Invalid field reason: must be a string"),
        (
            serde_json::json!({"status": "failed", "reason": " "}),
            "Invalid field reason: must be 1 to 1000 characters, not blank",
        ),
    ];
    for (body, message) in cases {
        assert_error(put(body).await.unwrap(), StatusCode::BAD_REQUEST, message).await;
    }
    let response = server.set_status(&order_id, "processing", Some("v1")).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Invalid If-Match header: expected the order's version, like \"3\"",
    )
    .await;
}

#[tokio::test]
async fn if_match_refuses_a_stale_version() {
    let server = Server::start().await;
    let order_id = server.create_processing("CUST001").await;
    assert_eq!(server.set_status(&order_id, "shipped", Some("\"2\"")).await.status(), StatusCode::OK);
    let response = server.set_status(&order_id, "cancelled", Some("\"2\"")).await;
    assert_error(response, StatusCode::PRECONDITION_FAILED, "Version mismatch: the order is at version 3, not 2").await;
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "shipped");
}

#[tokio::test]
async fn concurrent_updates_from_the_same_version_exactly_one_wins() {
    // Given an order in processing, at version 2
    let server = Server::start().await;
    let order_id = server.create_processing("CUST001").await;
    // When 16 clients change it at once, each from version 2, to different legal statuses
    let attempts = (0..16).map(|i| {
        let target = ["shipped", "cancelled", "failed"][i % 3];
        server.set_status(&order_id, target, Some("\"2\""))
    });
    let statuses: Vec<StatusCode> = join_all(attempts).await.iter().map(|r| r.status()).collect();
    // Then exactly one wins; the others learn the version moved on
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count();
    assert_eq!((winners, refused), (1, 15), "{statuses:?}");
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["version"], 3, "exactly one change was written");
}

#[tokio::test]
async fn a_deleted_order_is_gone() {
    let server = Server::start().await;
    let order_id = server.create_for("CUST001").await;
    // A stale If-Match protects it
    let response = server
        .request(Method::DELETE, &format!("/orders/{order_id}"))
        .header("If-Match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    // Deleting it answers with its id
    let response = server.request(Method::DELETE, &format!("/orders/{order_id}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        serde_json::json!({"message": "Order deleted successfully", "order_id": order_id})
    );
    // Then a later GET is 404, and so is deleting again
    let response = server.request(Method::GET, &format!("/orders/{order_id}")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
    let response = server.request(Method::DELETE, &format!("/orders/{order_id}")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
}
