//! The embedded workflow engine's execution store: the `statemachine` crate's [`ExecutionStore`] on
//! SQLite. One row per execution (its record as JSON, with status, version and current task token
//! as columns for look-ups) and one row per history event; every save checks the version.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};
use statemachine::{CreateOutcome, ExecutionRecord, ExecutionStatus, ExecutionStore, HistoryEvent, StoreError};

use super::db::{Database, execute_cached, query_row_cached};
use crate::ports;

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

fn from_port(error: ports::StoreError) -> StoreError {
    backend(error)
}

fn sql(error: rusqlite::Error) -> ports::StoreError {
    super::db::sql_error(error)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ports::StoreError> {
    serde_json::to_string(value).map_err(|e| ports::StoreError::Internal(format!("execution JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ports::StoreError> {
    serde_json::from_str(text).map_err(|e| ports::StoreError::Internal(format!("stored execution JSON: {e}")))
}

fn append_events(tx: &Transaction<'_>, arn: &str, events: &[(u64, String)]) -> Result<(), ports::StoreError> {
    let mut insert = tx
        .prepare_cached("INSERT INTO execution_history (execution_arn, event_id, event) VALUES (?1, ?2, ?3)")
        .map_err(sql)?;
    for (id, event) in events {
        insert.execute(params![arn, *id as i64, event]).map_err(sql)?;
    }
    Ok(())
}

/// An execution as its row holds it, with the history events to append, ready to move to the
/// database thread.
struct ExecutionRow {
    arn: String,
    machine: String,
    status: &'static str,
    /// When it stopped (milliseconds since the epoch), once it has.
    stopped_at: Option<i64>,
    version: i64,
    token: Option<String>,
    json: String,
    events: Vec<(u64, String)>,
}

impl ExecutionRow {
    fn new(record: &ExecutionRecord, events: &[HistoryEvent]) -> Result<Self, StoreError> {
        Ok(ExecutionRow {
            arn: record.execution_arn.clone(),
            machine: record.state_machine_arn.clone(),
            status: record.status.as_str(),
            stopped_at: record.stop_date.map(|at| at.timestamp_millis()),
            version: record.version as i64,
            token: record.task_token().map(str::to_owned),
            json: to_json(record).map_err(from_port)?,
            events: events
                .iter()
                .map(|event| Ok((event.id, to_json(event)?)))
                .collect::<Result<_, _>>()
                .map_err(from_port)?,
        })
    }
}

#[async_trait]
impl ExecutionStore for Database {
    async fn create_execution(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<CreateOutcome, StoreError> {
        let ExecutionRow { arn, machine, status, stopped_at, version, token, json, events } =
            ExecutionRow::new(record, events)?;
        self.write(move |tx| {
            let existing: Option<String> =
                query_row_cached(tx, "SELECT record FROM executions WHERE execution_arn = ?1", [&arn], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(sql)?;
            if let Some(existing) = existing {
                return Ok(CreateOutcome::AlreadyExists(Box::new(from_json(&existing)?)));
            }
            execute_cached(
                tx,
                "INSERT INTO executions (execution_arn, state_machine_arn, status, version, task_token, record,
                                         stopped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![arn, machine, status, version, token, json, stopped_at],
            )
            .map_err(sql)?;
            append_events(tx, &arn, &events)?;
            Ok(CreateOutcome::Created)
        })
        .await
        .map_err(from_port)
    }

    async fn load_execution(&self, execution_arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.read_by_key(|tx| {
            let text: Option<String> = query_row_cached(
                tx,
                "SELECT record FROM executions WHERE execution_arn = ?1",
                [execution_arn],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql)?;
            text.as_deref().map(from_json).transpose()
        })
        .map_err(from_port)
    }

    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        expected_version: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError> {
        let ExecutionRow { arn, status, stopped_at, version, token, json, events, .. } =
            ExecutionRow::new(record, events)?;
        self.write(move |tx| {
            let stored: Option<i64> =
                query_row_cached(tx, "SELECT version FROM executions WHERE execution_arn = ?1", [&arn], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(sql)?;
            match stored {
                None => return Ok(Err(StoreError::NotFound(arn))),
                Some(stored) if stored != expected_version as i64 => {
                    return Ok(Err(StoreError::VersionConflict { execution_arn: arn, expected_version }));
                }
                Some(_) => {}
            }
            execute_cached(
                tx,
                "UPDATE executions SET status = ?1, version = ?2, task_token = ?3, record = ?4, stopped_at = ?6
                     WHERE execution_arn = ?5",
                params![status, version, token, json, arn, stopped_at],
            )
            .map_err(sql)?;
            append_events(tx, &arn, &events)?;
            Ok(Ok(()))
        })
        .await
        .map_err(from_port)?
    }

    async fn load_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let arn = execution_arn.to_owned();
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached("SELECT event FROM execution_history WHERE execution_arn = ?1 ORDER BY event_id")
                .map_err(sql)?;
            let rows = stmt.query_map([&arn], |row| row.get::<_, String>(0)).map_err(sql)?;
            let mut events = Vec::new();
            for row in rows {
                events.push(from_json(&row.map_err(sql)?)?);
            }
            Ok(events)
        })
        .await
        .map_err(from_port)
    }

    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let machine = state_machine_arn.to_owned();
        let status = status.map(ExecutionStatus::as_str);
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT record FROM executions WHERE state_machine_arn = ?1 AND (?2 IS NULL OR status = ?2)
                     ORDER BY execution_arn",
                )
                .map_err(sql)?;
            let rows = stmt.query_map(params![machine, status], |row| row.get::<_, String>(0)).map_err(sql)?;
            let mut records = Vec::new();
            for row in rows {
                records.push(from_json(&row.map_err(sql)?)?);
            }
            Ok(records)
        })
        .await
        .map_err(from_port)
    }

    async fn find_by_task_token(&self, task_token: &str) -> Result<Option<String>, StoreError> {
        self.read_by_key(|tx| {
            query_row_cached(tx, "SELECT execution_arn FROM executions WHERE task_token = ?1", [task_token], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sql)
        })
        .map_err(from_port)
    }
}
