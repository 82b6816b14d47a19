//! Durable execution state: the [`ExecutionRecord`] snapshot (serde-serialisable; persisted after
//! every transition) and the small [`ExecutionStore`] trait an application implements to keep it,
//! e.g. as one SQL row per execution (columns for the ARN, state machine ARN, status, version,
//! current task token, and the record as a JSON blob) plus one row per history event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StoreError;
use crate::history::HistoryEvent;

/// The status of an execution (as Step Functions names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running (possibly waiting for a timer or a callback).
    Running,
    /// Reached a Succeed state or an End state.
    Succeeded,
    /// Failed: a Fail state or an unhandled error.
    Failed,
    /// Ran longer than the definition's top-level `TimeoutSeconds`.
    TimedOut,
    /// Stopped by [`Executor::stop_execution`](crate::Executor::stop_execution).
    Aborted,
}

impl ExecutionStatus {
    /// The Step Functions name, e.g. `TIMED_OUT` (handy for a SQL column).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    /// Parses a name produced by [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        Some(match text {
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "TIMED_OUT" => ExecutionStatus::TimedOut,
            "ABORTED" => ExecutionStatus::Aborted,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The durable snapshot of one execution: everything needed to continue it after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ExecutionRecord {
    /// `arn:aws:states:{region}:{account}:execution:{machine}:{name}`; the primary key.
    pub execution_arn: String,
    pub state_machine_arn: String,
    /// The execution's name (unique within the state machine).
    pub name: String,
    pub status: ExecutionStatus,
    /// The execution's input.
    pub input: Value,
    /// The output, once SUCCEEDED.
    pub output: Option<Value>,
    /// The error, once FAILED / TIMED_OUT / ABORTED.
    pub error: Option<String>,
    /// The cause, once FAILED / TIMED_OUT / ABORTED.
    pub cause: Option<String>,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// When it ended.
    pub stop_date: Option<DateTime<Utc>>,
    /// When the definition's top-level `TimeoutSeconds` runs out.
    pub timeout_at: Option<DateTime<Utc>>,
    /// Incremented by every save; the store checks it (optimistic concurrency).
    pub version: u64,
    /// The id of the last history event written.
    pub last_event_id: u64,
    /// The last task invocation id handed out (identifies an attempt's invocation).
    pub last_invocation_id: u64,
    /// The state the execution is in, while RUNNING.
    pub current: Option<CurrentState>,
    /// The IAM role the state machine runs as (`$$.Execution.RoleArn`), when the executor was
    /// given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The workflow variables of the top-level scope (`Assign`), by name.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub variables: serde_json::Map<String, Value>,
}

/// The state a running execution is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentState {
    /// The state's name.
    pub name: String,
    /// When the state was entered (`$$.State.EnteredTime`).
    pub entered_time: DateTime<Utc>,
    /// The id of the history event that entered it (AWS names it in runtime errors' causes).
    #[serde(default)]
    pub entered_event_id: u64,
    /// The state's raw input (what `ResultPath` combines the result with).
    pub raw_input: Value,
    /// The effective input once computed (a Task's parameters, a Wait's input after InputPath).
    pub effective_input: Option<Value>,
    /// Retries so far in this state (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// Attempts used, per Retrier of the state.
    pub retrier_attempts: Vec<u64>,
    /// What the state is waiting for.
    pub waiting_for: WaitingFor,
}

/// What a running execution's current state is waiting for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum WaitingFor {
    /// Nothing: the state is ready to run.
    Nothing,
    /// A Wait state's time.
    Timer {
        /// When the wait ends.
        until: DateTime<Utc>,
    },
    /// The interval before a Task state's next attempt.
    RetryInterval {
        /// When to retry.
        until: DateTime<Utc>,
    },
    /// A Task state's invocation (and, for `.waitForTaskToken`, its callback).
    Task(TaskWait),
    /// A Parallel state's branches or a Map state's iterations.
    Branches(Box<Branches>),
}

/// The runs of a Parallel state's branches (one per branch, all started at once) or of a Map
/// state's iterations (one per item, started as `MaxConcurrency` allows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Branches {
    /// A Map's items, each iteration's input before `ItemSelector`; empty for a Parallel state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Value>,
    /// The runs started so far, by branch or item index.
    pub runs: Vec<BranchRun>,
}

/// One branch or iteration: the state it is in while it runs, then its output or its error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchRun {
    /// The state the run is in, while it runs.
    pub current: Option<CurrentState>,
    /// Its output, once it has succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Its error, once it has failed (or was stopped because another run failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its cause, once it has failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The variables assigned inside it (its own scope: the outer ones are read, never written).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub variables: serde_json::Map<String, Value>,
}

impl BranchRun {
    /// Whether the run has ended, one way or the other.
    pub fn is_finished(&self) -> bool {
        self.current.is_none()
    }
}

impl CurrentState {
    /// This state and every state its branches are in, at any depth.
    fn with_nested(&self) -> Vec<&CurrentState> {
        let mut states = vec![self];
        let mut next = 0;
        while next < states.len() {
            if let WaitingFor::Branches(branches) = &states[next].waiting_for {
                states.extend(branches.runs.iter().filter_map(|run| run.current.as_ref()));
            }
            next += 1;
        }
        states
    }
}

/// An outstanding task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskWait {
    /// Identifies this attempt's invocation; a result for another id is stale and ignored.
    pub invocation_id: u64,
    /// The task token, for `.waitForTaskToken` resources.
    pub task_token: Option<String>,
    /// Whether the invoker has returned (for `.waitForTaskToken`: the callback is awaited).
    /// If false after a restart, the task is invoked again.
    pub invoked: bool,
    /// When `TimeoutSeconds` runs out.
    pub timeout_at: Option<DateTime<Utc>>,
    /// When `HeartbeatSeconds` runs out (moved on by each heartbeat).
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The state's `TimeoutSeconds` when a JSONata expression gave it as the task started (a
    /// number written in the definition is read from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The state's `HeartbeatSeconds` when a JSONata expression gave it, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
}

impl ExecutionRecord {
    /// The task token the execution is waiting on, if any. A store can index it (e.g. a
    /// nullable, unique `task_token` column) to answer [`ExecutionStore::find_by_task_token`].
    /// Tasks inside Parallel branches and Map iterations (an execution may wait on many at once)
    /// get tokens that name their execution themselves, so a store never looks them up.
    pub fn task_token(&self) -> Option<&str> {
        match &self.current.as_ref()?.waiting_for {
            WaitingFor::Task(task) => task.task_token.as_deref(),
            _ => None,
        }
    }

    /// The earliest time something is due for this execution (a Wait's end, a retry, a task or
    /// heartbeat timeout, the execution timeout), if it is running.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        if self.status != ExecutionStatus::Running {
            return None;
        }
        let state_deadline = self.current.as_ref().and_then(|current| {
            current
                .with_nested()
                .into_iter()
                .filter_map(|state| match &state.waiting_for {
                    WaitingFor::Nothing | WaitingFor::Branches(_) => None,
                    WaitingFor::Timer { until } | WaitingFor::RetryInterval { until } => Some(*until),
                    WaitingFor::Task(task) => match (task.timeout_at, task.heartbeat_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                })
                .min()
        });
        match (state_deadline, self.timeout_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What [`ExecutionStore::create_execution`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// The execution was stored.
    Created,
    /// An execution with that ARN (so that name, in that state machine) already exists; here it is.
    AlreadyExists(Box<ExecutionRecord>),
}

/// Where executions and their histories are kept. Implement it on durable storage so a restart
/// resumes executions exactly where they were; [`InMemoryStore`](crate::InMemoryStore) is the
/// non-durable implementation.
///
/// Each write takes the record and the history events produced by the same transition, so a SQL
/// implementation can write both in one transaction. The executor serialises writes per execution
/// within a process; the version check protects against anything else.
#[async_trait::async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Stores a new execution (its `version` is 1) with its first history events, unless an
    /// execution with the same `execution_arn` exists, in which case nothing is written and the
    /// existing record is returned.
    async fn create_execution(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<CreateOutcome, StoreError>;

    /// The execution with this ARN, if stored.
    async fn load_execution(&self, execution_arn: &str) -> Result<Option<ExecutionRecord>, StoreError>;

    /// Replaces the stored record with `record` (whose `version` is `expected_version + 1`) and
    /// appends `events` to its history, if the stored version is `expected_version`; otherwise
    /// fails with [`StoreError::VersionConflict`] and writes nothing.
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        expected_version: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError>;

    /// The execution's history, in id order.
    async fn load_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// The executions of a state machine, optionally only those with `status` (the executor asks
    /// for the RUNNING ones when resuming).
    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// The ARN of the execution whose current [`task_token`](ExecutionRecord::task_token) is
    /// `task_token`, if any.
    async fn find_by_task_token(&self, task_token: &str) -> Result<Option<String>, StoreError>;

    /// The RUNNING executions of a state machine with something due by `until` (their
    /// [`ExecutionRecord::next_wakeup`]), with when. The executor keeps only the timers due soon in
    /// memory and asks for the next ones with this. This default reads every running record; a
    /// store that keeps the next wake-up in an index should answer from it.
    async fn wakeups_due_by(
        &self,
        state_machine_arn: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let running = self.list_executions(state_machine_arn, Some(ExecutionStatus::Running)).await?;
        Ok(running
            .into_iter()
            .filter_map(|record| record.next_wakeup().filter(|at| *at <= until).map(|at| (record.execution_arn, at)))
            .collect())
    }
}
