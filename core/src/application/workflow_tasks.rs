//! The workflow's callback tasks, answered with the task token: the order saga's steps.
//!
//! - `process`: the order's processing, from its reservation to its delivery: the stock reserved,
//!   the order marked processing and the token kept on it in one write, then the hand-off to the
//!   merchant's fulfilment. The change reactions ([`super::changes`]) answer the token when the
//!   order is delivered (consuming its stock first) or stops; this task answers it only when
//!   processing cannot go on (out of stock, a refusal, a hand-off past its deadline, an order that
//!   stopped first). The tasks below are what earlier definitions of the workflow send, still
//!   answered for executions started on them:
//! - `reserve`: the order's stock, all lines or none; out of stock fails the order with the reason;
//! - `hand_off`: the order to the merchant's fulfilment (a webhook, when one is configured); a
//!   refusal fails the order with the reason, passing trouble is retried through the queue;
//! - `release` (the compensation, on the cancel and failure paths): the reservation given back,
//!   once (the delivery consumes it where the wait for it ends: [`super::changes`]); `consume` is
//!   still answered for executions started on a definition that had it as a step of its own;
//! - `await_status`: the token kept on the order, where the change reactions ([`super::changes`])
//!   find it when the order reaches the status (or already has).
//!
//! Every task is safe to repeat: the stock port is keyed by order id, the hand-off carries one
//! delivery id per order, and an answered token is simply gone.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::StepError;
use super::messages::WorkflowTask;
use crate::domain::{
    FailureReason, HAND_OFF_DEADLINE, ORDER_WRITE_GRACE, Order, OrderId, OrderStatus, OrderStopped, ProcessingFailure,
    ReserveOutcome, SettleOutcome, StockLine,
};
use crate::metrics::HandOffOutcome;
use crate::ports::{
    CallbackError, FulfilmentHandOff, HandOffError, OrderStore, ProcessingStart, StatusWait, StockLedger, StoreError,
    TaskCallbacks,
};

/// The error a processing task fails with when the order went past processing without it (what
/// the state machine's `Catch` sends to its `NotPending` end).
pub const NOT_PENDING: &str = "OrderNotPending";

/// The error a processing task fails with when its order was never stored (what the state
/// machine's `Catch` sends to its `NeverStored` end).
pub const NOT_STORED: &str = "OrderNotStored";

/// Answers the workflow's callback tasks.
#[derive(Clone)]
pub struct WorkflowTasks {
    orders: Arc<dyn OrderStore>,
    stock: Arc<dyn StockLedger>,
    hand_off: Option<Arc<dyn FulfilmentHandOff>>,
    answers: TaskAnswers,
}

/// How a task is answered: resumed with an output, or failed with an error and cause. A token that
/// is gone was answered before (or timed out): the task is done either way.
#[derive(Clone)]
pub(super) struct TaskAnswers {
    callbacks: Arc<dyn TaskCallbacks>,
}

impl TaskAnswers {
    /// Answers through `callbacks`.
    pub(super) fn new(callbacks: Arc<dyn TaskCallbacks>) -> Self {
        TaskAnswers { callbacks }
    }

    /// Resumes the task with `output`.
    pub(super) async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), StepError> {
        answered(self.callbacks.send_task_success(task_token, output).await)
    }

    /// Fails the task with `error` and `cause`.
    pub(super) async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), StepError> {
        answered(self.callbacks.send_task_failure(task_token, error, cause).await)
    }

    /// Fails the task: the order stopped.
    pub(super) async fn stop(
        &self,
        task_token: &str,
        order_id: OrderId,
        stopped: OrderStopped,
    ) -> Result<(), StepError> {
        tracing::info!(%order_id, reason = %stopped, "the order stopped: failing the workflow's task");
        self.fail(task_token, stopped.error_name(), &stopped.cause(order_id)).await
    }
}

/// What a step of processing decided.
enum Step {
    /// Go on, with this output.
    Done(serde_json::Value),
    /// The order stopped before the step: the task fails with the stop's error.
    Stopped(OrderStopped),
    /// The order cannot be processed: it is failed with the reason, and so is the task.
    Failed(ProcessingFailure),
}

impl WorkflowTasks {
    /// Tasks over the order store and the stock, handing orders off through `hand_off` (none:
    /// processing is the reservation alone), answered through `callbacks`.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        stock: Arc<dyn StockLedger>,
        hand_off: Option<Arc<dyn FulfilmentHandOff>>,
        callbacks: Arc<dyn TaskCallbacks>,
    ) -> Self {
        WorkflowTasks { orders, stock, hand_off, answers: TaskAnswers::new(callbacks) }
    }

    /// Carries out one task.
    pub async fn handle(&self, task: WorkflowTask) -> Result<(), StepError> {
        match task {
            WorkflowTask::Process { order_id, entered_at, execution_input, task_token } => {
                self.process(order_id, entered_at, &execution_input.product_ids, task_token).await
            }
            WorkflowTask::Reserve { order_id, task_token } => {
                let step = self.reserve(order_id).await?;
                self.answer(&task_token, order_id, step).await
            }
            WorkflowTask::HandOff { order_id, task_token } => {
                let step = self.hand_off(order_id).await?;
                self.answer(&task_token, order_id, step).await
            }
            WorkflowTask::Fulfil { order_id, task_token } => {
                let step = match self.reserve(order_id).await? {
                    Step::Done(_) => self.hand_off(order_id).await?,
                    other => other,
                };
                self.answer(&task_token, order_id, step).await
            }
            WorkflowTask::Release { order_id, task_token } => {
                let outcome = self.stock.release(order_id).await?;
                tracing::info!(%order_id, ?outcome, "order's stock released");
                self.answers.resume(&task_token, &settled(order_id, &outcome)).await
            }
            WorkflowTask::Consume { order_id, task_token } => {
                let outcome = self.stock.consume(order_id).await?;
                tracing::info!(%order_id, ?outcome, "delivered order's stock consumed");
                self.answers.resume(&task_token, &settled(order_id, &outcome)).await
            }
            WorkflowTask::AwaitStatus { order_id, status, task_token } => {
                self.await_status(order_id, status, task_token).await
            }
        }
    }

    /// Begins the order's processing (its stock reserved, the order marked processing and the
    /// token kept on it, in one write), then hands it off. The token is answered by the change
    /// reactions when the order is delivered or stops; here only when processing cannot go on.
    /// Passing trouble with the hand-off is retried through the queue; past
    /// [`HAND_OFF_DEADLINE`] from `entered_at`, the order fails instead. An order not stored yet
    /// (on AWS its create starts the workflow before writing it) is waited for, up to
    /// [`ORDER_WRITE_GRACE`] from `entered_at`; past that it never will be, and the workflow ends.
    async fn process(
        &self,
        order_id: OrderId,
        entered_at: DateTime<Utc>,
        product_ids: &[String],
        task_token: String,
    ) -> Result<(), StepError> {
        let wait = StatusWait { status: OrderStatus::Delivered, task_token };
        let task_token = &wait.task_token;
        let order = match self.begin_processing(order_id, &wait, product_ids).await? {
            ProcessingStart::Started { order, reserved } => {
                note_correlation(&order);
                tracing::info!(%order_id, tracked_lines = reserved.len(), "order's stock reserved; processing");
                order
            }
            ProcessingStart::OutOfStock(short) => {
                crate::metrics::stock_out();
                return self.answer(task_token, order_id, Step::Failed(ProcessingFailure::OutOfStock(short))).await;
            }
            ProcessingStart::Stopped(stopped) => return self.answers.stop(task_token, order_id, stopped).await,
            // Released before it was reserved: only the cancel and failure paths release.
            ProcessingStart::Settled(state) => {
                tracing::info!(%order_id, %state, "order's reservation was settled before it was made");
                return self.answers.stop(task_token, order_id, OrderStopped::Cancelled).await;
            }
            ProcessingStart::NotPending(status) => {
                tracing::info!(%order_id, %status, "order moved past processing with nothing reserved");
                let cause = format!("order {order_id} is {status}: there is nothing left to process");
                return self.answers.fail(task_token, NOT_PENDING, &cause).await;
            }
            ProcessingStart::NotStored if Utc::now() < entered_at + ORDER_WRITE_GRACE => {
                return Err(StoreError::Unavailable(format!("order {order_id} is not stored yet")).into());
            }
            ProcessingStart::NotStored => {
                tracing::warn!(%order_id, %entered_at, "order never stored: its create failed after starting the workflow");
                let cause = format!(
                    "order {order_id} was never stored: its create failed, or was answered as a repeat, after \
                     starting this workflow"
                );
                return self.answers.fail(task_token, NOT_STORED, &cause).await;
            }
        };
        match self.hand_off_order(&order).await {
            // The token stays on the order, for the delivery to answer.
            Ok(Step::Done(_)) => Ok(()),
            Ok(step) => self.answer(task_token, order_id, step).await,
            Err(_) if Utc::now() >= entered_at + HAND_OFF_DEADLINE => {
                self.answer(task_token, order_id, Step::Failed(ProcessingFailure::HandOffTimedOut)).await
            }
            Err(trouble) => Err(trouble.into()),
        }
    }

    /// [`StockLedger::begin_processing`], tried again for a moment while the order is not stored:
    /// its create writes it just after starting the workflow, and the task may come first.
    async fn begin_processing(
        &self,
        order_id: OrderId,
        wait: &StatusWait,
        product_ids: &[String],
    ) -> Result<ProcessingStart, StoreError> {
        let attempt = || async {
            match self.stock.begin_processing(order_id, wait, product_ids).await? {
                ProcessingStart::NotStored => Err(StoreError::NotFound(order_id)),
                start => Ok(start),
            }
        };
        let started = attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_millis(800))
                    .with_max_times(5),
            )
            .when(|error| matches!(error, StoreError::NotFound(_)))
            .await;
        match started {
            Err(StoreError::NotFound(_)) => Ok(ProcessingStart::NotStored),
            other => other,
        }
    }

    /// Reserves the order's stock, unless it stopped.
    async fn reserve(&self, order_id: OrderId) -> Result<Step, StepError> {
        let order = match self.order_to_process(order_id).await? {
            Ok(order) => order,
            Err(stopped) => return Ok(Step::Stopped(stopped)),
        };
        let lines = StockLine::for_order(&order);
        Ok(match self.stock.reserve(order_id, &lines).await? {
            ReserveOutcome::Reserved { lines: held } => {
                tracing::info!(%order_id, tracked_lines = held.len(), "order's stock reserved");
                let units: u64 = lines.iter().map(|line| line.quantity).sum();
                Step::Done(json!({
                    "order_id": order_id.to_string(),
                    "lines": lines.len(),
                    "units": units,
                    "reserved_lines": held.len(),
                }))
            }
            ReserveOutcome::OutOfStock(short) => {
                crate::metrics::stock_out();
                Step::Failed(ProcessingFailure::OutOfStock(short))
            }
            // Released (or consumed) before it was reserved: a release only runs on the cancel and
            // failure paths, so the workflow has stopped the order meanwhile, whatever status this
            // (earlier) read saw; the task fails as for a cancelled order.
            ReserveOutcome::Settled(state) => {
                tracing::info!(%order_id, %state, "order's reservation was settled before it was made");
                Step::Stopped(OrderStopped::Cancelled)
            }
        })
    }

    /// Hands the order off to the merchant's fulfilment, unless it stopped; without a hand-off
    /// configured there is nothing to do.
    async fn hand_off(&self, order_id: OrderId) -> Result<Step, StepError> {
        let order = match self.order_to_process(order_id).await? {
            Ok(order) => order,
            Err(stopped) => return Ok(Step::Stopped(stopped)),
        };
        Ok(self.hand_off_order(&order).await?)
    }

    /// Hands `order` off to the merchant's fulfilment: done (nothing to do without a hand-off
    /// configured), failed for good on a refusal, or passing trouble to retry.
    async fn hand_off_order(&self, order: &Order) -> Result<Step, HandOffError> {
        let Some(hand_off) = &self.hand_off else {
            return Ok(Step::Done(json!({"handed_off": false})));
        };
        let asked = std::time::Instant::now();
        let answer = hand_off.hand_off(order).await;
        let outcome = match &answer {
            Ok(_) => HandOffOutcome::Accepted,
            Err(HandOffError::Refused { .. }) => HandOffOutcome::Refused,
            Err(HandOffError::Unavailable(_)) => HandOffOutcome::Failed,
        };
        crate::metrics::hand_off(outcome, asked.elapsed());
        match answer {
            Ok(taken) => {
                let order_id = order.order_id;
                tracing::info!(%order_id, delivery_id = %taken.delivery_id, status = taken.status, "order handed off");
                Ok(Step::Done(json!({"handed_off": true, "delivery_id": taken.delivery_id, "status": taken.status})))
            }
            Err(refused @ HandOffError::Refused { .. }) => {
                Ok(Step::Failed(ProcessingFailure::FulfilmentRefused(refused.to_string())))
            }
            Err(trouble @ HandOffError::Unavailable(_)) => Err(trouble),
        }
    }

    /// The order, if it is still to be processed; else why not.
    async fn order_to_process(&self, order_id: OrderId) -> Result<Result<Order, OrderStopped>, StepError> {
        let Some(order) = self.orders.get_order(order_id).await? else {
            return Ok(Err(OrderStopped::Deleted));
        };
        note_correlation(&order);
        Ok(match OrderStopped::for_status(order.status) {
            Some(stopped) => Err(stopped),
            None => Ok(order),
        })
    }

    /// Answers the task as `step` decided. A processing failure first fails the order with its
    /// reason (so the order says why on every engine, whatever it keeps of a task's cause), then
    /// fails the task: the state machine gives the stock back and ends the execution failed.
    async fn answer(&self, task_token: &str, order_id: OrderId, step: Step) -> Result<(), StepError> {
        match step {
            Step::Done(output) => self.answers.resume(task_token, &output).await,
            Step::Stopped(stopped) => self.answers.stop(task_token, order_id, stopped).await,
            Step::Failed(failure) => {
                let cause = failure.cause();
                tracing::info!(%order_id, error = failure.error_name(), %cause, "order cannot be processed");
                let reason = FailureReason::from_cause(&cause);
                // The wait leaves the order with it: this answer, not the change's `OrderFailed`,
                // is the one the execution ends with.
                let in_progress = [OrderStatus::Pending, OrderStatus::Processing];
                match self.orders.fail_processing(order_id, &in_progress, reason).await {
                    Ok(update) if update.changed => crate::metrics::order_failed((&failure).into()),
                    // Already stopped by someone else (or gone): the task still fails with the cause.
                    Ok(_) | Err(StoreError::ConditionFailed { .. } | StoreError::NotFound(_)) => {}
                    Err(error) => return Err(error.into()),
                }
                self.answers.fail(task_token, failure.error_name(), &cause).await
            }
        }
    }

    /// Keeps the task token on the order until it reaches `status`; a deleted order fails the task.
    pub async fn await_status(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        task_token: String,
    ) -> Result<(), StepError> {
        let wait = StatusWait { status, task_token };
        match self.orders.await_status(order_id, wait.clone()).await {
            Ok(()) => {
                tracing::info!(%order_id, awaiting = %status, "workflow waits for the order's status");
                Ok(())
            }
            Err(StoreError::NotFound(_)) => self.answers.stop(&wait.task_token, order_id, OrderStopped::Deleted).await,
            Err(error) => Err(error.into()),
        }
    }
}

/// What a release or a consumption answers the workflow with.
pub(super) fn settled(order_id: OrderId, outcome: &SettleOutcome) -> serde_json::Value {
    let (settled_now, lines, state) = match outcome {
        SettleOutcome::Settled { lines } => (true, lines.len(), None),
        SettleOutcome::AlreadySettled(state) => (false, 0, Some(state.as_str())),
        SettleOutcome::NothingReserved => (false, 0, None),
    };
    json!({"order_id": order_id.to_string(), "settled_now": settled_now, "lines": lines, "already": state})
}

/// The task's answer went through, or its token is gone (answered before, or timed out).
fn answered(result: Result<(), CallbackError>) -> Result<(), StepError> {
    match result {
        Ok(()) => Ok(()),
        Err(CallbackError::TaskGone(detail)) => {
            tracing::debug!(%detail, "task already answered");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Adds the order's correlation id to the task's span (the entry point opens it with the field
/// empty: a task message names the order, and only the order knows what created it).
fn note_correlation(order: &Order) {
    if let Some(correlation_id) = &order.correlation_id {
        tracing::Span::current().record("correlation_id", correlation_id.as_str());
    }
}
