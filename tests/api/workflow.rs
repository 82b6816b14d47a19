//! The workflow routes: starting an order's execution and describing executions.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Server, assert_error, body_json};

fn encoded(arn: &str) -> String {
    arn.replace(':', "%3A")
}

#[tokio::test]
async fn creating_an_order_starts_a_real_execution_that_can_be_described() {
    // Given a created order and the ARN it returned
    let server = Server::start().await;
    let response = server.create(&crate::common::seed_order()).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let created = body_json(response).await;
    let arn = created["execution_arn"].as_str().unwrap();
    let order_id = created["order_id"].as_str().unwrap();
    // When the execution is looked up by its URL-encoded ARN
    let (status, execution) = server.get_json(&format!("/executions/{}", encoded(arn))).await;
    // Then it is running, named by the order, with the order id, its products and the id of the
    // request that created it as input
    assert_eq!(status, StatusCode::OK, "{execution}");
    assert_eq!(execution["execution_arn"], arn);
    assert_eq!(execution["name"], order_id);
    assert_eq!(execution["status"], "RUNNING");
    assert_eq!(
        execution["input"],
        json!({"order_id": order_id, "product_ids": ["PROD001", "PROD002"], "correlation_id": request_id})
    );
    assert_eq!(execution["state_machine_arn"], "arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessing");
    assert!(chrono::DateTime::parse_from_rfc3339(execution["start_date"].as_str().unwrap()).is_ok());
    assert_eq!(execution["stop_date"], json!(null));
}

#[tokio::test]
async fn triggering_the_workflow_again_returns_the_same_execution() {
    // Given an order whose workflow runs (its execution, asked for, is there)
    let server = Server::start().await;
    let created = body_json(server.create(&crate::common::seed_order()).await).await;
    let order_id = created["order_id"].as_str().unwrap();
    let arn = created["execution_arn"].as_str().unwrap();
    let (status, _) = server.get_json(&format!("/executions/{}", encoded(arn))).await;
    assert_eq!(status, StatusCode::OK);
    // When the client triggers it again, then it gets the same execution back
    let response = server.request(Method::POST, &format!("/orders/{order_id}/workflow")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body_json(response).await,
        json!({"message": "Workflow already started", "order_id": order_id, "execution_arn": created["execution_arn"]})
    );
}

#[tokio::test]
async fn unknown_and_malformed_execution_arns() {
    let server = Server::start().await;
    let unknown =
        "arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:550e8400-e29b-41d4-a716-446655440000";
    let response = server.request(Method::GET, &format!("/executions/{}", encoded(unknown))).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Execution not found").await;
    let response = server.request(Method::GET, "/executions/not-an-arn").send().await.unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Invalid execution_arn must look like arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME",
    )
    .await;
}
