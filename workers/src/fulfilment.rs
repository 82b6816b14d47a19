//! The fulfilment worker: the fulfilment queue's messages are the workflow's callback tasks
//! ([`WorkflowTask`]), carried out by the [`WorkflowTasks`] use case. A message that is not a task
//! goes to the fulfilment dead-letter queue with its reason.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::application::{StepError, WorkflowTask, WorkflowTasks};
use orders_core::ports::{OrderStore, TaskCallbacks};

use orders_core::lambda::{DeadLetters, SqsHandler, process_batch};

/// Handles the fulfilment queue.
#[derive(Clone)]
pub struct FulfilmentWorker {
    tasks: WorkflowTasks,
    dead_letters: DeadLetters,
}

impl FulfilmentWorker {
    /// A worker over the order store and the workflow's callbacks; messages it can never process
    /// go to `dead_letters`.
    pub fn new(orders: Arc<dyn OrderStore>, callbacks: Arc<dyn TaskCallbacks>, dead_letters: DeadLetters) -> Self {
        FulfilmentWorker { tasks: WorkflowTasks::new(orders, callbacks), dead_letters }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let body = message.body.ok_or_else(|| StepError::Malformed("empty body".into()))?;
        let task: WorkflowTask = serde_json::from_str(&body).map_err(|e| StepError::Malformed(e.to_string()))?;
        self.tasks.handle(task).await
    }
}

#[async_trait]
impl SqsHandler for FulfilmentWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, &self.dead_letters, |message| self.process(message)).await
    }
}
