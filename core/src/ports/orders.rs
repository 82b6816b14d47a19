//! The order-storage port: what the order use cases need from storage (create with an idempotency
//! record, read, list a page, change status, delete, restore), with the plain types that cross it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::ChangeImages;
use super::{OrderBackup, StatusWait};
use crate::domain::{
    FailureReason, IllegalTransition, NewStatus, Order, OrderId, OrderStatus, OrderSummary, ProductCatalog,
};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No order with that id.
    #[error("order {0} not found")]
    NotFound(OrderId),
    /// No product with that id in the catalog.
    #[error("product {0} not found")]
    ProductNotFound(String),
    /// An order with that id exists already.
    #[error("order {0} already exists")]
    AlreadyExists(OrderId),
    /// The caller's expected version (of an order, or a product) is not the current one.
    #[error("version is {current}, not {expected}")]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// What is stored.
        current: u64,
    },
    /// The transition table forbids the change.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// A conditional change found the order in another status than the condition names.
    #[error("order is {current}, not one of the statuses the change requires")]
    ConditionFailed {
        /// The order's status.
        current: OrderStatus,
    },
    /// The idempotency key was first used with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// Passing trouble (busy, throttled, unreachable): the same call may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corruption, or a misconfiguration. Details are for the logs.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// What made an order's create idempotent: the client's Idempotency-Key (an import's client
/// reference), the fingerprint of the first request, and until when it protects against repeats.
/// It is kept on the order itself, so that backups carry it and a restored order is protected
/// against a retried request or a re-imported file as it was before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyBinding {
    /// The client's key.
    pub key: String,
    /// Fingerprint of the first request ([`crate::domain::NewOrder::fingerprint`]).
    pub fingerprint: String,
    /// When the key stops protecting against repeats.
    #[serde(with = "crate::domain::order::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyBinding {
    /// Whether the key still protects against repeats at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// The key's record for `order`, the order it created.
    pub fn record_for(&self, order: &Order) -> IdempotencyRecord {
        IdempotencyRecord {
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            order_id: order.order_id,
            execution_arn: order.execution_arn.clone().unwrap_or_default(),
            expires_at: self.expires_at,
        }
    }
}

/// What an Idempotency-Key is bound to: the meaning of the first request and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The client's key.
    pub key: String,
    /// Fingerprint of the first request ([`crate::domain::NewOrder::fingerprint`]).
    pub fingerprint: String,
    /// The order the first request created.
    pub order_id: OrderId,
    /// That order's workflow execution.
    pub execution_arn: String,
    /// When the key stops protecting against repeats.
    pub expires_at: DateTime<Utc>,
}

/// The result of [`OrderStore::create_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The order (and its idempotency record, if any) was written.
    Created,
    /// A live record for the same key and the same request exists: nothing was written.
    Replayed(IdempotencyRecord),
}

/// Which orders a listing covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this customer's orders.
    pub customer_id: Option<String>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagePosition {
    /// The n-th page (1-based) of `limit` orders.
    Number(u64),
    /// Just after the order a previous page ended with: the orders whose listing sequence number
    /// is below this one (both stores number orders 1, 2, 3, … in creation order; the service
    /// accepts only 1 to `i64::MAX` from a client's token, so a store never sees anything else).
    After(u64),
}

/// One listing request: newest orders first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Which orders.
    pub filter: ListFilter,
    /// At most this many orders (1 to 100).
    pub limit: u32,
    /// Where to start.
    pub position: PagePosition,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    /// The orders, newest first.
    pub orders: Vec<OrderSummary>,
    /// How many orders match the filter in all.
    pub total: u64,
    /// Where the next page starts ([`PagePosition::After`]), if there is one.
    pub next_cursor: Option<u64>,
}

impl IdempotencyRecord {
    /// The part of the record the order keeps.
    pub fn binding(&self) -> IdempotencyBinding {
        IdempotencyBinding { key: self.key.clone(), fingerprint: self.fingerprint.clone(), expires_at: self.expires_at }
    }
}

/// The result of [`OrderStore::restore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// The order was absent and is back.
    Restored,
    /// An older copy was replaced.
    Updated,
    /// The stored copy is as new or newer: nothing changed.
    AlreadyCurrent,
    /// The store deleted this order: it stays deleted, whatever the backups hold.
    Deleted,
}

/// The result of a status update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The order after the update.
    pub order: Order,
    /// False when the order already had that status (nothing was written).
    pub changed: bool,
}

/// Where a new order goes in the listings: the number it is listed by, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingPlace {
    /// The store numbers the order as it writes it.
    AtWrite,
    /// The order's number, taken from the store's counter before the write. A number taken for an
    /// order that is then refused leaves a gap, which listings do not show.
    Taken(u64),
    /// The store's counter stood at this number when the create looked: the write takes the next
    /// number, on condition that the counter still stands there. When another create took it first,
    /// the write takes a number from the counter and goes on.
    Next {
        /// The counter's number when read.
        after: u64,
    },
}

/// What a create looks up before it writes: an earlier request with its Idempotency-Key, the prices
/// of its products, and its place in the listings.
#[derive(Debug, Clone)]
pub struct CreateLookup {
    /// The live record of an earlier request with the same key, if any.
    pub earlier: Option<IdempotencyRecord>,
    /// The products asked for that are in the catalog.
    pub catalog: ProductCatalog,
    /// Where the order would go in the listings.
    pub place: ListingPlace,
}

/// The look a create takes before it writes: one request where the store keeps the keys, the
/// catalog and the listing counter together (DynamoDB), however many otherwise.
#[async_trait]
pub trait CreateLookups: Send + Sync {
    /// The record of `idempotency_key` (when given), the products of `product_ids`, and a place in
    /// the listings.
    async fn look_before_create(
        &self,
        idempotency_key: Option<&str>,
        product_ids: &[&str],
    ) -> Result<CreateLookup, StoreError>;
}

/// Order storage: what the order use cases need.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// The live (unexpired) idempotency record for `key`, if any.
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Writes a new order and, atomically with it, its idempotency record (which the order keeps
    /// too, as its [`IdempotencyBinding`]). If a live record for the same key exists, writes nothing:
    /// [`CreateOutcome::Replayed`] when its fingerprint matches, [`StoreError::IdempotencyKeyReused`]
    /// when not. The order's change says its workflow is still to start.
    async fn create_order(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        self.create_order_at(order, idempotency, ListingPlace::AtWrite, false).await
    }

    /// As [`OrderStore::create_order`], at `place` (from [`CreateLookups::look_before_create`]),
    /// noting on the order whether its workflow execution was started before the write
    /// ([`OrderImage::workflow_started`](super::OrderImage::workflow_started)).
    async fn create_order_at(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
        place: ListingPlace,
        workflow_started: bool,
    ) -> Result<CreateOutcome, StoreError>;

    /// One order by id.
    async fn get_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError>;

    /// One page of orders, newest first, with the filter's total. Cost is bounded by the page, never
    /// by the number of orders stored.
    async fn list_orders(&self, request: &ListRequest) -> Result<OrderPage, StoreError>;

    /// Moves an order to `to` if the transition table allows it and, when `expected_version` is
    /// given, only if the order is still at that version (checked first). Setting the current status
    /// is a no-op (a failed order keeps its first reason). A move to `failed` stores its reason.
    async fn update_status(
        &self,
        order_id: OrderId,
        to: NewStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, StoreError>;

    /// Deletes an order (only at `expected_version`, when given) and returns what was deleted. The
    /// store remembers the deletion, so that no restore brings the order back.
    async fn delete_order(&self, order_id: OrderId, expected_version: Option<u64>) -> Result<Order, StoreError>;

    /// The workflow's own status change: moves the order to `to` only if its status is one of `from`
    /// ([`StoreError::ConditionFailed`] otherwise, even when it is already `to`, as DynamoDB's
    /// conditional update behaves), with its failure reason, if any.
    async fn transition(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        to: NewStatus,
    ) -> Result<StatusUpdate, StoreError>;

    /// The order's processing failed for good (no stock, the merchant refused it): moves it from
    /// one of `from` to failed with `reason`, as [`Self::transition`] does, and takes the workflow's
    /// wait off it in the same write. The caller answers that wait itself with the failure's own
    /// error; left on the order, the change would also end it, as `OrderFailed`, and whichever
    /// answer came first would be the execution's error.
    async fn fail_processing(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: FailureReason,
    ) -> Result<StatusUpdate, StoreError>;

    /// Keeps on the order the task token of a workflow waiting for it to reach `wait.status`
    /// (replacing any earlier one). The change feed carries it to the stream processor, which wakes
    /// the workflow when the order reaches that status, or already has.
    async fn await_status(&self, order_id: OrderId, wait: StatusWait) -> Result<(), StoreError>;

    /// Puts an order back as it was backed up: written when absent, or when the stored copy is older
    /// (lower version); otherwise nothing changes. An order this store deleted is never written
    /// back ([`RestoreOutcome::Deleted`]), also when the deletion races the restore. The order's
    /// idempotency binding, while live, makes its key answer repeats again (unless another order
    /// holds the key by now).
    async fn restore(&self, backup: &OrderBackup) -> Result<RestoreOutcome, StoreError>;

    /// Brings the order's listing (per-status indexes and totals) up to date with its stored
    /// status, for a status the store did not write itself: on AWS the workflow writes statuses to
    /// the table directly. The change reactions call it when a change's
    /// [`listed_status`](ChangeImages::listed_status) lags its status. Idempotent.
    async fn refresh_listing(&self, order_id: OrderId) -> Result<(), StoreError>;
}
