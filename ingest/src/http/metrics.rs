//! `GET /metrics`: the process's counters in Prometheus text format, where its runner exports them
//! (`orders serve`); a Lambda function sends its metrics to CloudWatch instead, and answers this
//! route as an unknown one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody, ForbiddenResponse};

/// Renders the process's metrics as Prometheus text.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// This process's metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "orders",
    responses(
        (status = 200, description = "The process's counters and histograms in Prometheus text format (`orders serve`)", content_type = "text/plain"),
        (status = 404, description = "Not exported here (a Lambda function sends its metrics to CloudWatch)", body = ErrorBody),
        ForbiddenResponse,
    )
)]
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(render) => ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], render()).into_response(),
        None => ApiError::RouteNotFound.into_response(),
    }
}
