//! Ingest: the REST API through which orders enter the pipeline ([`http`]: one axum Router, served
//! by `orders serve` locally and by the `api` Lambda through `lambda_http`). Batch imports arrive
//! through the import queue and are the import worker's (`orders-workers`).

pub mod http;
