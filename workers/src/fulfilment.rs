//! The fulfilment worker: the fulfilment queue's messages are the workflow's callback tasks
//! ([`WorkflowTask`]), carried out by the [`WorkflowTasks`] use case. A message that is not a task
//! goes to the fulfilment dead-letter queue with its reason; a task that fails for a passing reason
//! (the merchant's endpoint down, storage busy) comes back after pauses that grow ([`Backoff`]),
//! and after its last attempt is parked in the dead-letter queue with the last failure.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::application::{StepError, WorkflowTask, WorkflowTasks};

use orders_core::lambda::{Backoff, DeadLetters, SqsHandler, process_batch_with_backoff};

/// How the deployed fulfilment function paces a task that fails for a passing reason: the first
/// retry after the queue's visibility timeout (180 s), then twice as long each time up to an hour;
/// parked with its reason after 9 deliveries, about 4.5 hours in (the queue's `maxReceiveCount`
/// is one more, so its own redrive only catches a crash on the last delivery). An order may wait
/// 24 hours for its hand-off ([`HAND_OFF_DEADLINE`](orders_core::domain::HAND_OFF_DEADLINE), from
/// the `Process` state's entry): an operator who replays the parked task within the remaining hours
/// lets the order go on; a task tried after it fails the order. `tests/infra.rs` checks that the
/// template and the state machine agree with these figures.
pub const DEPLOYED_BACKOFF: Backoff = Backoff {
    attempts: 9,
    first_delay: std::time::Duration::from_secs(180),
    max_delay: std::time::Duration::from_secs(3600),
};

/// Handles the fulfilment queue.
#[derive(Clone)]
pub struct FulfilmentWorker {
    tasks: WorkflowTasks,
    dead_letters: DeadLetters,
    backoff: Backoff,
}

impl FulfilmentWorker {
    /// A worker carrying out `tasks`; messages it can never process, or that gave up after
    /// `backoff`'s attempts, go to `dead_letters`.
    pub fn new(tasks: WorkflowTasks, dead_letters: DeadLetters, backoff: Backoff) -> Self {
        FulfilmentWorker { tasks, dead_letters, backoff }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), StepError> {
        let body = message.body.ok_or_else(|| StepError::Malformed("empty body".into()))?;
        let task: WorkflowTask = serde_json::from_str(&body).map_err(|e| StepError::Malformed(e.to_string()))?;
        let span = tracing::info_span!(
            "workflow_task",
            order_id = %task.order_id(),
            correlation_id = tracing::field::Empty,
        );
        // From the message when it carries it; otherwise recorded once the task has read the order.
        if let Some(correlation_id) = task.correlation_id() {
            span.record("correlation_id", correlation_id);
        }
        tracing::Instrument::instrument(self.tasks.handle(task), span).await
    }
}

#[async_trait]
impl SqsHandler for FulfilmentWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch_with_backoff(event, &self.dead_letters, Some(self.backoff), |message| self.process(message)).await
    }
}
