//! Step Functions in its two roles, two adapters over one client:
//!
//! - [`StepFunctionsEngine`], the workflow engine of one state machine: StartExecution named by the
//!   order id (idempotent for the same input), DescribeExecution and GetExecutionHistory. It needs
//!   the state machine's ARN.
//! - [`StepFunctionsCallbacks`], the task-callback client: SendTaskSuccess and SendTaskFailure. A
//!   task token names its execution, so no ARN is needed.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::errors::{describe, is_transient};
use crate::ports::{
    CallbackError, ExecutionArn, ExecutionDescription, ExecutionStatus, HistoryEntry, StartedExecution, TaskCallbacks,
    WorkflowEngine, WorkflowError,
};

/// The workflow engine: one state machine on Step Functions.
#[derive(Clone, Debug)]
pub struct StepFunctionsEngine {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsEngine {
    /// The state machine `state_machine_arn`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        StepFunctionsEngine { client, state_machine_arn: state_machine_arn.into() }
    }
}

/// The task callbacks of Step Functions (any state machine's: the token names the execution).
#[derive(Clone, Debug)]
pub struct StepFunctionsCallbacks {
    client: Client,
}

impl StepFunctionsCallbacks {
    /// Callbacks through `client`.
    pub fn new(client: Client) -> Self {
        StepFunctionsCallbacks { client }
    }
}

pub(super) fn workflow_error<E, R>(error: aws_sdk_sfn::error::SdkError<E, R>) -> WorkflowError
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if is_transient(&error) {
        WorkflowError::Unavailable(describe(&error))
    } else {
        WorkflowError::Internal(describe(&error))
    }
}

fn callback_error<E, R>(error: aws_sdk_sfn::error::SdkError<E, R>) -> CallbackError
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let code = super::errors::code(&error);
    if matches!(code.as_deref(), Some("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")) {
        CallbackError::TaskGone(describe(&error))
    } else if is_transient(&error) {
        CallbackError::Unavailable(describe(&error))
    } else {
        CallbackError::Internal(describe(&error))
    }
}

pub(super) fn date(value: &aws_sdk_sfn::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(value.to_millis().unwrap_or_default()).unwrap_or_default()
}

fn json(text: Option<&str>) -> Option<Value> {
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())))
}

/// What StartExecution answered.
enum Started {
    /// Started, or a running execution of that name and input found.
    Now,
    /// `ExecutionAlreadyExists`: one of that name has ended, or has another input.
    Refused,
}

impl StepFunctionsEngine {
    async fn send_start(&self, name: &str, input: &Value) -> Result<Started, WorkflowError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Started::Now),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_execution_already_exists()) => {
                Ok(Started::Refused)
            }
            Err(error) => Err(workflow_error(error)),
        }
    }

    /// The execution `name` that StartExecution refused to start: it, when its input is `input`.
    async fn ensure_existing(&self, name: &str, input: &Value) -> Result<ExecutionArn, WorkflowError> {
        let arn = self.execution_arn(name);
        match self.describe_execution(&arn).await? {
            Some(existing) if &existing.input == input => Ok(arn),
            Some(_) => Err(WorkflowError::AlreadyExists(name.to_owned())),
            None => Err(WorkflowError::Internal(format!("execution {name} was refused as existing, and is not there"))),
        }
    }
}

#[async_trait]
impl WorkflowEngine for StepFunctionsEngine {
    fn execution_arn(&self, name: &str) -> ExecutionArn {
        ExecutionArn::for_execution(&self.state_machine_arn, name)
            .unwrap_or_else(|_| panic!("execution name {name:?} does not make an ARN"))
    }

    async fn start_execution(&self, name: &str, input: &Value) -> Result<StartedExecution, WorkflowError> {
        let arn = self.execution_arn(name);
        // Look first: StartExecution answers a repeat of a running execution as if it had started
        // it, and this call must say whether it started one.
        if let Some(existing) = self.describe_execution(&arn).await? {
            return if &existing.input == input {
                Ok(StartedExecution { execution_arn: arn, newly_started: false })
            } else {
                Err(WorkflowError::AlreadyExists(name.to_owned()))
            };
        }
        match self.send_start(name, input).await? {
            Started::Now => Ok(StartedExecution { execution_arn: arn, newly_started: true }),
            // Started by another caller between the look and the start.
            Started::Refused => self
                .ensure_existing(name, input)
                .await
                .map(|execution_arn| StartedExecution { execution_arn, newly_started: false }),
        }
    }

    /// One request in the usual case: StartExecution succeeds for a new execution and for a repeat
    /// of a running one with the same input. Only a refusal (an ended execution of that name, or
    /// another input) costs a look.
    async fn ensure_execution(&self, name: &str, input: &Value) -> Result<ExecutionArn, WorkflowError> {
        match self.send_start(name, input).await? {
            Started::Now => Ok(self.execution_arn(name)),
            Started::Refused => self.ensure_existing(name, input).await,
        }
    }

    async fn describe_execution(&self, arn: &ExecutionArn) -> Result<Option<ExecutionDescription>, WorkflowError> {
        match self.client.describe_execution().execution_arn(arn.as_str()).send().await {
            Ok(output) => Ok(Some(ExecutionDescription {
                execution_arn: arn.clone(),
                state_machine_arn: output.state_machine_arn.clone(),
                name: output.name.clone().unwrap_or_default(),
                status: match output.status {
                    SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
                    SfnStatus::Succeeded => ExecutionStatus::Succeeded,
                    SfnStatus::TimedOut => ExecutionStatus::TimedOut,
                    SfnStatus::Aborted => ExecutionStatus::Aborted,
                    _ => ExecutionStatus::Failed,
                },
                start_date: date(&output.start_date),
                stop_date: output.stop_date.as_ref().map(date),
                input: json(output.input.as_deref()).unwrap_or(Value::Null),
                output: json(output.output.as_deref()),
                error: output.error.clone(),
                cause: output.cause.clone(),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_execution_does_not_exist()) => Ok(None),
            Err(error) => Err(workflow_error(error)),
        }
    }

    async fn history(&self, arn: &ExecutionArn) -> Result<Vec<HistoryEntry>, WorkflowError> {
        let mut entries = Vec::new();
        let mut token = None;
        loop {
            let page = match self
                .client
                .get_execution_history()
                .execution_arn(arn.as_str())
                .set_next_token(token)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_execution_does_not_exist()) => {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(workflow_error(e)),
            };
            entries.extend(page.events().iter().map(history_entry));
            token = page.next_token;
            if token.is_none() {
                return Ok(entries);
            }
        }
    }
}

/// A Step Functions event as a history entry. State events name their state in
/// `state{Entered,Exited}EventDetails.name`; an `EvaluationFailed` event (a JSONata expression that
/// failed) in `evaluationFailedEventDetails.state`, with its error, as the embedded engine's does.
fn history_entry(event: &aws_sdk_sfn::types::HistoryEvent) -> HistoryEntry {
    let state = event
        .state_entered_event_details()
        .map(|d| d.name().to_owned())
        .or_else(|| event.state_exited_event_details().map(|d| d.name().to_owned()))
        .or_else(|| event.evaluation_failed_event_details().map(|d| d.state().to_owned()));
    let error = event
        .execution_failed_event_details()
        .and_then(|d| d.error().map(str::to_owned))
        .or_else(|| event.task_failed_event_details().and_then(|d| d.error().map(str::to_owned)))
        .or_else(|| event.evaluation_failed_event_details().and_then(|d| d.error().map(str::to_owned)));
    HistoryEntry {
        id: event.id() as u64,
        timestamp: date(event.timestamp()),
        event_type: event.r#type().as_str().to_owned(),
        state,
        error,
    }
}

#[async_trait]
impl TaskCallbacks for StepFunctionsCallbacks {
    async fn send_task_success(&self, task_token: &str, output: &Value) -> Result<(), CallbackError> {
        self.client
            .send_task_success()
            .task_token(task_token)
            .output(output.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(callback_error)
    }

    async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.client
            .send_task_failure()
            .task_token(task_token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(callback_error)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sfn::primitives::DateTime as SfnDateTime;
    use aws_sdk_sfn::types::{EvaluationFailedEventDetails, HistoryEvent, HistoryEventType};

    use super::*;

    #[test]
    fn given_an_evaluation_failed_event_when_listed_then_the_entry_shows_its_state_and_error() {
        let details = EvaluationFailedEventDetails::builder()
            .state("Quote")
            .error("States.QueryEvaluationError")
            .location("Arguments/sku")
            .build()
            .expect("state is set");
        let event = HistoryEvent::builder()
            .id(3)
            .timestamp(SfnDateTime::from_millis(1_704_067_200_000))
            .r#type(HistoryEventType::EvaluationFailed)
            .evaluation_failed_event_details(details)
            .build()
            .expect("id, timestamp and type are set");
        let entry = history_entry(&event);
        assert_eq!(entry.event_type, "EvaluationFailed");
        assert_eq!(entry.state.as_deref(), Some("Quote"));
        assert_eq!(entry.error.as_deref(), Some("States.QueryEvaluationError"));
    }
}
