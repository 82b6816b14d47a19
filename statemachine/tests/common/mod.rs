//! Shared test fixtures: a scripted task invoker, a manual clock at a fixed start, and a harness
//! that runs executions to idleness.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use statemachine::{
    Definition, ExecutionDescription, ExecutionStore, Executor, HistoryEvent, InMemoryStore, ManualClock,
    StateMachineArn, TaskFailure, TaskInvoker, TaskOutcome, TaskRequest,
};

/// What a scripted invoker does with a request.
pub type Handler = dyn Fn(&TaskRequest) -> Result<TaskOutcome, TaskFailure> + Send + Sync;

/// An invoker that answers with a closure and records every request.
pub struct ScriptedInvoker {
    handler: Box<Handler>,
    requests: Mutex<Vec<TaskRequest>>,
}

impl ScriptedInvoker {
    pub fn new(
        handler: impl Fn(&TaskRequest) -> Result<TaskOutcome, TaskFailure> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(ScriptedInvoker { handler: Box::new(handler), requests: Mutex::new(Vec::new()) })
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TaskRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl TaskInvoker for ScriptedInvoker {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        self.requests.lock().unwrap().push(request.clone());
        (self.handler)(&request)
    }
}

/// 2024-01-01T00:00:00Z, where every manual clock starts.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

pub fn machine_arn() -> StateMachineArn {
    StateMachineArn::new("us-east-1", "123456789012", "test-machine").unwrap()
}

pub fn load(definition: &Value) -> Definition {
    Definition::from_json(definition).unwrap_or_else(|e| panic!("definition refused: {e}"))
}

/// An executor on a manual clock, an in-memory store and a scripted invoker.
pub struct Harness {
    pub executor: Executor,
    pub clock: Arc<ManualClock>,
    pub store: Arc<InMemoryStore>,
    pub invoker: Arc<ScriptedInvoker>,
}

impl Harness {
    pub fn new(
        definition: Value,
        handler: impl Fn(&TaskRequest) -> Result<TaskOutcome, TaskFailure> + Send + Sync + 'static,
    ) -> Harness {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(InMemoryStore::new());
        let invoker = ScriptedInvoker::new(handler);
        let executor = executor_on(&definition, invoker.clone(), store.clone(), clock.clone());
        Harness { executor, clock, store, invoker }
    }

    /// Starts an execution and runs it until nothing more can happen without time passing or a
    /// callback.
    pub async fn run(&self, name: &str, input: Value) -> ExecutionDescription {
        let started = self.executor.start_execution(name, input).await.unwrap();
        self.executor.run_until_idle().await.unwrap();
        self.executor.describe_execution(&started.execution_arn).await.unwrap()
    }

    /// Moves the clock on and runs whatever became due.
    pub async fn advance(&self, seconds: f64) {
        self.clock.advance(Duration::from_millis((seconds * 1000.0).round() as u64));
        self.executor.run_until_idle().await.unwrap();
    }

    pub async fn describe(&self, name: &str) -> ExecutionDescription {
        self.executor.describe_execution(&self.executor.execution_arn(name)).await.unwrap()
    }

    pub async fn history(&self, name: &str) -> Vec<HistoryEvent> {
        self.executor.get_execution_history(&self.executor.execution_arn(name)).await.unwrap()
    }

    /// The history's event types, in order.
    pub async fn history_types(&self, name: &str) -> Vec<String> {
        self.history(name).await.iter().map(|e| e.event_type.to_string()).collect()
    }
}

pub fn executor_on(
    definition: &Value,
    invoker: Arc<dyn TaskInvoker>,
    store: Arc<dyn ExecutionStore>,
    clock: Arc<ManualClock>,
) -> Executor {
    Executor::builder(load(definition), machine_arn(), invoker, store).clock(clock).build()
}

/// An invoker for definitions without Task states.
pub fn no_tasks(request: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    panic!("unexpected task {}", request.resource)
}
