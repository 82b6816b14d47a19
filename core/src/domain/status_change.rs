//! The checks a change of a stored order must pass, decided on the order as read: the caller's
//! expected version (optimistic concurrency: a status change or a delete made from a stale read is
//! refused), then, for a status change, whether it changes anything and whether the transition
//! table allows it. The stores call these and keep only the conditional write that makes the
//! decision hold (the write must still find the version the decision was made on).

use super::order::Order;
use super::status::{IllegalTransition, OrderStatus};

/// The caller expected another version than the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("order is at version {current}, not {expected}")]
pub struct VersionMismatch {
    /// What the caller expected.
    pub expected: u64,
    /// What is stored.
    pub current: u64,
}

/// Why a status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatusChangeRefused {
    /// The order changed since the caller read it.
    #[error(transparent)]
    VersionMismatch(#[from] VersionMismatch),
    /// The transition table forbids the move.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
}

/// What a status change does to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// The order already has the status: nothing to write (a retried request is safe).
    Unchanged,
    /// The order moves along the transition table.
    Move {
        /// Its status now.
        from: OrderStatus,
        /// Its status after the change.
        to: OrderStatus,
    },
}

impl StatusChange {
    /// Whether the change takes the order's reserved units out of the stock for good (the saga's
    /// last step): a delivery does, in the same write as the status, once.
    pub const fn consumes_stock(self) -> bool {
        matches!(self, StatusChange::Move { to: OrderStatus::Delivered, .. })
    }

    /// Decides a change of `current` to `to`, made by a caller who read it at `expected_version`
    /// (`None`: whatever version is stored). The version is checked first, so that a stale caller
    /// learns that the order changed rather than what the change would have been.
    pub fn decide(
        current: &Order,
        to: OrderStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusChange, StatusChangeRefused> {
        check_version(current, expected_version)?;
        Ok(if current.status.check_transition(to)? {
            StatusChange::Move { from: current.status, to }
        } else {
            StatusChange::Unchanged
        })
    }
}

/// Checks that `current` is at the version the caller expects (`None`: any version will do).
pub fn check_version(current: &Order, expected_version: Option<u64>) -> Result<(), VersionMismatch> {
    match expected_version {
        Some(expected) if expected != current.version => Err(VersionMismatch { expected, current: current.version }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod stock_tests {
    use super::*;

    #[test]
    fn only_a_delivery_consumes_the_stock() {
        let change = |from, to| StatusChange::Move { from, to };
        assert!(change(OrderStatus::Shipped, OrderStatus::Delivered).consumes_stock());
        assert!(!change(OrderStatus::Processing, OrderStatus::Shipped).consumes_stock());
        assert!(!change(OrderStatus::Processing, OrderStatus::Cancelled).consumes_stock());
        assert!(!StatusChange::Unchanged.consumes_stock());
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{Money, OrderId};
    use OrderStatus::*;

    fn order(status: OrderStatus, version: u64) -> Order {
        Order {
            order_id: OrderId::generate(),
            customer_id: "CUST001".to_owned(),
            items: Vec::new(),
            total_amount: Money::from_cents(0),
            status,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            execution_arn: None,
            failure_reason: None,
            correlation_id: None,
        }
    }

    #[test]
    fn given_a_pending_order_when_it_moves_to_processing_then_the_change_is_a_move() {
        let decided = StatusChange::decide(&order(Pending, 1), Processing, None);
        assert_eq!(decided, Ok(StatusChange::Move { from: Pending, to: Processing }));
    }

    #[test]
    fn given_the_expected_version_when_the_move_is_legal_then_it_is_a_move() {
        let decided = StatusChange::decide(&order(Processing, 3), Shipped, Some(3));
        assert_eq!(decided, Ok(StatusChange::Move { from: Processing, to: Shipped }));
    }

    #[test]
    fn given_an_order_when_it_is_set_to_its_own_status_then_nothing_changes() {
        for status in OrderStatus::ALL {
            assert_eq!(StatusChange::decide(&order(status, 2), status, Some(2)), Ok(StatusChange::Unchanged));
        }
    }

    #[test]
    fn given_a_delivered_order_when_it_goes_back_to_pending_then_the_transition_is_illegal() {
        let decided = StatusChange::decide(&order(Delivered, 4), Pending, None);
        assert_eq!(
            decided,
            Err(StatusChangeRefused::IllegalTransition(IllegalTransition { from: Delivered, to: Pending }))
        );
    }

    #[test]
    fn given_a_stale_version_when_the_status_changes_then_the_version_mismatch_comes_first() {
        // Stale and illegal at once: the caller is told the order changed, not what it would do.
        for to in [Pending, Processing] {
            let decided = StatusChange::decide(&order(Delivered, 5), to, Some(4));
            assert_eq!(decided, Err(StatusChangeRefused::VersionMismatch(VersionMismatch { expected: 4, current: 5 })));
        }
    }

    #[test]
    fn given_an_expected_version_when_it_is_the_stored_one_or_absent_then_the_check_passes() {
        assert_eq!(check_version(&order(Pending, 7), Some(7)), Ok(()));
        assert_eq!(check_version(&order(Pending, 7), None), Ok(()));
        assert_eq!(check_version(&order(Pending, 7), Some(6)), Err(VersionMismatch { expected: 6, current: 7 }));
    }
}
