//! The `orders` binary's library: command-line configuration (parsed once, validated up front) and
//! `orders serve`, the local stack on the embedded default.

pub mod api_key;
pub mod backend;
pub mod background;
pub mod backup;
pub mod catalog;
pub mod completions;
pub mod config;
pub mod dlq;
pub mod executions;
pub mod http_server;
pub mod import;
pub mod output;
pub mod pipeline;
pub mod rate_limit;
pub mod serve;
pub mod serve_lock;
pub mod setup;
pub mod status;
pub mod telemetry;
