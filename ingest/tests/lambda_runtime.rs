//! The `api` Lambda run as Lambda runs it: API Gateway REST API proxy events through a local Runtime
//! API, with the axum Router inside `lambda_http`, over a deployment in moto, and over the stack
//! the template creates, under the function's own role with IAM enforced.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/support/deployment.rs"]
mod deployment;
#[path = "../../tests/support/moto.rs"]
mod moto;
#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;
#[path = "../../tests/support/stack.rs"]
mod stack;
#[path = "../../tests/support/template.rs"]
mod template;

use std::time::Duration;

use deployment::Deployment;
use orders_core::domain::ProductCatalog;
use orders_ingest::http::ApiKeys;
use runtime_api::{Invocation, RuntimeApi, spawn_function};
use serde_json::{Value, json};

const KEY: &str = "lambda-test-key-0123456789";

/// A REST API (v1) proxy event for `method path`.
fn rest_event(method: &str, path: &str, query: Option<Value>, key: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Content-Type": "application/json"});
    if let Some(key) = key {
        headers["x-api-key"] = json!(key);
    }
    let multi_headers: serde_json::Map<String, Value> =
        headers.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let multi_query = query.as_ref().map(|q| {
        q.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>()
    });
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "prod", "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"}, "resourcePath": "/{proxy+}",
            "httpMethod": method, "apiId": "abc123", "path": format!("/prod{path}"), "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1732520000000i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

fn response(invocation: Invocation) -> (u64, Value) {
    let Invocation::Response(response) = invocation else { panic!("the function failed: {invocation:?}") };
    let status = response["statusCode"].as_u64().unwrap();
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (status, body)
}

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
    assert!(function.output().contains("environment variables ORDERS_TABLE, CATALOG_TABLE, IDEMPOTENCY_TABLE, COUNTERS_TABLE, STATE_MACHINE_ARN, API_KEY_SHA256, AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH are required"), "{}", function.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_function_serves_every_route_under_its_own_role_in_the_deployed_stack() {
    // Given the stack, IAM enforced, its catalog loaded by an operator, and the api function as
    // deployed: its environment, its role
    let stack = stack::Stack::deploy().await;
    let admin = stack.admin_ports().await;
    admin.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let api = RuntimeApi::start().await;
    let env = stack.function_env("ApiFunction");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let function = spawn_function(env!("CARGO_BIN_EXE_api"), &api, &env).await;
    let key = Some(stack::API_KEY_PARAMETER);
    let call = async |method: &str, path: &str, body: Option<Value>| {
        let (status, answer) = response(api.invoke(rest_event(method, path, None, key, body)).await);
        assert!(status < 300, "{method} {path}: {status} {answer}\n{}", function.output());
        answer
    };
    // When every route is called through API Gateway, then each answers as it should, every call
    // of the function allowed by its role alone
    call("GET", "/openapi.json", None).await;
    call("GET", "/products", None).await;
    call("GET", "/products/PROD001", None).await;
    call("PUT", "/products/PROD001/stock", Some(json!({"stock": 50}))).await;
    let order = json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}]});
    let created = call("POST", "/orders", Some(order)).await;
    let order_id = created["order_id"].as_str().unwrap().to_owned();
    let arn = created["execution_arn"].as_str().unwrap().to_owned();
    call("GET", "/orders", None).await;
    call("GET", &format!("/orders/{order_id}"), None).await;
    call("POST", &format!("/orders/{order_id}/workflow"), None).await;
    call("GET", &format!("/executions/{}", arn.replace(':', "%3A")), None).await;
    call("PUT", &format!("/orders/{order_id}/status"), Some(json!({"status": "cancelled"}))).await;
    call("DELETE", &format!("/orders/{order_id}"), None).await;
}
