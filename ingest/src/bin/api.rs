//! The `api` Lambda: the REST API's axum Router run by `lambda_http` behind API Gateway (REST API
//! payloads). Configuration is read once at start and a missing variable stops the start, naming it:
//! the tables (`ORDERS_TABLE`, `CATALOG_TABLE`, `IDEMPOTENCY_TABLE`, `COUNTERS_TABLE`),
//! `STATE_MACHINE_ARN`, and `API_KEY_SHA256` (the accepted keys' SHA-256 digests, comma-separated;
//! API Gateway checks keys too, and this keeps the API safe behind any other front door). Behind a
//! REST API stage, set `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` so routes match without the stage.

use std::sync::Arc;

use orders_core::adapters::aws::{AwsClients, AwsResources, AwsStack, env, required_env};
use orders_ingest::http::{ApiKeys, AppState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    orders_workers::lambda::init_logging();
    let mut resources = AwsResources::tables_from_env()?;
    resources.state_machine_arn = required_env(env::STATE_MACHINE_ARN)?;
    let digests = required_env(env::API_KEY_SHA256)?;
    let keys = ApiKeys::from_hex_digests(digests.split(',').map(str::trim).filter(|d| !d.is_empty()))?;
    let stack = AwsStack::new(AwsClients::for_lambda().await, resources);
    let app = router(AppState { service: stack.service.clone(), keys: Arc::new(keys) });
    lambda_http::run(app).await
}
