//! The embedded default's create: a new order and the start of its workflow execution in one
//! write, since the orders and the executions are kept in the same SQLite file. One commit per
//! create instead of two, and no execution without its order (a create refused as a repeat, or
//! lost to a crash, starts nothing).

use async_trait::async_trait;
use serde_json::Value;
use statemachine::{CreateOutcome as ExecutionCreated, TaskOutcome};

use super::executions::{ExecutionRow, insert_execution, remove_new_execution};
use super::orders::{earlier_create, insert_new_order};
use super::queues::insert_message;
use super::workflow::EmbeddedWorkflow;
use crate::domain::Order;
use crate::ports::{
    CreateOutcome, IdempotencyRecord, ListingPlace, OrderWithWorkflow, OutgoingMessage, QueueName, StoreError,
};

/// Creates orders together with their workflow executions.
#[derive(Clone)]
pub struct EmbeddedOrderIntake {
    workflow: EmbeddedWorkflow,
}

impl EmbeddedOrderIntake {
    /// Writes orders into the database of `workflow`'s executions and tasks, and starts their
    /// executions in the same write: an execution's first task, when it sends to one of the queues
    /// and waits for its callback, is sent in that write too.
    pub fn new(workflow: EmbeddedWorkflow) -> Self {
        EmbeddedOrderIntake { workflow }
    }
}

/// What became of the execution's start in the create's write.
#[derive(PartialEq)]
enum Start {
    /// Stored now: it runs once the write has committed.
    New,
    /// Already stored, with this input.
    Existing,
    /// Not stored: the order's change record starts it.
    Failed,
}

/// Stores the execution's start, and its first task's message when there is one. A start that
/// cannot be stored (an execution of that name with another input, as when Step Functions refuses
/// a start, or a message the queue refuses) leaves nothing of itself behind and is `Ok(Err(why))`:
/// the order is then written unstarted, and its change record starts it later. `Err` only when
/// what it wrote cannot be removed again, which fails the whole create.
fn start_execution(
    tx: &rusqlite::Transaction<'_>,
    row: &ExecutionRow,
    first_message: Option<&(QueueName, OutgoingMessage)>,
    input: &Value,
) -> Result<Result<Start, String>, StoreError> {
    let changes_before = tx.total_changes();
    let refused = |why: String| {
        // SQLite rolled the whole transaction back (an I/O error, a full disk): nothing to write
        // the order into; the create fails with its group.
        if tx.is_autocommit() {
            return Err(cannot_start(why));
        }
        // Rows changed: the execution's row went in (a conflicting name changes none) before its
        // page or its message failed. It is this write's own, and goes again.
        if tx.total_changes() != changes_before {
            remove_new_execution(tx, row)?;
        }
        Ok(Err(why))
    };
    match insert_execution(tx, row) {
        Ok(ExecutionCreated::Created) => match first_message {
            Some((queue, message)) => match insert_message(tx, *queue, message) {
                Ok(_) => Ok(Ok(Start::New)),
                Err(error) => refused(error.to_string()),
            },
            None => Ok(Ok(Start::New)),
        },
        // Started before by this name with this input (an operator's start, say): it is this
        // order's, and already running or done.
        Ok(ExecutionCreated::AlreadyExists(existing)) if existing.input == *input => Ok(Ok(Start::Existing)),
        Ok(ExecutionCreated::AlreadyExists(existing)) => {
            refused(format!("an execution named {} exists with another input", existing.name))
        }
        Err(error) => refused(error.to_string()),
    }
}

fn cannot_start(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("the order's workflow execution cannot start: {error}"))
}

#[async_trait]
impl OrderWithWorkflow for EmbeddedOrderIntake {
    async fn create_order_and_start_workflow(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
        _place: ListingPlace,
        execution_name: &str,
        execution_input: &Value,
    ) -> Result<CreateOutcome, StoreError> {
        let executor = self.workflow.executor();
        let mut prepared = executor.prepare_start(execution_name, execution_input.clone()).map_err(cannot_start)?;
        // The first task's message (the order handed to fulfilment) goes into this write too, and
        // the execution is stored as having submitted it: its first step is then no write of its
        // own. Were the write to fail or find the execution already there, neither is kept.
        let first_message =
            prepared.task_to_invoke().and_then(|request| self.workflow.tasks().message_sent_with_start(request));
        let first_message =
            first_message.filter(|_| executor.invoked_with_start(&mut prepared, Ok(TaskOutcome::AwaitingCallback)));
        let row = ExecutionRow::new_execution(&prepared.record, &prepared.events).map_err(cannot_start)?;
        let (order, idempotency, input) = (order.clone(), idempotency.cloned(), execution_input.clone());
        let (outcome, started) = self
            .workflow
            .tasks()
            .database()
            .write(move |tx| {
                if let Some(first) = earlier_create(tx, idempotency.as_ref())? {
                    return Ok((first, false));
                }
                let start = match start_execution(tx, &row, first_message.as_ref(), &input)? {
                    Ok(start) => start,
                    Err(error) => {
                        tracing::warn!(
                            order_id = %order.order_id, %error,
                            "could not start the order's workflow yet; its change record starts it once the engine answers"
                        );
                        Start::Failed
                    }
                };
                insert_new_order(tx, order.clone(), idempotency.clone(), start != Start::Failed)?;
                Ok((CreateOutcome::Created, start == Start::New))
            })
            .await?;
        if started {
            executor.run_stored(prepared);
        }
        Ok(outcome)
    }
}
