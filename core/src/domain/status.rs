//! The six order statuses of the API and the one table of legal transitions between them.
//!
//! | from        | may become                        |
//! |-------------|-----------------------------------|
//! | pending     | processing, cancelled, failed     |
//! | processing  | shipped, cancelled, failed        |
//! | shipped     | delivered, failed                 |
//! | delivered   | (final)                           |
//! | cancelled   | (final)                           |
//! | failed      | (final)                           |
//!
//! Setting the status an order already has is not a transition: it changes nothing and is accepted,
//! so that a client retrying a status update is safe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Order created, awaiting processing.
    Pending,
    /// Order is being processed.
    Processing,
    /// Order has been shipped.
    Shipped,
    /// Order has been delivered.
    Delivered,
    /// Order has been cancelled.
    Cancelled,
    /// Order processing failed.
    Failed,
}

/// A status change the transition table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Illegal status transition from {from} to {to}")]
pub struct IllegalTransition {
    /// The order's current status.
    pub from: OrderStatus,
    /// The status that was asked for.
    pub to: OrderStatus,
}

/// A status name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status must be one of pending, processing, shipped, delivered, cancelled, failed (got {0:?})")]
pub struct UnknownStatus(pub String);

impl OrderStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ];

    /// The lowercase name used in JSON and storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    /// The statuses an order in `self` may move to (the table above).
    pub const fn next_statuses(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[Processing, Cancelled, Failed],
            Processing => &[Shipped, Cancelled, Failed],
            Shipped => &[Delivered, Failed],
            Delivered | Cancelled | Failed => &[],
        }
    }

    /// No status follows this one.
    pub const fn is_final(self) -> bool {
        self.next_statuses().is_empty()
    }

    /// Whether an order in `self` has got as far as `target` along the happy path
    /// pending → processing → shipped → delivered (cancelled and failed reach nothing).
    pub fn has_reached(self, target: OrderStatus) -> bool {
        let rank = |status: OrderStatus| match status {
            OrderStatus::Pending => Some(0),
            OrderStatus::Processing => Some(1),
            OrderStatus::Shipped => Some(2),
            OrderStatus::Delivered => Some(3),
            OrderStatus::Cancelled | OrderStatus::Failed => None,
        };
        match (rank(self), rank(target)) {
            (Some(current), Some(wanted)) => current >= wanted,
            _ => self == target,
        }
    }

    /// Checks a move to `to`. `Ok(false)` means `to` is the current status: nothing to change.
    pub fn check_transition(self, to: OrderStatus) -> Result<bool, IllegalTransition> {
        if self == to {
            Ok(false)
        } else if self.next_statuses().contains(&to) {
            Ok(true)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn happy_path_is_legal() {
        assert_eq!(Pending.check_transition(Processing), Ok(true));
        assert_eq!(Processing.check_transition(Shipped), Ok(true));
        assert_eq!(Shipped.check_transition(Delivered), Ok(true));
    }

    #[test]
    fn delivered_cannot_go_back_to_pending() {
        assert_eq!(Delivered.check_transition(Pending), Err(IllegalTransition { from: Delivered, to: Pending }));
    }

    #[test]
    fn final_statuses_have_no_exit_but_accept_themselves() {
        for status in [Delivered, Cancelled, Failed] {
            assert!(status.is_final());
            assert_eq!(status.check_transition(status), Ok(false));
            for other in OrderStatus::ALL.into_iter().filter(|s| *s != status) {
                assert!(status.check_transition(other).is_err());
            }
        }
    }

    #[test]
    fn reaching_follows_the_happy_path() {
        assert!(Delivered.has_reached(Shipped));
        assert!(Shipped.has_reached(Shipped));
        assert!(!Processing.has_reached(Shipped));
        assert!(!Cancelled.has_reached(Shipped));
        assert!(Cancelled.has_reached(Cancelled));
    }

    #[test]
    fn names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
        assert!("Shipped".parse::<OrderStatus>().is_err());
    }
}
