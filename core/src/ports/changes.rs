//! The change-feed port: every order change, in commit order, with the order before and after (as
//! DynamoDB Streams delivers NEW_AND_OLD_IMAGES). Consumers keep their own position.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use super::{IdempotencyBinding, StoreError};
use crate::domain::{Order, OrderStatus};

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new order.
    Insert,
    /// A changed order.
    Modify,
    /// A deleted order.
    Remove,
}

/// A workflow waiting for an order to reach a status: its task token, kept on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusWait {
    /// The status awaited.
    pub status: OrderStatus,
    /// The token that resumes the workflow.
    pub task_token: String,
}

/// An order as stored: the order and what the workflow keeps on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderImage {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// A workflow waiting on it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<StatusWait>,
    /// What made its create idempotent, if its request had a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<IdempotencyBinding>,
    /// Its reserved stock left in the same write as its delivery: the change reactions have none
    /// left to consume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stock_consumed: bool,
    /// Its create started its workflow execution before writing it: the change reactions have
    /// none to start. False when the start failed (or for an order restored or written without
    /// one): the reactions start it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workflow_started: bool,
}

impl OrderImage {
    /// A new order as created: no workflow waits on it yet, and none was started for it.
    pub fn created(order: Order, idempotency: Option<IdempotencyBinding>) -> Self {
        OrderImage { order, awaiting: None, idempotency, stock_consumed: false, workflow_started: false }
    }

    /// What a version's backup keeps of this image.
    pub fn backup(&self) -> super::OrderBackup {
        super::OrderBackup { order: self.order.clone(), idempotency: self.idempotency.clone() }
    }
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    /// Position in the feed (strictly increasing).
    pub sequence: u64,
    /// Insert, modify or remove.
    pub kind: ChangeKind,
    /// The order before (absent on insert).
    pub old: Option<OrderImage>,
    /// The order after (absent on remove).
    pub new: Option<OrderImage>,
    /// When it was committed.
    pub at: DateTime<Utc>,
}

/// The change feed of the orders.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Up to `max` changes after `after`, oldest first.
    async fn changes_after(&self, after: u64, max: usize) -> Result<Vec<OrderChange>, StoreError>;

    /// The position consumer `consumer` has processed up to (0 when new).
    async fn position(&self, consumer: &str) -> Result<u64, StoreError>;

    /// Records that `consumer` has processed everything up to `position`.
    async fn save_position(&self, consumer: &str, position: u64) -> Result<(), StoreError>;
}

/// An order before and after one change, as the change stream delivers it to the change reactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeImages {
    /// The order before (absent on insert).
    pub old: Option<OrderImage>,
    /// The order after (absent on remove).
    pub new: Option<OrderImage>,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// The status the store's listing counts the order under after the change, when the stream
    /// says so. A store whose listing follows every write says nothing; one whose listing lags some
    /// writes (on AWS the workflow writes statuses to the table directly) says which status it
    /// counts, so that only a lagging listing is refreshed.
    pub listed_status: Option<OrderStatus>,
}
