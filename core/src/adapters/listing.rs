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

/// Where page `skip / limit` starts, from a scope's block counts (newest block first): the
/// exclusive upper bound of `seq` to read below, and how many matching orders to skip there. `None`
/// when the scope holds no more than `skip` orders.
pub fn page_start(buckets: &[(u64, u64)], skip: u64) -> Option<(u64, u64)> {
    let mut before = 0;
    for &(bucket, count) in buckets {
        if before + count > skip {
            return Some(((bucket + 1) * BUCKET, skip - before));
        }
        before += count;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_starts_in_the_block_its_offset_falls_in() {
        let buckets = [(5, 3), (4, 0), (2, 10)];
        assert_eq!(page_start(&buckets, 0), Some((6 * BUCKET, 0)));
        assert_eq!(page_start(&buckets, 2), Some((6 * BUCKET, 2)));
        assert_eq!(page_start(&buckets, 3), Some((3 * BUCKET, 0)));
        assert_eq!(page_start(&buckets, 12), Some((3 * BUCKET, 9)));
        assert_eq!(page_start(&buckets, 13), None);
    }
}
