//! The order workflow's task resources, run on the embedded adapters: what Step Functions' service
//! integrations do on AWS. Only the shapes the definition uses are supported, and [`EmbeddedTasks::check`]
//! refuses a definition with any other at load, so nothing is ever run approximately:
//!
//! - `arn:aws:states:::dynamodb:updateItem` on the orders table with
//!   `SET #status = :to, #version = #version + :one, updated_at = :now` (with
//!   `, failure_reason = :reason` when `:to` is `failed`) and
//!   `ConditionExpression: #status IN (:a, :b, …)` → [`OrderStore::transition`] (a failed
//!   condition, or a missing order, is `DynamoDB.ConditionalCheckFailedException`, as on AWS);
//! - `arn:aws:states:::sqs:sendMessage` and `…sendMessage.waitForTaskToken` to a known queue URL with
//!   a JSON `MessageBody` → [`MessageQueue::send`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use statemachine::{Definition, TaskFailure, TaskInvoker, TaskOutcome, TaskRequest};

use super::db::Database;
use super::queues::EmbeddedQueues;
use crate::domain::{FailureReason, NewStatus, OrderId, OrderStatus};
use crate::ports::{MessageQueue, OrderStore, OutgoingMessage, QueueError, QueueName, StoreError};

const UPDATE_ITEM: &str = "arn:aws:states:::dynamodb:updateItem";
const SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";
const SEND_MESSAGE_AND_WAIT: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
const STATUS_UPDATE: &str = "SET #status = :to, #version = #version + :one, updated_at = :now";
/// The status update that also says why the order failed (only with `:to` failed).
const FAILED_UPDATE: &str =
    "SET #status = :to, #version = #version + :one, updated_at = :now, failure_reason = :reason";

/// A task resource or shape the embedded engine does not run.
#[derive(Debug, thiserror::Error)]
#[error("state {state:?}: {reason}")]
pub struct UnsupportedTask {
    /// The Task state.
    pub state: String,
    /// What is not supported.
    pub reason: String,
}

/// Runs the workflow's tasks on the order store and the queues.
pub struct EmbeddedTasks {
    queues: Arc<EmbeddedQueues>,
    orders_table: String,
    queue_urls: BTreeMap<String, QueueName>,
}

impl EmbeddedTasks {
    /// Tasks on the orders and the queues of the database `queues` keep their messages in (the
    /// orders known to the definition as `orders_table`, the queues by the URLs in `queue_urls`).
    /// One database for both is what lets an execution's start send its first message in its own
    /// write ([`Self::message_sent_with_start`]).
    pub fn new(
        queues: Arc<EmbeddedQueues>,
        orders_table: impl Into<String>,
        queue_urls: BTreeMap<String, QueueName>,
    ) -> Self {
        EmbeddedTasks { queues, orders_table: orders_table.into(), queue_urls }
    }

    /// The database holding the orders and the queues the tasks act on.
    pub fn database(&self) -> &Database {
        self.queues.database()
    }

    /// Refuses a definition with a Task this engine would not run exactly as AWS does.
    pub fn check(&self, definition: &Definition) -> Result<(), UnsupportedTask> {
        let states = definition.source()["States"].as_object().cloned().unwrap_or_default();
        for (name, state) in states {
            if state["Type"] != "Task" {
                continue;
            }
            let unsupported = |reason: String| UnsupportedTask { state: name.clone(), reason };
            let parameters = &state["Parameters"];
            match state["Resource"].as_str().unwrap_or_default() {
                UPDATE_ITEM => self.check_update_item(parameters).map_err(unsupported)?,
                SEND_MESSAGE | SEND_MESSAGE_AND_WAIT => {
                    let url = parameters["QueueUrl"].as_str().unwrap_or_default();
                    if !self.queue_urls.contains_key(url) {
                        return Err(unsupported(format!("QueueUrl {url:?} is not a queue of this stack")));
                    }
                    if !parameters["MessageBody"].is_object() {
                        return Err(unsupported("MessageBody must be a JSON object".into()));
                    }
                }
                other => {
                    return Err(unsupported(format!("resource {other:?} is not available in the embedded engine")));
                }
            }
        }
        Ok(())
    }

    fn check_update_item(&self, parameters: &Value) -> Result<(), String> {
        if parameters["TableName"] != self.orders_table.as_str() {
            return Err(format!("TableName must be {:?}", self.orders_table));
        }
        if !parameters["Key"]["order_id"]["S.$"].is_string() && !parameters["Key"]["order_id"]["S"].is_string() {
            return Err("Key must be {\"order_id\": {\"S\": …}}".into());
        }
        let with_reason = match parameters["UpdateExpression"].as_str() {
            Some(STATUS_UPDATE) => false,
            Some(FAILED_UPDATE) => true,
            _ => return Err(format!("UpdateExpression must be {STATUS_UPDATE:?} or {FAILED_UPDATE:?}")),
        };
        if parameters["ExpressionAttributeNames"] != json!({"#status": "status", "#version": "version"}) {
            return Err("ExpressionAttributeNames must be {\"#status\": \"status\", \"#version\": \"version\"}".into());
        }
        let values = &parameters["ExpressionAttributeValues"];
        if values[":one"] != json!({"N": "1"}) {
            return Err("ExpressionAttributeValues :one must be {\"N\": \"1\"}".into());
        }
        let to = status_value(values, ":to")?;
        if with_reason
            && (to != OrderStatus::Failed
                || !values[":reason"]["S.$"].is_string() && !values[":reason"]["S"].is_string())
        {
            return Err("failure_reason is set only with :to \"failed\" and :reason {\"S\": …}".into());
        }
        for placeholder in condition_placeholders(parameters)? {
            status_value(values, &placeholder)?;
        }
        Ok(())
    }

    async fn update_item(&self, parameters: &Value) -> Result<TaskOutcome, TaskFailure> {
        let invalid = |reason: String| TaskFailure { error: "States.Runtime".into(), cause: reason };
        let order_id: OrderId = parameters["Key"]["order_id"]["S"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| invalid("Key.order_id.S is not an order id".into()))?;
        let values = &parameters["ExpressionAttributeValues"];
        let to = status_value(values, ":to").map_err(invalid)?;
        let from = condition_placeholders(parameters)
            .and_then(|names| names.iter().map(|name| status_value(values, name)).collect::<Result<Vec<_>, _>>())
            .map_err(invalid)?;
        let reason = match parameters["UpdateExpression"].as_str() {
            Some(FAILED_UPDATE) => Some(FailureReason::from_cause(
                values[":reason"]["S"].as_str().ok_or_else(|| invalid(":reason is not {\"S\": <text>}".into()))?,
            )),
            _ => None,
        };
        match self.database().transition(order_id, &from, NewStatus { status: to, reason }).await {
            Ok(_) => Ok(TaskOutcome::Completed(json!({}))),
            Err(StoreError::ConditionFailed { .. } | StoreError::NotFound(_)) => Err(TaskFailure {
                error: "DynamoDB.ConditionalCheckFailedException".into(),
                cause: "The conditional request failed".into(),
            }),
            Err(StoreError::Unavailable(detail)) => {
                Err(TaskFailure { error: "DynamoDB.InternalServerErrorException".into(), cause: detail })
            }
            Err(other) => Err(TaskFailure { error: "States.TaskFailed".into(), cause: other.to_string() }),
        }
    }

    /// The queue and the message a `sendMessage` task's parameters name.
    fn message(&self, parameters: &Value) -> Result<(QueueName, OutgoingMessage), TaskFailure> {
        let url = parameters["QueueUrl"].as_str().unwrap_or_default();
        let queue = *self.queue_urls.get(url).ok_or_else(|| TaskFailure {
            error: "SQS.QueueDoesNotExistException".into(),
            cause: format!("no queue at {url}"),
        })?;
        let body = match &parameters["MessageBody"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        Ok((queue, OutgoingMessage { body, attributes: BTreeMap::new() }))
    }

    /// The message that invoking `request` would send, when `request` is a `.waitForTaskToken` send
    /// to a queue of this stack: for the embedded workflow, which keeps these queues in the same
    /// database as the executions, and so sends it in the start's own write
    /// ([`statemachine::Executor::invoked_with_start`]).
    pub fn message_sent_with_start(&self, request: &TaskRequest) -> Option<(QueueName, OutgoingMessage)> {
        if request.resource != SEND_MESSAGE_AND_WAIT {
            return None;
        }
        self.message(&request.parameters).ok()
    }

    async fn send_message(&self, parameters: &Value) -> Result<String, TaskFailure> {
        let (queue, message) = self.message(parameters)?;
        self.queues.send(queue, message).await.map_err(|error| {
            let name = match error {
                QueueError::Unavailable(_) => "SQS.InternalError",
                QueueError::Internal(_) => "States.TaskFailed",
            };
            TaskFailure { error: name.into(), cause: error.to_string() }
        })
    }
}

/// The `#status IN (:a, :b)` placeholders of a condition.
fn condition_placeholders(parameters: &Value) -> Result<Vec<String>, String> {
    let condition = parameters["ConditionExpression"].as_str().unwrap_or_default();
    let inner = condition
        .strip_prefix("#status IN (")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| "ConditionExpression must be \"#status IN (:a, :b, …)\"".to_owned())?;
    let names: Vec<String> = inner.split(',').map(|name| name.trim().to_owned()).collect();
    if names.iter().any(|name| !name.starts_with(':') || name.len() < 2) {
        return Err("ConditionExpression must name :placeholders".into());
    }
    Ok(names)
}

fn status_value(values: &Value, name: &str) -> Result<OrderStatus, String> {
    values[name]["S"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("ExpressionAttributeValues {name} must be {{\"S\": <an order status>}}"))
}

#[async_trait]
impl TaskInvoker for EmbeddedTasks {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        match request.resource.as_str() {
            UPDATE_ITEM => self.update_item(&request.parameters).await,
            SEND_MESSAGE_AND_WAIT => {
                self.send_message(&request.parameters).await?;
                Ok(TaskOutcome::AwaitingCallback)
            }
            SEND_MESSAGE => {
                let message_id = self.send_message(&request.parameters).await?;
                Ok(TaskOutcome::Completed(json!({ "MessageId": message_id })))
            }
            other => Err(TaskFailure {
                error: "States.Runtime".into(),
                cause: format!("resource {other} is not available in the embedded engine"),
            }),
        }
    }
}
