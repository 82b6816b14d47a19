//! The task-callback port: answers to workflow tasks that wait for a callback.

use async_trait::async_trait;

/// Why a task callback failed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The task was answered already, timed out, or never existed: there is nothing left to do.
    #[error("task is no longer waiting: {0}")]
    TaskGone(String),
    /// Passing trouble: the same call may succeed later.
    #[error("workflow engine unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("workflow engine failure: {0}")]
    Internal(String),
}

/// Answers to workflow tasks that wait for a callback (Step Functions' SendTaskSuccess/Failure).
#[async_trait]
pub trait TaskCallbacks: Send + Sync {
    /// The task succeeded with `output`.
    async fn send_task_success(&self, task_token: &str, output: &serde_json::Value) -> Result<(), CallbackError>;

    /// The task failed with `error` (a name Catch can match) and a `cause`.
    async fn send_task_failure(&self, task_token: &str, error: &str, cause: &str) -> Result<(), CallbackError>;
}
