//! Adapters: the ports implemented on real infrastructure. `embedded` keeps everything in one SQLite
//! file (the default, no AWS, no network).

#[cfg(feature = "aws")]
pub mod aws;
pub mod dynamodb_item;
pub mod embedded;
pub mod listing;
pub(crate) mod status_change;
pub mod webhook;
