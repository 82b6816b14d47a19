//! Every error the API returns, mapped once to a status and the seed's JSON bodies:
//! `{"message": "..."}` for client errors, `{"message": "Internal server error", "error": "..."}`
//! for server errors. Server-side details go to the logs, never into a response.

use std::any::Any;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orders_core::application::OrderError;
use orders_core::domain::ValidationError;
use orders_core::lambda::panic_message;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// The JSON error body of the seed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "Missing required field: customer_id")]
    pub message: String,
    /// On server errors only: which part failed (never internal details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The 403 every route documents: the API key check comes before anything else.
#[derive(IntoResponses)]
#[response(status = 403, description = "Missing or wrong API key")]
pub struct ForbiddenResponse(pub ErrorBody);

/// The failures every route that reads or writes storage documents.
#[derive(IntoResponses)]
pub enum StorageFailureResponses {
    /// A failure of the server or of what it calls.
    #[response(status = 500, description = "Server failure")]
    ServerFailure(ErrorBody),
    /// Storage is briefly busy (`Retry-After: 1`).
    #[response(status = 503, description = "Storage briefly unavailable: retry",
        headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1")))]
    Unavailable(ErrorBody),
}

/// The error a request body yields when the HTTP server's body-read deadline passes before the
/// whole body arrived (a client sending its body too slowly). Reading such a body is answered
/// `408 {"message":"Request body was not received in time"}` and the connection is closed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body was not received within the body-read timeout")]
pub struct BodyReadTimeout;

/// An error response of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused or failed.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// A malformed request (query, header, path) that the use cases never saw.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong API key.
    #[error("Forbidden")]
    Forbidden,
    /// No such route.
    #[error("Not found")]
    RouteNotFound,
    /// The route exists, but not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the limit.
    #[error("Request body is too large (limit {0} bytes)")]
    PayloadTooLarge(usize),
    /// The body did not arrive before the server's body-read deadline ([`BodyReadTimeout`]).
    #[error("Request body was not received in time")]
    RequestTimeout,
    /// The body is not declared as JSON.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::Order(OrderError::Validation(error))
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Order(error) => match error {
                OrderError::Validation(_) => StatusCode::BAD_REQUEST,
                OrderError::OrderNotFound | OrderError::ProductNotFound | OrderError::ExecutionNotFound => {
                    StatusCode::NOT_FOUND
                }
                OrderError::IllegalTransition(_) => StatusCode::CONFLICT,
                OrderError::VersionMismatch { .. } | OrderError::ProductVersionMismatch { .. } => {
                    StatusCode::PRECONDITION_FAILED
                }
                OrderError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
                OrderError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                OrderError::Storage(_) | OrderError::Workflow(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Order(OrderError::Unavailable(source)) => {
                tracing::warn!(error = %source, "storage unavailable");
                ErrorBody { message: "Service unavailable".into(), error: Some(self.to_string()) }
            }
            ApiError::Order(error @ (OrderError::Storage(_) | OrderError::Workflow(_))) => {
                tracing::error!(error = %error, cause = ?std::error::Error::source(error).map(ToString::to_string), "request failed");
                internal_error_body(error.to_string())
            }
            _ => ErrorBody { message: self.to_string(), error: None },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way: the connection cannot be reused.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

fn internal_error_body(what_failed: String) -> ErrorBody {
    ErrorBody { message: "Internal server error".into(), error: Some(what_failed) }
}

/// Fallback for unknown routes (reached only with a valid key: the key check comes first).
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Fallback for a known route called with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Turns a panic in a handler into the seed's 500 body; the panic message goes to the log only.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = panic_message(panic.as_ref()), "handler panicked");
    (StatusCode::INTERNAL_SERVER_ERROR, Json(internal_error_body("Unexpected failure".into()))).into_response()
}
