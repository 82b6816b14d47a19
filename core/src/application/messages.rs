//! The message bodies of the pipeline's queues (JSON): the backup jobs the change reactions send
//! (for the backups they could not write themselves), and the workflow tasks the state machine
//! sends the fulfilment queue. Producers and consumers share these types, so the two sides cannot
//! disagree about a field.

use serde::{Deserialize, Serialize};

use crate::domain::{Order, OrderId, OrderStatus};
use crate::ports::{IdempotencyBinding, OrderBackup};

/// A backup job: one order version to keep, or the mark that an order was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackupJob {
    /// Keep this version of the order (the snapshot from the change itself).
    Version {
        /// The order at that version.
        order: Order,
        /// What made its create idempotent (kept in the backup, so a restore keeps it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency: Option<IdempotencyBinding>,
    },
    /// The order was deleted after `last_version`.
    #[allow(missing_docs)]
    Tombstone {
        /// The deleted order.
        order_id: OrderId,
        last_version: u64,
        /// When it was deleted (RFC 3339).
        deleted_at: String,
    },
}

impl BackupJob {
    /// The job that backs up this version of an order.
    pub fn version(backup: OrderBackup) -> Self {
        BackupJob::Version { order: backup.order, idempotency: backup.idempotency }
    }
}

/// A workflow task that waits for a callback (sent by the state machine with
/// `sqs:sendMessage.waitForTaskToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum WorkflowTask {
    /// Process the order, from its reservation to its delivery: reserve its stock, mark it
    /// processing and keep the token on it, in one write; hand it off to the merchant's fulfilment.
    /// The change reactions answer the token when the order is delivered (or stops).
    #[allow(missing_docs)]
    Process {
        order_id: OrderId,
        /// When the workflow asked (its state's entry time, RFC 3339): the hand-off's deadline
        /// counts from here.
        #[serde(with = "crate::domain::order::rfc3339")]
        entered_at: chrono::DateTime<chrono::Utc>,
        /// The execution's input, whole: an input without the fields the task reads (an operator's
        /// start with the order id alone) leaves them empty.
        #[serde(default)]
        execution_input: ProcessInput,
        /// The workflow's task token.
        task_token: String,
    },
    /// Reserve the order's stock, then answer with the token.
    #[allow(missing_docs)]
    Reserve {
        order_id: OrderId,
        /// The workflow's task token.
        task_token: String,
    },
    /// Hand the order off to the merchant's fulfilment (when a webhook is configured), then answer.
    #[allow(missing_docs)]
    HandOff {
        order_id: OrderId,
        /// The workflow's task token.
        task_token: String,
    },
    /// Give the order's reserved stock back (the order was cancelled or failed), then answer.
    #[allow(missing_docs)]
    Release {
        order_id: OrderId,
        /// The workflow's task token.
        task_token: String,
    },
    /// The order was delivered: its reserved stock leaves for good; then answer. What executions
    /// started on an earlier definition (a `Consume` state after the wait) still send, until they
    /// end: the delivery's wake-up consumes the stock now.
    #[allow(missing_docs)]
    Consume {
        order_id: OrderId,
        /// The workflow's task token.
        task_token: String,
    },
    /// Reserve and hand off in one task: what executions started on an earlier definition (one
    /// `Fulfil` state) still send, until they end.
    #[allow(missing_docs)]
    Fulfil {
        order_id: OrderId,
        /// The workflow's task token.
        task_token: String,
    },
    /// Answer with the token once the order reaches `status`.
    #[allow(missing_docs)]
    AwaitStatus {
        order_id: OrderId,
        /// The status awaited.
        status: OrderStatus,
        /// The workflow's task token.
        task_token: String,
    },
}

/// What the processing task reads of its execution's input (made by
/// [`execution_input`](super::execution_input)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInput {
    /// The products of the order's lines: read together with the order.
    #[serde(default)]
    pub product_ids: Vec<String>,
    /// The order's correlation id (executions started before it existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl WorkflowTask {
    /// The order's correlation id, when the task's message carries it (a processing task has the
    /// execution's input).
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            WorkflowTask::Process { execution_input, .. } => execution_input.correlation_id.as_deref(),
            _ => None,
        }
    }

    /// The order the task is about.
    pub fn order_id(&self) -> OrderId {
        match self {
            WorkflowTask::Process { order_id, .. }
            | WorkflowTask::Reserve { order_id, .. }
            | WorkflowTask::HandOff { order_id, .. }
            | WorkflowTask::Release { order_id, .. }
            | WorkflowTask::Consume { order_id, .. }
            | WorkflowTask::Fulfil { order_id, .. }
            | WorkflowTask::AwaitStatus { order_id, .. } => *order_id,
        }
    }
}
