//! Scenarios against the real `orders serve` binary over HTTP, one module per area of the API.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;
#[path = "../support/lambda_service.rs"]
mod lambda_service;
#[path = "../support/logs.rs"]
mod logs;
#[path = "../support/moto.rs"]
mod moto;
#[path = "../support/runtime_api.rs"]
mod runtime_api;
#[path = "../support/stack.rs"]
mod stack_support;
#[path = "../support/template.rs"]
mod template;

#[macro_use]
mod backends;

mod auth;
mod concurrency;
mod correlation;
mod crash_safety;
mod create_and_get;
mod deployed_pipeline;
mod errors;
mod fulfilment;
mod idempotency;
mod listing;
mod metrics;
mod openapi;
mod operators;
mod pipeline;
mod products;
mod reliability;
mod runbooks;
mod security;
mod server_process;
mod slow_clients;
mod stack;
mod status;
mod status_and_delete;
mod workflow;
