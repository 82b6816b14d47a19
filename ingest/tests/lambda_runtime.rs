//! The `api` Lambda run as Lambda runs it: API Gateway REST API proxy events through a local Runtime
//! API, with the axum Router inside `lambda_http`, over a deployment in moto (the stack the template
//! creates, every route under the function's own role: tests/api/deployed_pipeline.rs).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/emf.rs"]
mod emf;
#[path = "../../tests/support/moto.rs"]
mod moto;
#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use deployment::Deployment;
use emf::Emf;
use orders_core::domain::ProductCatalog;
use orders_ingest::http::ApiKeys;
use runtime_api::{RuntimeApi, rest_event, rest_response as response, spawn_function};
use serde_json::json;

const KEY: &str = "lambda-test-key-0123456789";

/// A deployment with the demo catalog and the api function configured for it as the template
/// configures it, with `extra` variables besides.
async fn start_api(extra: &[(&str, &str)]) -> (Deployment, RuntimeApi, runtime_api::FunctionProcess) {
    let deployment = Deployment::start().await;
    deployment.system.ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let api = RuntimeApi::start().await;
    let mut env = deployment.function_env();
    env.push(("API_KEY_SHA256", ApiKeys::hex_digest(KEY)));
    env.push(("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()));
    env.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = spawn_function(env!("CARGO_BIN_EXE_api"), &api, &env).await;
    (deployment, api, function)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_serves_the_rest_api_behind_a_stage() {
    // Given a deployment with the demo catalog, and the api function configured for it
    let (_deployment, api, function) = start_api(&[]).await;

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

    // When the client cancels it
    let path = format!("/orders/{order_id}/status");
    let cancel = json!({"status": "cancelled"});
    let (status, body) = response(api.invoke(rest_event("PUT", &path, None, Some(KEY), Some(cancel))).await);
    assert_eq!(status, 200, "{body}");
    // And a second order goes all the way to delivered
    let order = json!({"customer_id": "CUST002", "items": [{"product_id": "PROD002", "quantity": 1}]});
    let (status, created) = response(api.invoke(rest_event("POST", "/orders", None, Some(KEY), Some(order))).await);
    assert_eq!(status, 201, "{created}");
    let path = format!("/orders/{}/status", created["order_id"].as_str().unwrap());
    for step in ["processing", "shipped", "delivered"] {
        let change = json!({"status": step});
        let (status, body) = response(api.invoke(rest_event("PUT", &path, None, Some(KEY), Some(change))).await);
        assert_eq!(status, 200, "{step}: {body}");
    }
    // Then the function's metrics count the creates, the cancel and the delivery, and the first invocation's
    // cold start only, each document carrying its invocation's request id
    let output = function.output();
    let metrics = Emf::parse(&output);
    let api_function = [("function", "api")];
    assert_eq!(metrics.sum("orders_created", &api_function), 2.0, "{output}");
    assert_eq!(metrics.sum("orders_cancelled", &api_function), 1.0, "{output}");
    assert_eq!(metrics.sum("orders_delivered", &api_function), 1.0, "{output}");
    assert_eq!(metrics.sum("cold_starts", &api_function), 1.0, "{output}");
    let documents: Vec<serde_json::Value> =
        output.lines().filter(|l| l.contains("\"_aws\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(documents.iter().all(|d| d["request_id"].as_str().is_some_and(|id| !id.is_empty())), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_logs_at_the_level_lambda_sets() {
    // Given the api function with Lambda's log level at WARN
    let (_deployment, api, function) = start_api(&[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "debug")]).await;
    // When an order is created and a client marks it failed
    let order = json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 1}]});
    let (status, created) = response(api.invoke(rest_event("POST", "/orders", None, Some(KEY), Some(order))).await);
    assert_eq!(status, 201, "{created}");
    let path = format!("/orders/{}/status", created["order_id"].as_str().unwrap());
    let failed = json!({"status": "failed", "reason": "customer's card declined"});
    let (status, body) = response(api.invoke(rest_event("PUT", &path, None, Some(KEY), Some(failed))).await);
    assert_eq!(status, 200, "{body}");
    // Then no INFO line was written (Lambda's level wins over RUST_LOG), but the metrics were
    let output = function.output();
    assert!(!output.contains("order created"), "{output}");
    let metrics = Emf::parse(&output);
    assert_eq!(metrics.sum("orders_failed", &[("function", "api"), ("reason", "client")]), 1.0, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_stops_at_start_without_its_configuration() {
    let api = RuntimeApi::start().await;
    let mut function = spawn_function(env!("CARGO_BIN_EXE_api"), &api, &[]).await;
    let status = function.wait_exit(Duration::from_secs(10)).await.expect("it stops by itself");
    assert!(!status.success());
    assert!(function.output().contains("environment variables ORDERS_TABLE, CATALOG_TABLE, IDEMPOTENCY_TABLE, COUNTERS_TABLE, RESERVATIONS_TABLE, STATE_MACHINE_ARN, API_KEY_SHA256, AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH are required"), "{}", function.output());
}
