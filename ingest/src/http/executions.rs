//! `GET /executions/{execution_arn}`: a workflow execution's status, dates, output or error.

use axum::Json;
use axum::extract::{Path, State};
use orders_core::ports::{ExecutionArn, ExecutionDescription};

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// Describe a workflow execution. Pass the ARN URL-encoded (`arn%3Aaws%3Astates%3A…`).
#[utoipa::path(
    get, path = "/executions/{execution_arn}", tag = "workflow",
    params(("execution_arn" = String, Path, description = "The execution's ARN, URL-encoded")),
    responses(
        (status = 200, description = "The execution", body = ExecutionDescription),
        (status = 400, description = "Not an execution ARN", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub async fn describe_execution(
    State(state): State<AppState>,
    Path(raw_arn): Path<String>,
) -> Result<Json<ExecutionDescription>, ApiError> {
    let arn: ExecutionArn = raw_arn.parse().map_err(|e| ApiError::BadRequest(format!("Invalid {e}")))?;
    Ok(Json(state.service.describe_execution(&arn).await?))
}
