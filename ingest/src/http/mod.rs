//! The REST API of `shared/spec/order-api-seed.md`: routes, API-key check, request reading, error
//! bodies and the OpenAPI document. [`router`] builds the one axum Router every runner uses.

mod auth;
mod body;
mod error;
mod executions;
mod extract;
mod metrics;
mod openapi;
mod orders;
mod products;
mod request_id;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post, put};
use orders_core::application::{OrderService, Products};
use tower::ServiceBuilder;
use tower::util::{MapFutureLayer, MapRequestLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::trace::TraceLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tracing::info_span;

pub use auth::{ApiKeys, InvalidApiKey, MIN_KEY_CHARS};
pub use body::{
    ApiExecutionStatus, ApiOrderStatus, ExecutionBody, ListQuery, NewOrderBody, NewOrderItemBody, OrderBody,
    OrderCreatedBody, OrderDeletedBody, OrderItemBody, OrderListBody, OrderSummaryBody, Pagination, ProductBody,
    ProductListBody, ProductListQuery, StatusChangeBody, StockChangeBody, WorkflowStartedBody,
};
pub use error::{ApiError, BodyReadTimeout, ErrorBody, ForbiddenResponse, StorageFailureResponses};
pub use metrics::MetricsText;
pub use openapi::{openapi_document, openapi_json};
pub use request_id::{MAX_REQUEST_ID_CHARS, is_acceptable_request_id, new_request_id};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The header that carries each request's id (the client's if it is short and plain, else a fresh
/// UUID; echoed in the response; see `request_id.rs`).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The order use cases.
    pub service: OrderService,
    /// The catalog use cases (products with their stock).
    pub products: Products,
    /// The accepted API keys.
    pub keys: Arc<ApiKeys>,
    /// The process's metrics as Prometheus text, for `GET /metrics`, where the runner exports them.
    pub metrics: Option<MetricsText>,
}

/// The whole API as one Router: every route behind the `x-api-key` check, JSON errors everywhere
/// (unknown routes and methods included), bodies capped at [`MAX_BODY_BYTES`], a request id on every
/// request and response, panics turned into the seed's 500 body.
pub fn router(state: AppState) -> Router {
    // Shared behind one Arc: axum hands each handler (and the key check) a clone of the state per
    // request, which for the state itself was a dozen reference counts up and down.
    let state = Arc::new(state);
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let routes = Router::new()
        .route("/orders", post(orders::create_order).get(orders::list_orders))
        .route("/orders/{order_id}", get(orders::get_order).delete(orders::delete_order))
        .route("/orders/{order_id}/status", put(orders::update_status))
        .route("/orders/{order_id}/workflow", post(orders::start_workflow))
        .route("/executions/{execution_arn}", get(executions::describe_execution))
        .route("/products", get(products::list_products))
        .route("/products/{product_id}", get(products::get_product))
        .route("/products/{product_id}/stock", put(products::set_stock))
        .route("/openapi.json", get(openapi::serve_document))
        .route("/metrics", get(metrics::render))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed);
    // Every layer in one `layer` call: each call wraps every route in a boxed service of its own,
    // which a request then clones and calls through (five of them were 3% of a `GET`'s CPU time).
    routes
        .layer(
            ServiceBuilder::new()
                .layer(MapRequestLayer::new(request_id::assign::<axum::body::Body>))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request<_>| {
                            let request_id = request
                                .headers()
                                .get(REQUEST_ID_HEADER)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default();
                            info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                        })
                        .on_response(|response: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                            tracing::info!(
                                status = response.status().as_u16(),
                                latency_ms = latency.as_millis() as u64,
                                "response"
                            );
                        }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(error::panic_response))
                .layer(MapFutureLayer::new(orders_core::client_waiting::client_waiting))
                .layer(ValidateRequestHeaderLayer::custom(auth::RequireApiKey(state.keys.clone())))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state)
}
