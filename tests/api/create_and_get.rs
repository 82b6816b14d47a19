//! Creating an order (the seed's example as written) and reading it back.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Server, body_json, seed_order};

#[tokio::test]
async fn the_seed_create_example_returns_exactly_the_seed_fields() {
    // Given a fresh local stack
    let server = Server::start().await;
    // When the seed's create example is sent as written
    let response = server.create(&seed_order()).await;
    // Then it is created with exactly the seed's four fields
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let body = body_json(response).await;
    let fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["execution_arn", "message", "note", "order_id"]);
    assert_eq!(body["message"], "Order created successfully");
    assert_eq!(body["note"], "Save this execution_arn to check workflow status later");
    let order_id = body["order_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(order_id).is_ok());
    assert_eq!(location, format!("/orders/{order_id}"));
    assert_eq!(
        body["execution_arn"],
        format!("arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:{order_id}")
    );
}

#[tokio::test]
async fn a_created_order_reads_back_priced_with_two_decimal_amounts() {
    // Given an order made from the seed's example
    let server = Server::start().await;
    let order_id = server.create_for("CUST001").await;
    // When it is read
    let response = server.request(Method::GET, &format!("/orders/{order_id}")).send().await.unwrap();
    // Then it carries its items, prices, the total 150.75 and version 1 (also as ETag)
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert!(text.contains("\"total_amount\":150.75"), "{text}");
    assert!(text.contains("\"unit_price\":25.50"), "{text}");
    assert!(text.contains("\"line_total\":51.00"), "{text}");
    let order: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(order["order_id"], order_id);
    assert_eq!(order["customer_id"], "CUST001");
    // (its workflow may already have marked it processing: version 2)
    let (status, version) = (order["status"].as_str().unwrap(), order["version"].as_u64().unwrap());
    assert!(matches!((status, version), ("pending", 1) | ("processing", 2)), "{status} v{version}");
    assert_eq!(etag, format!("\"{version}\""));
    assert_eq!(
        order["items"],
        json!([
            {"product_id": "PROD001", "quantity": 2, "unit_price": 25.50, "line_total": 51.00},
            {"product_id": "PROD002", "quantity": 1, "unit_price": 99.75, "line_total": 99.75}
        ])
    );
    let created = chrono::DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(created.offset().local_minus_utc(), 0);
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));
    if version == 1 {
        assert_eq!(order["created_at"], order["updated_at"]);
    }
    assert!(order["execution_arn"].as_str().unwrap().ends_with(&order_id));
}

#[tokio::test]
async fn a_catalog_file_replaces_the_demo_catalog() {
    // Given a server started with a catalog file of its own
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, r#"{"products":[{"product_id":"APPLE","name":"Apple","unit_price":"0.29"}]}"#).unwrap();
    let server = Server::launch(crate::common::Launch {
        args: vec!["--catalog".into(), catalog.display().to_string()],
        ..Default::default()
    })
    .await;
    // When apples are ordered, they are priced from the file
    let response = server.create(&json!({"customer_id": "C", "items": [{"product_id": "APPLE", "quantity": 3}]})).await;
    let order_id = body_json(response).await["order_id"].as_str().unwrap().to_owned();
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["total_amount"], json!(0.87));
    // And the demo products are gone
    let response = server.create(&seed_order()).await;
    crate::common::assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Unknown product_id \"PROD001\" in items[0].product_id",
    )
    .await;
}
