//! The embedded workflow engine's execution records: starting an execution (idempotent by name, as
//! Step Functions is) and describing it. Running the state machine itself is the `statemachine`
//! crate's job; until it drives these records, an execution stays RUNNING from its start.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::db::{Database, sql_error};
use crate::domain::order::{now_millis, rfc3339};
use crate::ports::{ExecutionArn, ExecutionDescription, StartedExecution, StoreError, WorkflowEngine, WorkflowError};

/// Executions of one state machine, recorded in the embedded database.
#[derive(Clone)]
pub struct EmbeddedWorkflow {
    database: Database,
    state_machine_arn: String,
}

impl EmbeddedWorkflow {
    /// The engine for the state machine `state_machine_arn`.
    pub fn new(database: Database, state_machine_arn: String) -> Self {
        EmbeddedWorkflow { database, state_machine_arn }
    }
}

/// What starting an execution found.
enum Start {
    Started,
    AlreadyRunning,
    NameTaken,
}

fn workflow_error(error: StoreError) -> WorkflowError {
    match error {
        StoreError::Unavailable(message) => WorkflowError::Unavailable(message),
        other => WorkflowError::Internal(other.to_string()),
    }
}

#[async_trait]
impl WorkflowEngine for EmbeddedWorkflow {
    fn execution_arn(&self, name: &str) -> ExecutionArn {
        // Names are order ids (UUIDs) and the state machine ARN is checked at start-up, so this holds.
        ExecutionArn::for_execution(&self.state_machine_arn, name)
            .unwrap_or_else(|_| panic!("execution name {name:?} does not make an ARN"))
    }

    async fn start_execution(&self, name: &str, input: &serde_json::Value) -> Result<StartedExecution, WorkflowError> {
        let arn = ExecutionArn::for_execution(&self.state_machine_arn, name)
            .map_err(|e| WorkflowError::Internal(format!("execution name {name:?}: {e}")))?;
        let input_text = input.to_string();
        let machine = self.state_machine_arn.clone();
        let name = name.to_owned();
        let execution_arn = arn.clone();
        let outcome = self
            .database
            .write(move |tx| {
                let existing: Option<String> = tx
                    .query_row("SELECT input FROM executions WHERE execution_arn = ?1", [arn.as_str()], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(sql_error)?;
                match existing {
                    Some(first_input) if first_input == input_text => Ok(Start::AlreadyRunning),
                    Some(_) => Ok(Start::NameTaken),
                    None => {
                        tx.execute(
                            "INSERT INTO executions (execution_arn, name, state_machine_arn, status, input, start_date)
                             VALUES (?1, ?2, ?3, 'RUNNING', ?4, ?5)",
                            params![arn.as_str(), name, machine, input_text, rfc3339::format(&now_millis())],
                        )
                        .map_err(sql_error)?;
                        Ok(Start::Started)
                    }
                }
            })
            .await
            .map_err(workflow_error)?;
        match outcome {
            Start::Started => Ok(StartedExecution { execution_arn, newly_started: true }),
            Start::AlreadyRunning => Ok(StartedExecution { execution_arn, newly_started: false }),
            Start::NameTaken => Err(WorkflowError::AlreadyExists(execution_arn.name().to_owned())),
        }
    }

    async fn describe_execution(&self, arn: &ExecutionArn) -> Result<Option<ExecutionDescription>, WorkflowError> {
        let arn = arn.clone();
        self.database
            .read(move |tx| {
                let row = tx
                    .query_row(
                        "SELECT name, state_machine_arn, status, input, output, error, cause, start_date, stop_date
                         FROM executions WHERE execution_arn = ?1",
                        [arn.as_str()],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, String>(2)?,
                                row.get::<_, String>(3)?,
                                row.get::<_, Option<String>>(4)?,
                                row.get::<_, Option<String>>(5)?,
                                row.get::<_, Option<String>>(6)?,
                                row.get::<_, String>(7)?,
                                row.get::<_, Option<String>>(8)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(sql_error)?;
                let Some((name, state_machine_arn, status, input, output, error, cause, start, stop)) = row else {
                    return Ok(None);
                };
                let json = |text: &str| {
                    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored execution JSON: {e}")))
                };
                Ok(Some(ExecutionDescription {
                    execution_arn: arn,
                    state_machine_arn,
                    name,
                    status: serde_json::from_value(serde_json::Value::String(status))
                        .map_err(|e| StoreError::Internal(format!("stored execution status: {e}")))?,
                    start_date: parse_time(&start)?,
                    stop_date: stop.as_deref().map(parse_time).transpose()?,
                    input: json(&input)?,
                    output: output.as_deref().map(json).transpose()?,
                    error,
                    cause,
                }))
            })
            .await
            .map_err(workflow_error)
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Internal(format!("stored execution date: {e}")))
}
