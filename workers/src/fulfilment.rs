//! The fulfilment worker: the workflow's callback tasks. `fulfil` confirms the order is still to be
//! fulfilled and answers with a fulfilment reference; `await_status` keeps the task token on the
//! order, where the stream processor finds it when the order reaches the status (or has already).
//! Repeated tasks are harmless: an answered token is simply gone.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use orders_core::domain::{OrderId, OrderStatus};
use orders_core::ports::{CallbackError, OrderStore, StatusWait, StoreError, TaskCallbacks};
use serde_json::json;

use crate::jobs::{WorkflowTask, errors};
use orders_core::lambda::{DeadLetters, SqsHandler, WorkerError, process_batch};

/// Handles the fulfilment queue.
#[derive(Clone)]
pub struct FulfilmentWorker {
    orders: Arc<dyn OrderStore>,
    callbacks: Arc<dyn TaskCallbacks>,
    dead_letters: DeadLetters,
}

impl FulfilmentWorker {
    /// A worker over the order store and the workflow's callbacks; messages it can never process
    /// go to `dead_letters`.
    pub fn new(orders: Arc<dyn OrderStore>, callbacks: Arc<dyn TaskCallbacks>, dead_letters: DeadLetters) -> Self {
        FulfilmentWorker { orders, callbacks, dead_letters }
    }

    async fn process(&self, message: SqsMessage) -> Result<(), WorkerError> {
        let body = message.body.ok_or_else(|| WorkerError::Malformed("empty body".into()))?;
        let task: WorkflowTask = serde_json::from_str(&body).map_err(|e| WorkerError::Malformed(e.to_string()))?;
        match task {
            WorkflowTask::Fulfil { order_id, task_token } => self.fulfil(order_id, &task_token).await,
            WorkflowTask::AwaitStatus { order_id, status, task_token } => {
                match self.orders.await_status(order_id, StatusWait { status, task_token: task_token.clone() }).await {
                    Ok(()) => {
                        tracing::info!(%order_id, awaiting = %status, "workflow waits for the order's status");
                        Ok(())
                    }
                    Err(StoreError::NotFound(_)) => answer(
                        self.callbacks.send_task_failure(&task_token, errors::ORDER_DELETED, &deleted(order_id)).await,
                    ),
                    Err(error) => Err(error.into()),
                }
            }
        }
    }

    async fn fulfil(&self, order_id: OrderId, task_token: &str) -> Result<(), WorkerError> {
        let Some(order) = self.orders.get_order(order_id).await? else {
            return answer(
                self.callbacks.send_task_failure(task_token, errors::ORDER_DELETED, &deleted(order_id)).await,
            );
        };
        let result = match order.status {
            OrderStatus::Cancelled => {
                self.callbacks
                    .send_task_failure(task_token, errors::ORDER_CANCELLED, &format!("order {order_id} was cancelled"))
                    .await
            }
            OrderStatus::Failed => {
                self.callbacks
                    .send_task_failure(task_token, errors::ORDER_FAILED, &format!("order {order_id} was marked failed"))
                    .await
            }
            OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Shipped | OrderStatus::Delivered => {
                let units: u64 = order.items.iter().map(|item| u64::from(item.quantity)).sum();
                let output = json!({
                    "order_id": order_id.to_string(),
                    "fulfilment_id": format!("FUL-{order_id}"),
                    "lines": order.items.len(),
                    "units": units,
                });
                tracing::info!(%order_id, units, "order fulfilled");
                self.callbacks.send_task_success(task_token, &output).await
            }
        };
        answer(result)
    }
}

fn deleted(order_id: OrderId) -> String {
    format!("order {order_id} no longer exists")
}

/// A token that is gone was answered before (or timed out): the task is done either way.
pub(crate) fn answer(result: Result<(), CallbackError>) -> Result<(), WorkerError> {
    match result {
        Ok(()) => Ok(()),
        Err(CallbackError::TaskGone(detail)) => {
            tracing::debug!(%detail, "task already answered");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl SqsHandler for FulfilmentWorker {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_batch(event, &self.dead_letters, |message| self.process(message)).await
    }
}
