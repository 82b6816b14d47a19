//! The asynchronous workers, each a handler of one event kind, called the same way by its Lambda
//! `main`, by the local runner of `orders serve`, and by tests:
//!
//! - [`stream::StreamProcessor`]: order change records (DynamoDB Streams) → backups (the jobs whose
//!   write failed to the backup queue), and wake-ups of workflows waiting for a status;
//! - [`backup::BackupWorker`]: backup jobs (SQS: the writes the stream processor could not make,
//!   and replays from the DLQ) → `orders/{id}/v{version}.json`;
//! - [`fulfilment::FulfilmentWorker`]: the workflow's callback tasks (SQS) → SendTaskSuccess/Failure;
//! - [`import::ImportWorker`]: import messages (SQS) → orders through the import use case, refusals
//!   to the import DLQ.
//!
//! The partial-batch runner and dead-letter parking every SQS handler shares are Lambda plumbing, in
//! `orders_core::lambda`; [`runner`] plays Lambda's event source mappings locally; [`events`] builds
//! the Lambda event shapes from embedded records.

#[cfg(feature = "aws")]
pub mod aws_stream;
pub mod backup;
pub mod events;
pub mod fulfilment;
pub mod import;
pub mod runner;
pub mod stream;

pub use stream::StreamHandler;
