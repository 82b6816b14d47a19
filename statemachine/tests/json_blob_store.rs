//! An ExecutionStore kept the way a SQL implementation would keep it (one row per execution with a
//! few columns and the record as a JSON text blob, one row per history event as JSON text), to show
//! the trait maps onto tables and that a restart resumes from nothing but those rows.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{ScriptedInvoker, executor_on, t0};
use serde_json::json;
use statemachine::{
    CreateOutcome, ExecutionRecord, ExecutionStatus, ExecutionStore, HistoryEvent, ManualClock, StoreError, TaskOutcome,
};

/// `executions(execution_arn PRIMARY KEY, state_machine_arn, status, version, task_token UNIQUE, record TEXT)`
struct ExecutionRow {
    state_machine_arn: String,
    status: String,
    version: u64,
    task_token: Option<String>,
    record: String,
}

#[derive(Default)]
struct Tables {
    executions: BTreeMap<String, ExecutionRow>,
    /// `history(execution_arn, id, event TEXT, PRIMARY KEY (execution_arn, id))`
    history: BTreeMap<(String, u64), String>,
}

#[derive(Default)]
struct JsonBlobStore {
    tables: Mutex<Tables>,
}

fn row(record: &ExecutionRecord) -> Result<ExecutionRow, StoreError> {
    Ok(ExecutionRow {
        state_machine_arn: record.state_machine_arn.clone(),
        status: record.status.as_str().to_owned(),
        version: record.version,
        task_token: record.task_token().map(str::to_owned),
        record: serde_json::to_string(record).map_err(StoreError::backend)?,
    })
}

fn parse(text: &str) -> Result<ExecutionRecord, StoreError> {
    serde_json::from_str(text).map_err(StoreError::backend)
}

fn insert_events(tables: &mut Tables, arn: &str, events: &[HistoryEvent]) -> Result<(), StoreError> {
    for event in events {
        let text = serde_json::to_string(event).map_err(StoreError::backend)?;
        if tables.history.insert((arn.to_owned(), event.id), text).is_some() {
            return Err(StoreError::backend("duplicate history event id"));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl ExecutionStore for JsonBlobStore {
    async fn create_execution(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<CreateOutcome, StoreError> {
        let mut tables = self.tables.lock().unwrap();
        if let Some(existing) = tables.executions.get(&record.execution_arn) {
            return Ok(CreateOutcome::AlreadyExists(Box::new(parse(&existing.record)?)));
        }
        tables.executions.insert(record.execution_arn.clone(), row(record)?);
        insert_events(&mut tables, &record.execution_arn, events)?;
        Ok(CreateOutcome::Created)
    }

    async fn load_execution(&self, execution_arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        let tables = self.tables.lock().unwrap();
        tables.executions.get(execution_arn).map(|r| parse(&r.record)).transpose()
    }

    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        expected_version: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError> {
        // UPDATE executions SET … WHERE execution_arn = ? AND version = ?; INSERT INTO history …
        let mut tables = self.tables.lock().unwrap();
        let stored = tables
            .executions
            .get(&record.execution_arn)
            .ok_or_else(|| StoreError::NotFound(record.execution_arn.clone()))?;
        if stored.version != expected_version {
            return Err(StoreError::VersionConflict { execution_arn: record.execution_arn.clone(), expected_version });
        }
        let new_row = row(record)?;
        insert_events(&mut tables, &record.execution_arn, events)?;
        tables.executions.insert(record.execution_arn.clone(), new_row);
        Ok(())
    }

    async fn load_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let tables = self.tables.lock().unwrap();
        tables
            .history
            .range((execution_arn.to_owned(), 0)..=(execution_arn.to_owned(), u64::MAX))
            .map(|(_, text)| serde_json::from_str(text).map_err(StoreError::backend))
            .collect()
    }

    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let tables = self.tables.lock().unwrap();
        tables
            .executions
            .values()
            .filter(|r| r.state_machine_arn == state_machine_arn && status.is_none_or(|s| r.status == s.as_str()))
            .map(|r| parse(&r.record))
            .collect()
    }

    async fn find_by_task_token(&self, task_token: &str) -> Result<Option<String>, StoreError> {
        let tables = self.tables.lock().unwrap();
        Ok(tables
            .executions
            .iter()
            .find(|(_, r)| r.task_token.as_deref() == Some(task_token))
            .map(|(arn, _)| arn.clone()))
    }
}

#[tokio::test]
async fn given_a_json_row_store_when_the_process_restarts_mid_callback_then_the_execution_resumes_from_the_rows() {
    let definition = json!({"StartAt": "Reserve", "States": {
        "Reserve": {"Type": "Task", "Resource": "reserve", "ResultPath": "$.reservation", "Next": "Approve"},
        "Approve": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"token.$": "$$.Task.Token"}, "HeartbeatSeconds": 300, "ResultPath": "$.approval", "Next": "Ship"},
        "Ship": {"Type": "Task", "Resource": "ship", "ResultPath": "$.shipment", "End": true}}});
    let store = Arc::new(JsonBlobStore::default());
    let clock = Arc::new(ManualClock::new(t0()));
    // Given an execution waiting for its approval callback
    let first = executor_on(
        &definition,
        ScriptedInvoker::new(|r| match r.resource.as_str() {
            "reserve" => Ok(TaskOutcome::Completed(json!("R-1"))),
            _ => Ok(TaskOutcome::AwaitingCallback),
        }),
        store.clone(),
        clock.clone(),
    );
    let arn = first.start_execution("order-1", json!({"order": 1})).await.unwrap().execution_arn;
    first.run_until_idle().await.unwrap();
    let token = first.describe_execution(&arn).await.unwrap().task_token.unwrap();
    {
        let tables = store.tables.lock().unwrap();
        let row = &tables.executions[&arn];
        assert_eq!((row.status.as_str(), row.task_token.as_deref()), ("RUNNING", Some(token.as_str())));
        let blob: serde_json::Value = serde_json::from_str(&row.record).unwrap();
        assert_eq!(blob["current"]["name"], json!("Approve"));
        assert_eq!(blob["current"]["rawInput"], json!({"order": 1, "reservation": "R-1"}));
        assert_eq!(blob["current"]["waitingFor"]["kind"], json!("task"));
        assert_eq!(blob["current"]["waitingFor"]["invoked"], json!(true));
        assert_eq!(blob["current"]["waitingFor"]["heartbeatAt"], json!("2024-01-01T00:05:00Z"));
    }
    drop(first);
    // When a new process starts on the same rows and the callback arrives
    let shipper = ScriptedInvoker::new(|r| match r.resource.as_str() {
        "ship" => Ok(TaskOutcome::Completed(json!("S-1"))),
        other => panic!("{other} must not run again"),
    });
    let second = executor_on(&definition, shipper.clone(), store.clone(), clock);
    assert_eq!(second.resume_running().await.unwrap(), 1);
    second.send_task_success(&token, json!("approved")).await.unwrap();
    second.run_until_idle().await.unwrap();
    // Then it finished from where it was
    let done = second.describe_execution(&arn).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"order": 1, "reservation": "R-1", "approval": "approved", "shipment": "S-1"})));
    assert_eq!(shipper.requests().len(), 1);
    let history = second.get_execution_history(&arn).await.unwrap();
    assert_eq!(history.iter().map(|e| e.id).collect::<Vec<_>>(), (1..=history.len() as u64).collect::<Vec<_>>());
    assert_eq!(store.tables.lock().unwrap().executions[&arn].task_token, None);
}
