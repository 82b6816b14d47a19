//! [`InMemoryStore`]: an [`ExecutionStore`] kept in process memory, for tests and for users who do
//! not need executions to survive the process. Sharing one store between executors (one after the
//! other) simulates a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::store::{CreateOutcome, ExecutionRecord, ExecutionStatus, ExecutionStore};

#[derive(Default)]
struct Data {
    executions: BTreeMap<String, ExecutionRecord>,
    histories: HashMap<String, Vec<HistoryEvent>>,
    tokens: HashMap<String, String>,
}

/// An [`ExecutionStore`] in memory.
#[derive(Default)]
pub struct InMemoryStore {
    data: Mutex<Data>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryStore::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStore").field("executions", &self.data().executions.len()).finish()
    }
}

#[async_trait::async_trait]
impl ExecutionStore for InMemoryStore {
    async fn create_execution(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
    ) -> Result<CreateOutcome, StoreError> {
        let mut data = self.data();
        if let Some(existing) = data.executions.get(&record.execution_arn) {
            return Ok(CreateOutcome::AlreadyExists(Box::new(existing.clone())));
        }
        if let Some(token) = record.task_token() {
            data.tokens.insert(token.to_owned(), record.execution_arn.clone());
        }
        data.executions.insert(record.execution_arn.clone(), record.clone());
        data.histories.insert(record.execution_arn.clone(), events.to_vec());
        Ok(CreateOutcome::Created)
    }

    async fn load_execution(&self, execution_arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        Ok(self.data().executions.get(execution_arn).cloned())
    }

    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        expected_version: u64,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError> {
        let mut data = self.data();
        let Some(stored) = data.executions.get(&record.execution_arn) else {
            return Err(StoreError::NotFound(record.execution_arn.clone()));
        };
        if stored.version != expected_version {
            return Err(StoreError::VersionConflict { execution_arn: record.execution_arn.clone(), expected_version });
        }
        if let Some(old) = stored.task_token().map(str::to_owned) {
            data.tokens.remove(&old);
        }
        if let Some(token) = record.task_token() {
            data.tokens.insert(token.to_owned(), record.execution_arn.clone());
        }
        data.executions.insert(record.execution_arn.clone(), record.clone());
        data.histories.entry(record.execution_arn.clone()).or_default().extend_from_slice(events);
        Ok(())
    }

    async fn load_history(&self, execution_arn: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self.data().histories.get(execution_arn).cloned().unwrap_or_default())
    }

    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        Ok(self
            .data()
            .executions
            .values()
            .filter(|r| r.state_machine_arn == state_machine_arn && status.is_none_or(|s| r.status == s))
            .cloned()
            .collect())
    }

    async fn find_by_task_token(&self, task_token: &str) -> Result<Option<String>, StoreError> {
        Ok(self.data().tokens.get(task_token).cloned())
    }
}
