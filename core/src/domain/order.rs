//! The order itself: identity, priced items, total, status, version and timestamps.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::failure::{FailureReason, NewStatus};
use super::money::Money;
use super::status::OrderStatus;

/// An order's identity: a UUID, shown in its canonical hyphenated lowercase form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

/// Text that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order_id must be a UUID (got {0:?})")]
pub struct InvalidOrderId(pub String);

impl OrderId {
    /// A fresh id: a UUID v7, whose first 48 bits are the time in milliseconds and whose other 74
    /// are random. Ids made later sort later, so the store's indexes on them (orders, executions,
    /// reservations) grow at one end instead of touching a random page per insert, which is what
    /// keeps inserts fast once they no longer fit in the cache. An id still cannot be guessed.
    pub fn generate() -> Self {
        OrderId(Uuid::now_v7())
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for OrderId {
    fn from(uuid: Uuid) -> Self {
        OrderId(uuid)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for OrderId {
    type Err = InvalidOrderId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical 36-character form: one order, one spelling in URLs and keys.
        if s.len() != 36 {
            return Err(InvalidOrderId(s.to_owned()));
        }
        Uuid::try_parse(s).map(OrderId).map_err(|_| InvalidOrderId(s.to_owned()))
    }
}

/// One priced line of an order. The unit price is copied from the catalog when the order is made,
/// so later price changes never alter an existing order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Catalog product id.
    pub product_id: String,
    /// How many units, at least 1.
    pub quantity: u32,
    /// Price of one unit when the order was made.
    pub unit_price: Money,
    /// `unit_price * quantity`.
    pub line_total: Money,
}

/// A whole order: its priced items, total, status, version and timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Order {
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: String,
    /// The priced items.
    pub items: Vec<OrderItem>,
    /// Sum of the line totals.
    pub total_amount: Money,
    /// Current status.
    pub status: OrderStatus,
    /// Starts at 1 and grows by one with every change; send it back as `If-Match` to update safely.
    pub version: u64,
    /// When the order was created (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When the order last changed (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// The ARN of the order's workflow execution.
    pub execution_arn: Option<String>,
    /// Why a failed order failed, when the client or the workflow that failed it said why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The id of what created the order (its create request's id, or the import message's), kept
    /// for good: every step that handles the order logs it, so that one id finds them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl Order {
    /// The order after a status change to `to`, made now: the new status (with `failed`, its
    /// reason), one version more. What every store writes for a status change.
    pub fn moved_to(&self, to: NewStatus) -> Order {
        let mut after = self.clone();
        after.status = to.status;
        after.version += 1;
        after.updated_at = now_millis();
        after.failure_reason = to.reason.map(FailureReason::into_string);
        after
    }
}

/// The short form of an order used in listings (the seed's list item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct OrderSummary {
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: String,
    /// Sum of the line totals.
    pub total_amount: Money,
    /// Current status.
    pub status: OrderStatus,
    /// When the order was created (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<&Order> for OrderSummary {
    fn from(order: &Order) -> Self {
        OrderSummary {
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            total_amount: order.total_amount,
            status: order.status,
            created_at: order.created_at,
        }
    }
}

/// Timestamps as RFC 3339 UTC with milliseconds (`2024-01-24T10:30:00.000Z`).
pub mod rfc3339 {
    use super::*;

    /// Formats a timestamp the way the API shows it.
    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Serde `serialize_with`.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    /// Serde `deserialize_with`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text).map(|at| at.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// The current time, cut to the millisecond the API shows, so stored and shown values agree.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn order_ids_accept_only_the_canonical_form() {
        let id: OrderId = "550e8400-e29b-41d4-a716-446655440000".parse().unwrap();
        assert_eq!(id.to_string(), "550e8400-e29b-41d4-a716-446655440000");
        assert_eq!("550E8400-E29B-41D4-A716-446655440000".parse::<OrderId>().unwrap(), id);
        for bad in ["", "123", "550e8400e29b41d4a716446655440000", "550e8400-e29b-41d4-a716-44665544000g"] {
            assert!(bad.parse::<OrderId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_show_as_rfc3339_utc() {
        let at = DateTime::parse_from_rfc3339("2024-01-24T10:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(rfc3339::format(&at), "2024-01-24T10:30:00.000Z");
    }
}
