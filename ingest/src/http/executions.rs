//! `GET /executions/{execution_arn}`: a workflow execution's status, dates, output or error.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::body::ExecutionBody;
use super::error::{ApiError, ErrorBody, ForbiddenResponse, StorageFailureResponses};
use super::extract::ExecutionArnPath;

/// Describe a workflow execution. Pass the ARN URL-encoded (`arn%3Aaws%3Astates%3A…`). A pending
/// order's execution not started yet (it starts from the order's change record) is started first, so
/// the ARN a create returned always answers.
#[utoipa::path(
    get, path = "/executions/{execution_arn}", tag = "workflow",
    params(("execution_arn" = String, Path,
        pattern = "^arn:aws[A-Za-z0-9-]*:states:[A-Za-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$",
        description = "The execution's ARN (`arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME`), URL-encoded")),
    responses(
        (status = 200, description = "The execution", body = ExecutionBody),
        (status = 400, description = "Not an execution ARN", body = ErrorBody),
        ForbiddenResponse,
        (status = 404, description = "No such execution", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn describe_execution(
    State(state): State<Arc<AppState>>,
    ExecutionArnPath(arn): ExecutionArnPath,
) -> Result<Json<ExecutionBody>, ApiError> {
    Ok(Json(state.service.describe_execution(&arn).await?.into()))
}
