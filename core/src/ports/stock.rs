//! The stock port: an order's reservation, decided once, all its lines or none, and given back or
//! consumed once; and the start of an order's processing, which decides the reservation and moves
//! the order to `processing` in the same atomic write. Keyed by order id, so every call is safe to
//! repeat (tasks are delivered at least once; a crash may repeat any of them).

use async_trait::async_trait;

use super::{StatusWait, StoreError};
use crate::domain::{
    Order, OrderId, OrderStatus, OrderStopped, OutOfStock, ReservationState, ReserveOutcome, SettleOutcome, StockLine,
};

/// What beginning an order's processing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessingStart {
    /// The order's units are held (by this call or an earlier one), the order is `processing` (or
    /// further on), and the workflow's wait is kept on it. `order` is the order as it now stands.
    Started {
        /// The order after the write.
        order: Order,
        /// The tracked lines held.
        reserved: Vec<StockLine>,
    },
    /// Not enough stock (now, or when an earlier call decided): nothing is held, the order is as it
    /// was.
    OutOfStock(OutOfStock),
    /// The order stopped (cancelled, failed or deleted) before its processing began.
    Stopped(OrderStopped),
    /// The reservation was released or consumed before it was made: the workflow stopped the order.
    Settled(ReservationState),
    /// The order went past `processing` (a client moved it on) with nothing reserved for it:
    /// nothing is left to process.
    NotPending(OrderStatus),
    /// There is no such order, and none was deleted: its create started the workflow before
    /// writing it, and the write has not landed (yet, or ever: the create failed after the start).
    NotStored,
}

/// Reservations of product stock for orders.
#[async_trait]
pub trait StockLedger: Send + Sync {
    /// Holds `lines` for the order, atomically against every other reservation and stock update:
    /// all the tracked lines or none, available stock never below zero. Repeated for the same order,
    /// it holds nothing more and answers as the first call was decided.
    async fn reserve(&self, order_id: OrderId, lines: &[StockLine]) -> Result<ReserveOutcome, StoreError>;

    /// Gives the order's reserved units back to the products, once (the order was cancelled or
    /// failed). With nothing reserved it records that, so that a later `reserve` holds nothing.
    async fn release(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError>;

    /// The order was delivered: its reserved units leave the stock for good, once.
    async fn consume(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError>;

    /// Begins processing the order for the workflow waiting with `wait`, in one atomic write where
    /// the order may go on ([`ProcessingEntry`](crate::domain::ProcessingEntry)): decides its
    /// reservation of its lines (as [`StockLedger::reserve`]) and, when the units are held, moves a
    /// pending order to `processing` (counted in the listings) and keeps `wait` on it. An order
    /// already `processing` or further on keeps its status. Repeated, it holds nothing more and
    /// keeps the (new) wait. `products` are the products the order is expected to hold (from the
    /// workflow's input): a store may read their stock together with the order; the order's own
    /// lines decide what is reserved.
    async fn begin_processing(
        &self,
        order_id: OrderId,
        wait: &StatusWait,
        products: &[String],
    ) -> Result<ProcessingStart, StoreError>;
}
