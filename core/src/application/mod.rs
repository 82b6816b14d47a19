//! The application layer: every use case of an order, one module each, over the ports. Entry points
//! (HTTP in `orders-ingest`, the queue and stream workers, the operator CLI) call these and nothing
//! below them, so a rule holds the same way whichever way a request arrives.
//!
//! - [`orders`]: create (priced, idempotent, workflow started), list, get, change status, delete,
//!   start the workflow, describe an execution.
//! - [`import`]: import one entry of an import message through the create use case, its client
//!   reference as the idempotency key; refusals for good told apart from passing trouble.

pub mod import;
pub mod orders;

pub use import::{ImportOutcome, OrderImport, REFERENCE_LIFETIME_DAYS};

pub use orders::{
    CreateOrder, DEFAULT_LIMIT, ListOrders, MAX_IDEMPOTENCY_KEY_CHARS, MAX_LIMIT, OrderCreated, OrderError,
    OrderListing, OrderService, start_order_workflow,
};
