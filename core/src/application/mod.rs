//! The application layer: every use case of an order, one module each, over the ports. Entry points
//! (HTTP in `orders-ingest`, the queue and stream workers, the operator CLI) call these and nothing
//! below them, so a rule holds the same way whichever way a request arrives.
//!
//! - [`orders`]: create (priced, idempotent, workflow started), list, get, change status, delete,
//!   start the workflow, describe an execution;
//! - [`products`]: the catalog as clients see it: list the products with their stock, read one,
//!   set the units available;
//! - [`changes`]: the reactions to an order change (workflow start, backup job, listing refresh,
//!   answering a waiting workflow);
//! - [`workflow_tasks`]: the workflow's callback tasks (fulfil, await a status);
//! - [`backups`]: keep an order version in the backup store, verify the backups, restore from them;
//! - [`import`]: import one entry of an import message through the create use case, its client
//!   reference as the idempotency key; refusals for good told apart from passing trouble;
//! - [`status`]: the pipeline's health on one screen (orders, queues, executions, backups, stock-outs);
//! - [`messages`]: the queues' message bodies those use cases send and read.

pub mod backups;
pub mod changes;
pub mod import;
pub mod messages;
pub mod orders;
pub mod products;
pub mod status;
mod step_error;
pub mod workflow_tasks;

pub use backups::{BackupProgress, Backups, BackupsError, RestoreReport, VerifyReport};
pub use changes::ChangeReactions;
pub use import::{ImportOutcome, OrderImport, REFERENCE_LIFETIME_DAYS};
pub use messages::{BackupJob, ProcessInput, WorkflowTask};
pub use orders::{
    CreateOrder, DEFAULT_LIMIT, ListOrders, MAX_IDEMPOTENCY_KEY_CHARS, MAX_LIMIT, OrderCreated, OrderError,
    OrderListing, OrderService, WorkflowStart, ensure_order_workflow, execution_input, start_order_workflow,
};
pub use products::{ProductListing, Products};
pub use status::{PipelineHealth, PipelineStatus, StatusError};
pub use step_error::StepError;
pub use workflow_tasks::WorkflowTasks;
