//! The embedded workflow engine: the order state machine executed in-process by the `statemachine`
//! crate, its executions and history stored in SQLite (a restart resumes them), its tasks run by
//! [`EmbeddedTasks`](super::tasks::EmbeddedTasks). It is both the [`WorkflowEngine`] the API starts
//! executions with and the [`TaskCallbacks`] the workers answer tasks with.

use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

use statemachine::{
    CreateOutcome as ExecutionCreated, Definition, DriverHandle, Executor, ExecutorError, HistoryEvent,
    StateMachineArn, TaskOutcome,
};

use super::executions::{ExecutionRow, insert_execution};
use super::queues::insert_message;
use super::tasks::EmbeddedTasks;

use crate::ports::{
    CallbackError, ExecutionArn, ExecutionDescription, HistoryEntry, StartedExecution, StoreError, TaskCallbacks,
    WorkflowEngine, WorkflowError,
};

/// The order workflow, run in-process.
#[derive(Clone)]
pub struct EmbeddedWorkflow {
    executor: Executor,
    tasks: Arc<EmbeddedTasks>,
}

impl EmbeddedWorkflow {
    /// The engine running `definition` (known as `state_machine`) with `tasks`, its executions
    /// kept in the tasks' database: an execution and its first task's message are then stored in
    /// one write.
    pub fn new(definition: Definition, state_machine: StateMachineArn, tasks: Arc<EmbeddedTasks>) -> Self {
        let store = Arc::new(tasks.database().clone());
        let executor = Executor::builder(definition, state_machine, tasks.clone(), store).build();
        EmbeddedWorkflow { executor, tasks }
    }

    /// The task resources the executions run.
    pub fn tasks(&self) -> &EmbeddedTasks {
        &self.tasks
    }

    /// The executor (history, stop, deterministic driving in tests).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Picks up the executions that were running when the process stopped; returns how many.
    pub async fn resume(&self) -> Result<usize, WorkflowError> {
        self.executor.resume_running().await.map_err(engine_error)
    }

    /// Starts the background driver that fires due timers (waits, retries, timeouts).
    pub fn spawn_driver(&self) -> DriverHandle {
        self.executor.spawn_driver()
    }
}

fn store_error(error: StoreError) -> WorkflowError {
    match error {
        StoreError::Unavailable(message) => WorkflowError::Unavailable(message),
        other => WorkflowError::Internal(other.to_string()),
    }
}

fn engine_error(error: ExecutorError) -> WorkflowError {
    match error {
        ExecutorError::Store(error) => WorkflowError::Unavailable(error.to_string()),
        other => WorkflowError::Internal(other.to_string()),
    }
}

#[async_trait]
impl WorkflowEngine for EmbeddedWorkflow {
    fn execution_arn(&self, name: &str) -> ExecutionArn {
        // Names are order ids (UUIDs) and the state machine ARN was checked when it was built.
        ExecutionArn::for_execution(self.executor.state_machine_arn(), name)
            .unwrap_or_else(|_| panic!("execution name {name:?} does not make an ARN"))
    }

    async fn start_execution(&self, name: &str, input: &Value) -> Result<StartedExecution, WorkflowError> {
        let arn = self.execution_arn(name);
        // Step Functions answers a repeated start of an execution (running or ended) with the same
        // input as if it had started it. Looking first (a read) spares a repeat (a change record
        // delivered again, a replayed request) the start's preparation and a write.
        match self.executor.describe_execution(arn.as_str()).await {
            Ok(existing) if &existing.input == input => {
                return Ok(StartedExecution { execution_arn: arn, newly_started: false });
            }
            Ok(_) => return Err(WorkflowError::AlreadyExists(name.to_owned())),
            Err(ExecutorError::ExecutionDoesNotExist(_)) => {}
            Err(other) => return Err(engine_error(other)),
        }
        let mut prepared = self.executor.prepare_start(name, input.clone()).map_err(engine_error)?;
        // The first task's message (the order handed to fulfilment) goes into the start's write,
        // and the execution is stored as having sent it: its first step is then no write of its
        // own. Were the write to fail or find the execution already there, neither is kept.
        let first_message = prepared.task_to_invoke().and_then(|request| self.tasks.message_sent_with_start(request));
        let first_message = first_message
            .filter(|_| self.executor.invoked_with_start(&mut prepared, Ok(TaskOutcome::AwaitingCallback)));
        let row = ExecutionRow::new_execution(&prepared.record, &prepared.events)
            .map_err(|error| WorkflowError::Internal(error.to_string()))?;
        let created = self
            .tasks
            .database()
            .write(move |tx| {
                let created = insert_execution(tx, &row)?;
                if let (ExecutionCreated::Created, Some((queue, message))) = (&created, &first_message) {
                    insert_message(tx, *queue, message)?;
                }
                Ok(created)
            })
            .await
            .map_err(store_error)?;
        match created {
            ExecutionCreated::Created => {
                self.executor.run_stored(prepared);
                Ok(StartedExecution { execution_arn: arn, newly_started: true })
            }
            // Started in between (the change feed and a client asking, together).
            ExecutionCreated::AlreadyExists(existing) if existing.input == *input => {
                Ok(StartedExecution { execution_arn: arn, newly_started: false })
            }
            ExecutionCreated::AlreadyExists(_) => Err(WorkflowError::AlreadyExists(name.to_owned())),
        }
    }

    async fn describe_execution(&self, arn: &ExecutionArn) -> Result<Option<ExecutionDescription>, WorkflowError> {
        match self.executor.describe_execution(arn.as_str()).await {
            Ok(found) => Ok(Some(ExecutionDescription {
                execution_arn: arn.clone(),
                state_machine_arn: found.state_machine_arn,
                name: found.name,
                status: found.status,
                start_date: found.start_date,
                stop_date: found.stop_date,
                input: found.input,
                output: found.output,
                error: found.error,
                cause: found.cause,
            })),
            Err(ExecutorError::ExecutionDoesNotExist(_) | ExecutorError::WrongStateMachine { .. }) => Ok(None),
            Err(other) => Err(engine_error(other)),
        }
    }

    async fn history(&self, arn: &ExecutionArn) -> Result<Vec<HistoryEntry>, WorkflowError> {
        match self.executor.get_execution_history(arn.as_str()).await {
            Ok(events) => Ok(events.into_iter().map(history_entry).collect()),
            Err(ExecutorError::ExecutionDoesNotExist(_) | ExecutorError::WrongStateMachine { .. }) => Ok(Vec::new()),
            Err(other) => Err(engine_error(other)),
        }
    }
}

/// An engine event as a history entry. A state event names its state in `name`; an
/// `EvaluationFailed` event (a JSONata expression that failed) in `state`, as AWS's
/// `evaluationFailedEventDetails` does, so both are read.
fn history_entry(event: HistoryEvent) -> HistoryEntry {
    HistoryEntry {
        id: event.id,
        timestamp: event.timestamp,
        event_type: serde_json::to_value(event.event_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        state: event.details.name.or_else(|| event.details.state.map(String::from)),
        error: event.details.error,
    }
}

fn callback_error(error: ExecutorError) -> CallbackError {
    match error {
        ExecutorError::InvalidToken | ExecutorError::TaskTimedOut => CallbackError::TaskGone(error.to_string()),
        ExecutorError::Store(error) => CallbackError::Unavailable(error.to_string()),
        other => CallbackError::Internal(other.to_string()),
    }
}

#[async_trait]
impl TaskCallbacks for EmbeddedWorkflow {
    async fn send_task_success(&self, task_token: &str, output: &Value) -> Result<(), CallbackError> {
        self.executor.send_task_success(task_token, output.clone()).await.map_err(callback_error)
    }

    async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.executor.send_task_failure(task_token, error, cause).await.map_err(callback_error)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use statemachine::{EventDetails, HistoryEventType};

    use super::*;

    fn event(event_type: HistoryEventType, details: EventDetails) -> HistoryEvent {
        let timestamp = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_default();
        HistoryEvent { id: 3, previous_event_id: 2, timestamp, event_type, details }
    }

    #[test]
    fn given_an_evaluation_failed_event_when_listed_then_the_entry_shows_its_state_and_error() {
        let failed = event(
            HistoryEventType::EvaluationFailed,
            EventDetails {
                state: Some("Quote".into()),
                error: Some("States.QueryEvaluationError".to_owned()),
                location: Some("Arguments/sku".into()),
                ..EventDetails::default()
            },
        );
        let entry = history_entry(failed);
        assert_eq!(entry.event_type, "EvaluationFailed");
        assert_eq!(entry.state.as_deref(), Some("Quote"));
        assert_eq!(entry.error.as_deref(), Some("States.QueryEvaluationError"));
        // And a state event still names its state from `name`
        let entered = event(
            HistoryEventType::TaskStateEntered,
            EventDetails { name: Some("Quote".to_owned()), ..EventDetails::default() },
        );
        assert_eq!(history_entry(entered).state.as_deref(), Some("Quote"));
    }
}
