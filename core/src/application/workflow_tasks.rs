//! The workflow's callback tasks, answered with the task token: `fulfil` confirms that the order is
//! still to be fulfilled and answers with what is to be fulfilled (its lines and units); `await_status` keeps the token on
//! the order, where the change reactions ([`super::changes`]) find it when the order reaches the
//! status (or already has). A repeated task is harmless: an answered token is simply gone.

use std::sync::Arc;

use serde_json::json;

use super::StepError;
use super::messages::WorkflowTask;
use crate::domain::{OrderId, OrderStatus, OrderStopped};
use crate::ports::{CallbackError, OrderStore, StatusWait, StoreError, TaskCallbacks};

/// Answers the workflow's callback tasks.
#[derive(Clone)]
pub struct WorkflowTasks {
    orders: Arc<dyn OrderStore>,
    callbacks: Arc<dyn TaskCallbacks>,
}

impl WorkflowTasks {
    /// Tasks over the order store, answered through `callbacks`.
    pub fn new(orders: Arc<dyn OrderStore>, callbacks: Arc<dyn TaskCallbacks>) -> Self {
        WorkflowTasks { orders, callbacks }
    }

    /// Carries out one task.
    pub async fn handle(&self, task: WorkflowTask) -> Result<(), StepError> {
        match task {
            WorkflowTask::Fulfil { order_id, task_token } => self.fulfil(order_id, &task_token).await,
            WorkflowTask::AwaitStatus { order_id, status, task_token } => {
                self.await_status(order_id, status, task_token).await
            }
        }
    }

    /// Fulfils the order unless it stopped (cancelled, failed, deleted): then the task fails with
    /// the stop's error name, which the state machine catches.
    pub async fn fulfil(&self, order_id: OrderId, task_token: &str) -> Result<(), StepError> {
        let Some(order) = self.orders.get_order(order_id).await? else {
            return self.stop(task_token, order_id, OrderStopped::Deleted).await;
        };
        if let Some(stopped) = OrderStopped::for_status(order.status) {
            return self.stop(task_token, order_id, stopped).await;
        }
        let units: u64 = order.items.iter().map(|item| u64::from(item.quantity)).sum();
        // What the order is to be fulfilled with: its lines and units, as stored (no reference
        // is made up: nothing outside the system has been told of the order yet).
        let output = json!({
            "order_id": order_id.to_string(),
            "lines": order.items.len(),
            "units": units,
        });
        tracing::info!(%order_id, units, "order fulfilled");
        answered(self.callbacks.send_task_success(task_token, &output).await)
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
            Err(StoreError::NotFound(_)) => self.stop(&wait.task_token, order_id, OrderStopped::Deleted).await,
            Err(error) => Err(error.into()),
        }
    }

    /// Fails the task: the order stopped.
    pub(super) async fn stop(
        &self,
        task_token: &str,
        order_id: OrderId,
        stopped: OrderStopped,
    ) -> Result<(), StepError> {
        tracing::info!(%order_id, reason = %stopped, "the order stopped: failing the workflow's task");
        answered(self.callbacks.send_task_failure(task_token, stopped.error_name(), &stopped.cause(order_id)).await)
    }

    /// Resumes the task with `output`.
    pub(super) async fn resume(&self, task_token: &str, output: &serde_json::Value) -> Result<(), StepError> {
        answered(self.callbacks.send_task_success(task_token, output).await)
    }
}

/// A token that is gone was answered before (or timed out): the task is done either way.
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
