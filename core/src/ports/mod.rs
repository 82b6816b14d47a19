//! The ports: the small traits the use cases need from the outside world (order storage, the
//! catalog, the workflow engine), with the plain types that cross them. Each port has an embedded
//! adapter (SQLite) and an AWS adapter; no AWS or SQLite type appears here.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{IllegalTransition, Order, OrderId, OrderStatus, OrderSummary, ProductCatalog};

mod backups;
mod changes;
mod queues;

pub use backups::{BackupError, BackupKey, BackupStore, BackupWrite, OrderBackup};
pub use changes::{ChangeFeed, ChangeKind, OrderChange, OrderImage, StatusWait};
pub use queues::{MessageQueue, OutgoingMessage, QueueError, QueueName, ReceivedMessage};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No order with that id.
    #[error("order {0} not found")]
    NotFound(OrderId),
    /// An order with that id exists already.
    #[error("order {0} already exists")]
    AlreadyExists(OrderId),
    /// The caller's expected version is not the current one.
    #[error("order is at version {current}, not {expected}")]
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

/// Order storage: what the order use cases need.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// The live (unexpired) idempotency record for `key`, if any.
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Writes a new order and, atomically with it, its idempotency record (which the order keeps
    /// too, as its [`IdempotencyBinding`]). If a live record for the same key exists, writes nothing:
    /// [`CreateOutcome::Replayed`] when its fingerprint matches, [`StoreError::IdempotencyKeyReused`]
    /// when not.
    async fn create_order(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError>;

    /// One order by id.
    async fn get_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError>;

    /// One page of orders, newest first, with the filter's total. Cost is bounded by the page, never
    /// by the number of orders stored.
    async fn list_orders(&self, request: &ListRequest) -> Result<OrderPage, StoreError>;

    /// Moves an order to `to` if the transition table allows it and, when `expected_version` is
    /// given, only if the order is still at that version (checked first). Setting the current status
    /// is a no-op.
    async fn update_status(
        &self,
        order_id: OrderId,
        to: OrderStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, StoreError>;

    /// Deletes an order (only at `expected_version`, when given) and returns what was deleted. The
    /// store remembers the deletion, so that no restore brings the order back.
    async fn delete_order(&self, order_id: OrderId, expected_version: Option<u64>) -> Result<Order, StoreError>;

    /// The workflow's own status change: moves the order to `to` only if its status is one of `from`
    /// ([`StoreError::ConditionFailed`] otherwise, even when it is already `to`, as DynamoDB's
    /// conditional update behaves).
    async fn transition(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
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

    /// Brings the order's listing (indexes, totals) up to date after a change made outside this
    /// store: on AWS the workflow writes statuses to DynamoDB directly, and the stream processor
    /// calls this for every status change. Idempotent.
    async fn reconcile(&self, order_id: OrderId) -> Result<(), StoreError>;
}

/// Why a task callback failed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The task was answered already, timed out, or never existed: there is nothing left to do.
    #[error("task is no longer waiting: {0}")]
    TaskGone(String),
    /// Passing trouble: the same call may succeed later.
    #[error("workflow engine unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("workflow engine failure: {0}")]
    Internal(String),
}

/// Answers to workflow tasks that wait for a callback (Step Functions' SendTaskSuccess/Failure).
#[async_trait]
pub trait TaskCallbacks: Send + Sync {
    /// The task succeeded with `output`.
    async fn send_task_success(&self, task_token: &str, output: &serde_json::Value) -> Result<(), CallbackError>;

    /// The task failed with `error` (a name Catch can match) and a `cause`.
    async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str) -> Result<(), CallbackError>;

    /// The task is still being worked on (resets its `HeartbeatSeconds` clock).
    async fn send_task_heartbeat(&self, task_token: &str) -> Result<(), CallbackError>;
}

/// The catalog: prices for pricing, and replacing the whole catalog from a file.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// The products among `product_ids` that exist (unknown ids are simply absent).
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError>;

    /// Replaces the whole catalog. Existing orders keep the prices they were made with.
    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError>;

    /// True when the catalog holds no product at all (a deployment nobody loaded a catalog into).
    async fn is_empty(&self) -> Result<bool, StoreError>;
}

/// A Step Functions execution ARN: `arn:aws:states:{region}:{account}:execution:{machine}:{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutionArn(String);

/// Text that is not an execution ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("execution_arn must look like arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME")]
pub struct InvalidExecutionArn;

impl ExecutionArn {
    /// The ARN of execution `name` of the state machine `state_machine_arn`
    /// (`arn:aws:states:…:stateMachine:NAME`), as Step Functions names it.
    pub fn for_execution(state_machine_arn: &str, name: &str) -> Result<Self, InvalidExecutionArn> {
        let prefix = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
        format!("{prefix}:{name}").parse()
    }

    /// The execution's name (the last segment).
    pub fn name(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }

    /// The ARN text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ExecutionArn {
    type Err = InvalidExecutionArn;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split(':').collect();
        let valid_name = |s: &str| {
            !s.is_empty() && s.len() <= 80 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let ok = parts.len() == 8
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "states"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5] == "execution"
            && valid_name(parts[6])
            && valid_name(parts[7]);
        if ok { Ok(ExecutionArn(text.to_owned())) } else { Err(InvalidExecutionArn) }
    }
}

impl TryFrom<String> for ExecutionArn {
    type Error = InvalidExecutionArn;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ExecutionArn> for String {
    fn from(arn: ExecutionArn) -> Self {
        arn.0
    }
}

impl fmt::Display for ExecutionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An execution's status, spelled as Step Functions spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still going.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Ran past its time limit.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

/// What `GET /executions/{arn}` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionDescription {
    /// The execution's ARN.
    #[schema(value_type = String)]
    pub execution_arn: ExecutionArn,
    /// The state machine it runs.
    pub state_machine_arn: String,
    /// Its name (the order id for order workflows).
    pub name: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// When it started (RFC 3339, UTC).
    #[serde(with = "crate::domain::order::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start_date: DateTime<Utc>,
    /// When it stopped, once it has (RFC 3339, UTC).
    #[serde(with = "optional_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stop_date: Option<DateTime<Utc>>,
    /// The execution's input.
    pub input: serde_json::Value,
    /// Its output, once it succeeded.
    pub output: Option<serde_json::Value>,
    /// The error name, once it failed.
    pub error: Option<String>,
    /// The error's cause, once it failed.
    pub cause: Option<String>,
}

mod optional_rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => crate::domain::order::rfc3339::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| DateTime::parse_from_rfc3339(&text).map(|at| at.with_timezone(&Utc)))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

/// One event of an execution's history, as Step Functions' GetExecutionHistory reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// 1, 2, 3, … within the execution.
    pub id: u64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// The event type, e.g. `TaskStateEntered`.
    pub event_type: String,
    /// The state it concerns, for state events.
    pub state: Option<String>,
    /// The error, for failures.
    pub error: Option<String>,
}

/// The result of starting an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedExecution {
    /// Its ARN.
    pub execution_arn: ExecutionArn,
    /// False when an execution of that name already existed (with the same input): nothing new ran.
    pub newly_started: bool,
}

/// Why a workflow call failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// An execution of that name exists with a different input.
    #[error("an execution named {0} already exists with a different input")]
    AlreadyExists(String),
    /// Passing trouble: the same call may succeed later.
    #[error("workflow engine unavailable: {0}")]
    Unavailable(String),
    /// Anything else. Details are for the logs.
    #[error("workflow engine failure: {0}")]
    Internal(String),
}

/// The workflow engine (Step Functions, or the embedded executor).
#[async_trait]
pub trait WorkflowEngine: Send + Sync {
    /// The ARN the execution named `name` has (or will have): known before it starts.
    fn execution_arn(&self, name: &str) -> ExecutionArn;

    /// Starts the execution `name` with `input`. Starting the same name with the same input again
    /// changes nothing and returns the same ARN.
    async fn start_execution(&self, name: &str, input: &serde_json::Value) -> Result<StartedExecution, WorkflowError>;

    /// Describes an execution, or `None` if there is no such execution.
    async fn describe_execution(&self, arn: &ExecutionArn) -> Result<Option<ExecutionDescription>, WorkflowError>;

    /// The execution's history, oldest first (empty when there is no such execution).
    async fn history(&self, arn: &ExecutionArn) -> Result<Vec<HistoryEntry>, WorkflowError>;

    /// Stops a running execution (it ends ABORTED with `error` and `cause`); `Ok(false)` when there
    /// is no such execution or it had ended already.
    async fn stop_execution(&self, arn: &ExecutionArn, error: &str, cause: &str) -> Result<bool, WorkflowError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn execution_arns_follow_step_functions() {
        let arn = ExecutionArn::for_execution(
            "arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessing",
            "550e8400-e29b-41d4-a716-446655440000",
        )
        .unwrap();
        assert_eq!(
            arn.as_str(),
            "arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:550e8400-e29b-41d4-a716-446655440000"
        );
        assert_eq!(arn.name(), "550e8400-e29b-41d4-a716-446655440000");
        for bad in [
            "",
            "arn:aws:states:us-east-1:123:execution:M:n",
            "arn:aws:s3:::bucket",
            "arn:aws:states:r:123456789012:stateMachine:M:n",
        ] {
            assert!(bad.parse::<ExecutionArn>().is_err(), "{bad}");
        }
    }
}
