//! Ingest: where orders enter the pipeline. [`http`] is the REST API (one axum Router, served by
//! `orders serve` locally and by the `api` Lambda through `lambda_http`).

pub mod http;
pub mod lambda;
