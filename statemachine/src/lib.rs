//! An in-process executor for [Amazon States Language](https://states-language.net/) state
//! machines: it runs the same ASL JSON a Step Functions state machine is deployed with, durably
//! and concurrently, with the application supplying the Task resources ([`TaskInvoker`]) and the
//! storage ([`ExecutionStore`]).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use statemachine::*;
//! # async fn example(invoker: Arc<dyn TaskInvoker>) -> Result<(), Box<dyn std::error::Error>> {
//! let definition = Definition::load(r#"{"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": true}}}"#)?;
//! let arn = StateMachineArn::new("us-east-1", "123456789012", "hello")?;
//! let executor = Executor::new(definition, arn, invoker, Arc::new(InMemoryStore::new()));
//! executor.resume_running().await?;
//! let _driver = executor.spawn_driver();
//! let started = executor.start_execution("first", serde_json::json!({"a": 1})).await?;
//! let done = executor.wait_for_execution(&started.execution_arn).await?;
//! assert_eq!(done.status, ExecutionStatus::Succeeded);
//! # Ok(()) }
//! ```
//!
//! What is supported and what is refused at load is listed in the crate's README.

mod arn;
mod choice;
mod clock;
mod definition;
mod engine;
mod error;
mod executor;
mod history;
mod intrinsics;
mod jsonata;
mod jsonpath;
mod memory;
mod path;
mod payload;
mod store;
mod substitution;
mod task;
mod timestamp;

pub use arn::{ExecutionArn, InvalidExecutionArn, StateMachineArn, validate_name};
pub use clock::{Clock, ManualClock, SystemClock};
pub use definition::Definition;
pub use error::{ExecutorError, LoadError, LoadErrorKind, StoreError, error_names};
pub use executor::{
    DriverHandle, ExecutionDescription, Executor, ExecutorBuilder, ExecutorOptions, PreparedExecution, StartedExecution,
};
pub use history::{EventDetails, HistoryEvent, HistoryEventType};
pub use memory::InMemoryStore;
pub use store::{CreateOutcome, CurrentState, ExecutionRecord, ExecutionStatus, ExecutionStore, TaskWait, WaitingFor};
pub use substitution::{placeholders, substitute};
pub use task::{TaskFailure, TaskInvoker, TaskOutcome, TaskRequest};
