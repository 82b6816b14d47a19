//! The stock port: an order's reservation, decided once, all its lines or none, and given back or
//! consumed once. Keyed by order id, so every call is safe to repeat (tasks are delivered at least
//! once; a crash may repeat any of them).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{OrderId, ReserveOutcome, SettleOutcome, StockLine};

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
}
