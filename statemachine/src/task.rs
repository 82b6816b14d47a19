//! The application's side of Task states: the [`TaskInvoker`] trait the executor calls for every
//! Task resource, the [`TaskRequest`] it receives, and what it returns ([`TaskOutcome`] or a
//! [`TaskFailure`]).

use std::fmt;

use serde_json::Value;

/// Runs Task state resources for the executor. The application implements it, typically by
/// matching on [`TaskRequest::resource`].
///
/// The executor calls `invoke` at least once per attempt: if the process stops while an
/// invocation is outstanding, the invocation is repeated after
/// [`Executor::resume_running`](crate::Executor::resume_running), so tasks should be idempotent (as Step Functions tasks
/// should be). Invocations of different executions run concurrently.
#[async_trait::async_trait]
pub trait TaskInvoker: Send + Sync {
    /// Run the task `resource` with the effective `parameters`.
    ///
    /// Return [`TaskOutcome::Completed`] with the task's result, or, for a `.waitForTaskToken`
    /// resource, [`TaskOutcome::AwaitingCallback`] once the token has been handed on; the
    /// execution then waits for [`Executor::send_task_success`](crate::Executor::send_task_success)
    /// (or failure, or a timeout). Return a [`TaskFailure`] to make the state fail with that error
    /// name (which Retry and Catch see).
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure>;
}

/// One invocation of a Task state's resource.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct TaskRequest {
    /// The state's `Resource`, exactly as in the definition (e.g.
    /// `arn:aws:states:::sqs:sendMessage.waitForTaskToken`).
    pub resource: String,
    /// The effective input: the state input after `InputPath` and `Parameters`.
    pub parameters: Value,
    pub execution_arn: String,
    pub execution_name: String,
    pub state_machine_arn: String,
    /// The Task state's name.
    pub state_name: String,
    /// The task token, set when the resource ends with `.waitForTaskToken` (it is also
    /// `$$.Task.Token`, so `Parameters` can place it in the payload).
    pub task_token: Option<String>,
    /// How many times this state has been retried before this attempt (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// The state's `TimeoutSeconds`, if any.
    pub timeout_seconds: Option<u64>,
    /// The state's `HeartbeatSeconds`, if any.
    pub heartbeat_seconds: Option<u64>,
}

impl TaskRequest {
    /// The resource without a `.waitForTaskToken` or `.sync` / `.sync:2` integration suffix.
    pub fn base_resource(&self) -> &str {
        let resource = self.resource.as_str();
        for suffix in [".waitForTaskToken", ".sync:2", ".sync"] {
            if let Some(base) = resource.strip_suffix(suffix) {
                return base;
            }
        }
        resource
    }
}

/// What a task invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The task finished with this result. For a `.waitForTaskToken` resource this completes the
    /// task at once, as if `send_task_success` had been called with the value.
    Completed(Value),
    /// The token was handed on; wait for a callback. Only legal for `.waitForTaskToken`
    /// resources: for any other resource the execution fails with `States.Runtime`.
    AwaitingCallback,
}

/// A failed task: the error name and cause the state reports (e.g. error
/// `DynamoDB.ConditionalCheckFailedException`). Retriers and Catchers match on `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The error name.
    pub error: String,
    /// Human-readable detail.
    pub cause: String,
}

impl TaskFailure {
    /// A failure with this error name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure { error: error.into(), cause: cause.into() }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskFailure {}
