//! The `api` Lambda run as Lambda runs it: API Gateway REST API proxy events through a local Runtime
//! API, with the axum Router inside `lambda_http`, over a deployment in moto (the stack the template
//! creates, every route under the function's own role: tests/api/deployed_pipeline.rs).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/moto.rs"]
mod moto;
#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use deployment::Deployment;
use orders_core::domain::ProductCatalog;
use orders_ingest::http::ApiKeys;
use runtime_api::{RuntimeApi, rest_event, rest_response as response, spawn_function};
use serde_json::json;

const KEY: &str = "lambda-test-key-0123456789";

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_serves_the_rest_api_behind_a_stage() {
    // Given a deployment with the demo catalog, and the api function configured for it
    let deployment = Deployment::start().await;
    deployment.system.ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let api = RuntimeApi::start().await;
    let mut env = deployment.function_env();
    env.push(("API_KEY_SHA256", ApiKeys::hex_digest(KEY)));
    env.push(("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = spawn_function(env!("CARGO_BIN_EXE_api"), &api, &env).await;

    // When the seed's order is posted through API Gateway
    let order = json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]});
    let (status, created) = response(api.invoke(rest_event("POST", "/orders", None, Some(KEY), Some(order))).await);
    // Then it is created, with its execution started on Step Functions
    assert_eq!(status, 201, "{created} {}", function.output());
    assert_eq!(created["message"], "Order created successfully");
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    assert!(created["execution_arn"].as_str().unwrap().ends_with(&order_id));
    // And it is listed, with the seed's total
    let (status, list) =
        response(api.invoke(rest_event("GET", "/orders", Some(json!({"limit": "5"})), Some(KEY), None)).await);
    assert_eq!(status, 200);
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["orders"][0]["total_amount"], json!(150.75));
    // And without a key it is refused, as everywhere
    let (status, body) = response(api.invoke(rest_event("GET", "/orders", None, None, None)).await);
    assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    let path = format!("/orders/{order_id}");
    let (status, body) = response(api.invoke(rest_event("GET", &path, None, Some(KEY), None)).await);
    assert_eq!(status, 200);
    assert_eq!(body["order_id"], order_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_stops_at_start_without_its_configuration() {
    let api = RuntimeApi::start().await;
    let mut function = spawn_function(env!("CARGO_BIN_EXE_api"), &api, &[]).await;
    let status = function.wait_exit(Duration::from_secs(10)).await.expect("it stops by itself");
    assert!(!status.success());
    assert!(function.output().contains("environment variables ORDERS_TABLE, CATALOG_TABLE, IDEMPOTENCY_TABLE, COUNTERS_TABLE, RESERVATIONS_TABLE, STATE_MACHINE_ARN, API_KEY_SHA256, AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH are required"), "{}", function.output());
}
