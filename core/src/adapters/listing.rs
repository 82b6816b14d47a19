//! How both order stores name listing scopes: every listing is one scope (all orders, one status,
//! one customer, or one customer's orders in one status), and each scope keeps its own counts per
//! block of [`BUCKET`] sequence numbers.

use crate::domain::OrderStatus;

/// Sequence numbers per counting block.
pub const BUCKET: u64 = 1024;
/// Separates the parts of a scope (a control character: never part of an id).
pub const SEP: char = '\u{1f}';

/// The scope of a listing filter.
pub fn scope(status: Option<OrderStatus>, customer_id: Option<&str>) -> String {
    match (status, customer_id) {
        (None, None) => "*".to_owned(),
        (Some(status), None) => format!("s{SEP}{status}"),
        (None, Some(customer)) => format!("c{SEP}{customer}"),
        (Some(status), Some(customer)) => format!("cs{SEP}{customer}{SEP}{status}"),
    }
}
