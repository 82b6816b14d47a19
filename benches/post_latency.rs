//! How long `POST /orders` takes on the AWS adapters, against moto: the api function's Router (what
//! `lambda_http` runs) over a deployment's tables, catalog and state machine, orders posted one after
//! the other, with and without an Idempotency-Key. What it shows is the AWS round trips a create
//! waits on, each a call to moto on loopback; the figures and their context are in
//! `docs/benchmarks/aws-cost.md`.
//!
//! `cargo bench -p orders --bench post_latency` (moto from `scripts/install-moto`); `-- --orders N`
//! posts N orders per series (200 by default).

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/moto.rs"]
mod moto;

#[path = "../tests/support/deployment.rs"]
mod deployment;

#[path = "../tests/support/bench_args.rs"]
mod args;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use orders_core::domain::ProductCatalog;
use orders_ingest::http::{ApiKeys, AppState, router};
use serde_json::json;
use tower::ServiceExt;

const API_KEY: &str = "post-latency-benchmark-key-0123456789";

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let orders = args::orders_argument(200);
    let deployment = deployment::Deployment::start().await;
    let ports = &deployment.system.ports;
    ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
    let api = router(AppState {
        service: ports.order_service(),
        products: ports.product_service(),
        keys: Arc::new(ApiKeys::from_keys([API_KEY]).unwrap()),
        metrics: None,
    });
    let post = async |key: Option<String>| {
        let order = json!({"customer_id": "CUST001", "items": [
            {"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]});
        let mut request = Request::builder()
            .method("POST")
            .uri("/orders")
            .header("x-api-key", API_KEY)
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Body::from(order.to_string())).unwrap();
        let started = Instant::now();
        let response = api.clone().oneshot(request).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(response.status(), StatusCode::CREATED);
        elapsed
    };
    for _ in 0..10 {
        post(None).await;
    }
    println!("POST /orders against moto, {orders} orders per series, one after the other");
    println!("| Series | p50 | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for series in ["without a key", "with an Idempotency-Key"] {
        let mut times = Vec::with_capacity(orders);
        for i in 0..orders {
            let key = (series != "without a key").then(|| format!("post-latency-{i}-{}", uuid::Uuid::new_v4()));
            times.push(post(key).await);
        }
        times.sort();
        println!(
            "| {series} | {} | {} | {} | {} |",
            millis(percentile(&times, 0.5)),
            millis(percentile(&times, 0.9)),
            millis(percentile(&times, 0.99)),
            millis(*times.last().unwrap())
        );
    }
}
