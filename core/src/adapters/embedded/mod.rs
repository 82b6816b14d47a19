//! The embedded default: every port on one SQLite file under the data directory, and how the stack
//! is configured ([`EmbeddedConfig`]). `crate::wiring::wire_embedded` builds the ports.

mod backups;
mod catalog;
mod changes;
mod db;
mod executions;
mod orders;
mod priority;
mod queues;
mod retention;
mod status;
mod stock;
mod tasks;
mod workflow;

pub use backups::FolderBackupStore;
pub use db::{Database, READ_LEASE, allow_read_leases, end_expired_read_leases, end_read_leases};
pub use priority::{PIPELINE_NICE, lower_thread_priority};
pub use queues::{EmbeddedQueues, QueueSettings};
pub use retention::{Pruned, Retention};
pub use status::{EmbeddedGauges, STREAM_CONSUMER};
pub use tasks::{EmbeddedTasks, UnsupportedTask};
pub use workflow::EmbeddedWorkflow;

use std::collections::BTreeMap;
use std::path::PathBuf;

use statemachine::LoadError;

use crate::ports::{QueueName, StoreError};

/// Name of the SQLite file inside the data directory.
pub const DATABASE_FILE: &str = "orders.sqlite3";
/// Folder of the backups inside the data directory (laid out as the S3 bucket).
pub const BACKUP_FOLDER: &str = "backups";
/// The orders table's name, as the state machine definition knows it.
pub const ORDERS_TABLE: &str = "orders";
/// The order workflow's definition: the very file deployed to Step Functions.
pub const ORDER_PROCESSING_DEFINITION: &str = include_str!("../../../../statemachine/order-processing.asl.json");

/// The URL a queue has in the embedded stack (what the definition's `QueueUrl`s become).
pub fn queue_url(queue: QueueName) -> String {
    format!("embedded://queues/{}", queue.as_str())
}

/// The values of the definition's `${…}` placeholders in the embedded stack.
pub fn definition_substitutions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("OrdersTableName".to_owned(), ORDERS_TABLE.to_owned()),
        ("FulfilmentQueueUrl".to_owned(), queue_url(QueueName::Fulfilment)),
    ])
}

/// Where the embedded workflow engine says its executions run.
#[derive(Debug, Clone)]
pub struct WorkflowLocation {
    /// AWS region shown in ARNs.
    pub region: String,
    /// AWS account id shown in ARNs (12 digits).
    pub account_id: String,
    /// State machine name.
    pub state_machine: String,
}

impl Default for WorkflowLocation {
    /// `us-east-1`, account `123456789012`, state machine `OrderProcessing`: the defaults of
    /// `orders serve`.
    fn default() -> Self {
        WorkflowLocation {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            state_machine: "OrderProcessing".into(),
        }
    }
}

/// How to open the embedded stack.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// ARN parts of the state machine.
    pub location: WorkflowLocation,
    /// Visibility timeout and `maxReceiveCount` of each work queue.
    pub queue_settings: QueueSettings,
}

/// Why the embedded stack could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state machine definition is invalid or uses something the executor does not support.
    #[error("the order workflow definition cannot run: {0}")]
    Definition(#[from] LoadError),
    /// The definition uses a task the embedded engine does not run.
    #[error("the order workflow definition cannot run: {0}")]
    Task(#[from] UnsupportedTask),
    /// The state machine ARN parts are invalid.
    #[error("invalid state machine ARN: {0}")]
    Arn(String),
}
