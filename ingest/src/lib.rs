//! Ingest: where orders enter the pipeline. [`http`] is the REST API (one axum Router, served by
//! `orders serve` locally and by the `api` Lambda through `lambda_http`); [`import`] takes batch
//! imports from the import queue (the `import` Lambda, and `orders serve`'s local runner).

pub mod http;
pub mod import;
