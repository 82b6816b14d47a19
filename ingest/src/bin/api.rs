//! The `api` Lambda: the REST API's axum Router run by `lambda_http` behind API Gateway (REST API
//! payloads). Its configuration is `functions::API` (read once at start; a missing variable stops
//! the start, naming it): the tables, the state machine, and `API_KEY_SHA256`, the accepted keys'
//! SHA-256 digests, comma-separated. API Gateway checks keys too; this check keeps the API safe
//! behind any other front door.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::RequestExt;
use orders_core::adapters::aws::{FunctionConfig, env, functions};
use orders_core::lambda::telemetry;
use orders_core::wiring::wire_lambda;
use orders_ingest::http::{ApiKeys, AppState, router};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orders_core::lambda::init(functions::API.binary);
    let config = FunctionConfig::from_env(&functions::API)?;
    let digests = config.get(env::API_KEY_SHA256).split(',').map(str::trim).filter(|d| !d.is_empty());
    let keys = ApiKeys::from_hex_digests(digests)?;
    let system = wire_lambda(&config).await;
    let app = router(AppState {
        service: system.ports.order_service(),
        products: system.ports.product_service(),
        keys: Arc::new(keys),
        metrics: None,
    })
    .layer(axum::middleware::from_fn(invocation));
    lambda_http::run(app).await
}

/// Each request is one invocation: it runs in the invocation's span (its Lambda request id, and
/// whether it is a cold start), and what it counted is written as metrics once it is answered.
async fn invocation(request: Request, next: Next) -> Response {
    let request_id = request.lambda_context_ref().map(|context| context.request_id.clone()).unwrap_or_default();
    let response = next.run(request).instrument(telemetry::invocation_span(&request_id)).await;
    telemetry::flush_metrics(&request_id);
    response
}
