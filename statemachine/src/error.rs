//! Error types: refusals of a definition at load ([`LoadError`]), failures of the executor's API
//! ([`ExecutorError`]), failures of an [`ExecutionStore`](crate::ExecutionStore) ([`StoreError`]),
//! and the predefined ASL error names ([`error_names`]).

use std::fmt;
use std::sync::Arc;

use crate::store::ExecutionStatus;

/// The error names the States Language predefines (its Appendix A), plus `States.Runtime`, which
/// this executor (like Step Functions) uses for failures no Retrier or Catcher can handle.
pub mod error_names {
    /// Wildcard matching any error name (except [`RUNTIME`]).
    pub const ALL: &str = "States.ALL";
    /// A Task state did not heartbeat within `HeartbeatSeconds`.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A Task state ran longer than `TimeoutSeconds` (also matches heartbeat timeouts), or the
    /// execution ran longer than the top-level `TimeoutSeconds`.
    pub const TIMEOUT: &str = "States.Timeout";
    /// Wildcard matching any error name except the timeouts (and [`RUNTIME`]).
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A Task state lacked the privileges to run its resource.
    pub const PERMISSIONS: &str = "States.Permissions";
    /// `ResultPath` could not be applied to the state's input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// Predefined by the States Language for a `Parameters` path that matches nothing. Step
    /// Functions, and this executor, report that case as [`RUNTIME`] instead.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A failure that cannot be retried or caught (a bad `InputPath`/`OutputPath`, a Wait state's
    /// path not giving a number or timestamp, a task invoker breaking its contract, …).
    pub const RUNTIME: &str = "States.Runtime";
    /// A JSONata expression failed, returned nothing, or gave a value its field does not take. Like
    /// any error but [`RUNTIME`], a Retrier or Catcher may handle it.
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    /// A state's output was larger than Step Functions' 256 KiB payload limit.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A Distributed Map had more failed iterations than its `ToleratedFailure…` fields allow.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
}

/// What kind of problem made a definition unloadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// The text is not JSON.
    Json,
    /// A `${Name}` placeholder has no substitution (or substitutions loop).
    Substitution,
    /// Valid ASL, but a feature this executor does not implement (reading a Map's items from S3,
    /// JSONPath functions, …).
    Unsupported,
    /// Not valid ASL (missing or mistyped field, unknown state, unreachable state, …).
    Invalid,
}

/// A definition refused at load. Names the state (when the problem is inside one) and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// What kind of problem it is.
    pub kind: LoadErrorKind,
    /// The state the problem is in, if it is inside a state.
    pub state: Option<String>,
    /// The field (a dotted location such as `Parameters.greeting.$` or `Retry[0].BackoffRate`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl LoadError {
    pub(crate) fn new(
        kind: LoadErrorKind,
        state: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        LoadError { kind, state: state.map(str::to_owned), field: field.map(str::to_owned), message: message.into() }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LoadErrorKind::Json => "invalid JSON",
            LoadErrorKind::Substitution => "substitution failed",
            LoadErrorKind::Unsupported => "not supported",
            LoadErrorKind::Invalid => "invalid definition",
        };
        write!(f, "{what}: ")?;
        match (&self.state, &self.field) {
            (Some(state), Some(field)) => write!(f, "state \"{state}\", field \"{field}\": ")?,
            (Some(state), None) => write!(f, "state \"{state}\": ")?,
            (None, Some(field)) => write!(f, "top-level field \"{field}\": ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// A syntax problem found while compiling a path, intrinsic or rule; the loader adds the state and
/// field to turn it into a [`LoadError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub unsupported: bool,
    pub message: String,
}

impl Refusal {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Refusal { unsupported: false, message: message.into() }
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Refusal { unsupported: true, message: message.into() }
    }

    pub(crate) fn at(self, state: Option<&str>, field: &str) -> LoadError {
        let kind = if self.unsupported { LoadErrorKind::Unsupported } else { LoadErrorKind::Invalid };
        LoadError::new(kind, state, Some(field), self.message)
    }
}

/// An error a state reports while running: the `Error` and `Cause` of the ASL error output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub error: String,
    pub cause: String,
    /// Set when a JSONata evaluation failed: the state then writes an `EvaluationFailed` event
    /// (once; the engine takes it as it writes the event).
    pub evaluation: Option<Evaluation>,
}

/// Where a JSONata evaluation failed, as AWS's `EvaluationFailedEventDetails.location` names it:
/// the field (`Output/result`, `Items`), or none when the state's input as a whole was the
/// wrong kind (a Map without `Items` given a non-array input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evaluation {
    pub location: Option<Arc<str>>,
}

impl Failure {
    pub(crate) fn new(error: &str, cause: impl Into<String>) -> Self {
        Failure { error: error.to_owned(), cause: cause.into(), evaluation: None }
    }

    /// A `States.QueryEvaluationError` raised evaluating the field `location`.
    pub(crate) fn evaluation(cause: impl Into<String>, location: Option<Arc<str>>) -> Self {
        Failure {
            error: error_names::QUERY_EVALUATION_ERROR.to_owned(),
            cause: cause.into(),
            evaluation: Some(Evaluation { location }),
        }
    }

    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Failure::new(error_names::RUNTIME, cause)
    }
}

/// A failure of an [`ExecutionStore`](crate::ExecutionStore).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `save_execution` found a version other than the expected one: someone else changed the
    /// execution since it was loaded.
    #[error("execution {execution_arn} was changed concurrently (expected version {expected_version})")]
    #[allow(missing_docs)]
    VersionConflict {
        execution_arn: String,
        /// The version the caller loaded.
        expected_version: u64,
    },
    /// `save_execution` was called for an execution the store does not hold.
    #[error("execution {0} is not in the store")]
    NotFound(String),
    /// The backend failed (I/O, SQL, serialisation, …).
    #[error("execution store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend(error.into())
    }
}

/// A failure of an [`Executor`](crate::Executor) call. The variants mirror the Step Functions API
/// errors of the same names.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No execution has that ARN.
    #[error("execution does not exist: {0}")]
    ExecutionDoesNotExist(String),
    /// An execution with that name exists and the call was not an idempotent repeat (Step Functions
    /// treats a repeat as idempotent only while the execution is RUNNING and the input is equal).
    #[error("execution already exists: {execution_arn} ({status}, {})", if *.same_input { "same input" } else { "different input" })]
    #[allow(missing_docs)]
    ExecutionAlreadyExists {
        /// The existing execution.
        execution_arn: String,
        status: ExecutionStatus,
        /// Whether its input equals the input of the refused start.
        same_input: bool,
    },
    /// The execution name is not a valid Step Functions name.
    #[error("invalid execution name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// The string is not an ARN of the expected shape.
    #[error("invalid ARN {0:?}")]
    InvalidArn(String),
    /// The execution belongs to another state machine than this executor's.
    #[error("execution {execution_arn} belongs to state machine {state_machine_arn}, not to this executor's")]
    #[allow(missing_docs)]
    WrongStateMachine {
        execution_arn: String,
        /// The state machine it belongs to.
        state_machine_arn: String,
    },
    /// The task token is not one this executor could have issued.
    #[error("invalid task token")]
    InvalidToken,
    /// The task token was issued but its task is no longer waiting: it already succeeded, failed,
    /// timed out, or its execution ended. A repeated callback gets this error.
    #[error("task timed out: the task for this token is no longer active")]
    TaskTimedOut,
    /// The execution store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
