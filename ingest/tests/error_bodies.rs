//! Server errors answer the seed's 500 (or 503) body, naming the failing part and never an internal
//! detail: SQL, file paths, hosts, SDK messages stay in the log.

#![allow(clippy::unwrap_used, missing_docs)]

use axum::body::to_bytes;
use axum::response::IntoResponse;
use orders_core::application::OrderError;
use orders_core::ports::{StoreError, WorkflowError};
use orders_ingest::http::ApiError;
use serde_json::{Value, json};

const SECRET: &str = "SQLITE_CORRUPT at /srv/orders/data.sqlite3 via db-7.internal:5432";

async fn answer(error: OrderError) -> (u16, Value) {
    let response = ApiError::Order(error).into_response();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn storage_and_workflow_failures_name_the_part_and_nothing_internal() {
    // Given failures whose sources carry internal details
    let cases = [
        (OrderError::Storage(StoreError::Internal(SECRET.into())), 500, "Storage failure"),
        (OrderError::Workflow(WorkflowError::Internal(SECRET.into())), 500, "Workflow engine failure"),
        (OrderError::Unavailable(StoreError::Unavailable(SECRET.into())), 503, "Storage is temporarily unavailable"),
    ];
    for (error, status, part) in cases {
        // When they reach a client
        let (got_status, body) = answer(error).await;
        // Then the body is the seed's shape, names the part, and holds none of the detail
        assert_eq!(got_status, status);
        let message = if status == 500 { "Internal server error" } else { "Service unavailable" };
        assert_eq!(body, json!({"message": message, "error": part}), "{body}");
        assert!(!body.to_string().contains("SQLITE") && !body.to_string().contains("/srv/"));
    }
}
