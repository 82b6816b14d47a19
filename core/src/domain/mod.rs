//! The order domain: orders, money, statuses and their legal transitions, the catalog, pricing and
//! validation, stock reservations. Pure code: no I/O, no AWS, no storage types.

pub mod catalog;
pub mod failure;
pub mod import;
pub mod json;
pub mod money;
pub mod order;
pub mod status;
pub mod status_change;
pub mod stock;
pub mod validation;
pub mod workflow;

pub use catalog::{Product, ProductCatalog};
pub use failure::{FailureReason, NewStatus};
pub use money::{Money, MoneyParseError};
pub use order::{Order, OrderId, OrderItem, OrderSummary};
pub use status::{IllegalTransition, OrderStatus, UnknownStatus};
pub use status_change::{StatusChange, StatusChangeRefused, VersionMismatch};
pub use stock::{
    CatalogEntry, OutOfStock, ReservationState, ReserveOutcome, SettleOutcome, StockLine, plan_reservation,
};
pub use validation::{NewOrder, NewOrderItem, ValidationError};
pub use workflow::{
    HAND_OFF_DEADLINE, ORDER_WRITE_GRACE, OrderStopped, ProcessingEntry, ProcessingFailure, WaitOutcome,
};
