//! The order pipeline's core: the order domain (no AWS, no storage), the ports the use cases need,
//! the use cases themselves, and the embedded adapters that implement the ports on one SQLite file.
//!
//! Data flows top-down: entry points (HTTP in `orders-ingest`, queues and streams in the workers) call
//! [`application`] (the use cases), which applies [`domain`] rules and talks to [`ports`]; [`adapters`]
//! implement the ports (embedded today; AWS behind the same traits). [`lambda`] (feature `lambda`)
//! is the plumbing every Lambda entry point shares; [`wiring`] builds every port of each way of running
//! (embedded, AWS or an AWS-compatible endpoint, inside Lambda); [`metrics`] names what the use cases count.

pub mod adapters;
pub mod application;
pub mod client_waiting;
pub mod domain;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod ports;
pub mod wiring;
