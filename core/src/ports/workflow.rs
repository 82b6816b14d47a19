//! The workflow-engine port: starting and describing order executions (Step Functions, or
//! the embedded executor). The execution ARN both name them by, and the execution status, are the
//! `statemachine` crate's (re-exported here).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use statemachine::{ExecutionArn, ExecutionStatus, InvalidExecutionArn};

/// An execution as the workflow engine describes it: its status, dates, input, and output or error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ExecutionDescription {
    pub execution_arn: ExecutionArn,
    /// The state machine it runs.
    pub state_machine_arn: String,
    /// Its name (the order id for order workflows).
    pub name: String,
    pub status: ExecutionStatus,
    /// When it started (RFC 3339, UTC).
    #[serde(with = "crate::domain::order::rfc3339")]
    pub start_date: DateTime<Utc>,
    /// When it stopped, once it has (RFC 3339, UTC).
    #[serde(with = "optional_rfc3339")]
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
#[allow(missing_docs)]
pub struct StartedExecution {
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

    /// Makes sure the execution `name` with `input` exists (started now, or started before, running
    /// or ended) without telling which: the cheaper call where that does not matter. Fails with
    /// [`WorkflowError::AlreadyExists`] when the execution of that name has another input.
    async fn ensure_execution(&self, name: &str, input: &serde_json::Value) -> Result<ExecutionArn, WorkflowError> {
        self.start_execution(name, input).await.map(|started| started.execution_arn)
    }

    /// Describes an execution, or `None` if there is no such execution.
    async fn describe_execution(&self, arn: &ExecutionArn) -> Result<Option<ExecutionDescription>, WorkflowError>;

    /// The execution's history, oldest first (empty when there is no such execution).
    async fn history(&self, arn: &ExecutionArn) -> Result<Vec<HistoryEntry>, WorkflowError>;
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
