//! Why one step of the asynchronous pipeline (a change reaction, a workflow task, a backup, an
//! import) failed: the error every queue and stream use case returns, and that the entry points map
//! once to a batch-item failure or a dead-lettered message.

use super::OrderError;
use crate::ports::{BackupError, CallbackError, HandOffError, QueueError, StoreError, WorkflowError};

/// Why one record of a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The message is not what its queue carries: it fails the same way every time, so it is not
    /// retried (its queue's dead-letter queue keeps it).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Order storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backup store failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// A queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A workflow callback failed.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The workflow engine failed.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// The fulfilment hand-off met passing trouble.
    #[error(transparent)]
    HandOff(#[from] HandOffError),
    /// An order use case failed for a passing reason (storage, workflow engine).
    #[error(transparent)]
    Order(#[from] OrderError),
}
