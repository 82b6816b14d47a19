//! Adapters: the ports implemented on real infrastructure. `embedded` keeps everything in one SQLite
//! file (the default, no AWS, no network).

pub mod dynamodb_item;
pub mod embedded;
