//! `orders executions ORDER_ID|ARN`: an order's workflow execution as an operator needs it at
//! 3 a.m.: status, dates, the state it is in (what it waits for), input, output or error, and the
//! whole history.

use anyhow::bail;
use chrono::{DateTime, Utc};
use orders_core::domain::OrderId;
use orders_core::domain::order::rfc3339;
use orders_core::ports::{ExecutionArn, ExecutionDescription, HistoryEntry};
use serde::Serialize;

use crate::backend;
use crate::config::{OutputFormat, TargetArgs};
use crate::output::print_json;

/// What `orders executions --output json` prints.
#[derive(Debug, Serialize)]
pub struct ExecutionReport {
    /// The execution as the engine describes it.
    pub execution: ExecutionDescription,
    /// The state it is in (entered and not exited), if any.
    pub current_state: Option<String>,
    /// Its history, oldest first.
    pub history: Vec<HistoryEvent>,
}

/// One event of the history.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct HistoryEvent {
    pub id: u64,
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    pub event_type: String,
    pub state: Option<String>,
    pub error: Option<String>,
}

impl From<&HistoryEntry> for HistoryEvent {
    fn from(entry: &HistoryEntry) -> Self {
        HistoryEvent {
            id: entry.id,
            timestamp: entry.timestamp,
            event_type: entry.event_type.clone(),
            state: entry.state.clone(),
            error: entry.error.clone(),
        }
    }
}

/// Runs `orders executions`.
pub async fn run(order_or_arn: String, target: TargetArgs, output: OutputFormat) -> anyhow::Result<()> {
    let backend = backend::open(&target).await?;
    let arn: ExecutionArn = match order_or_arn.parse::<OrderId>() {
        Ok(order_id) => backend.workflow.execution_arn(&order_id.to_string()),
        Err(_) => order_or_arn
            .parse()
            .map_err(|e| anyhow::anyhow!("{order_or_arn:?} is neither an order id nor an execution ARN ({e})"))?,
    };
    let Some(execution) = backend.workflow.describe_execution(&arn).await? else {
        bail!(
            "no execution {arn} (a pending order's starts from its change record, behind the stream's lag: \
             `orders status`; `POST /orders/ORDER_ID/workflow` starts it at once)"
        );
    };
    let history = backend.workflow.history(&arn).await?;
    let mut entered: Option<&str> = None;
    for entry in &history {
        if entry.event_type.ends_with("StateEntered") {
            entered = entry.state.as_deref();
        } else if entry.event_type.ends_with("StateExited") {
            entered = None;
        }
    }
    if output == OutputFormat::Json {
        return print_json(&ExecutionReport {
            current_state: entered.map(str::to_owned),
            history: history.iter().map(HistoryEvent::from).collect(),
            execution,
        });
    }
    println!("execution {arn}");
    println!("  status:        {}", serde_json::to_value(execution.status)?.as_str().unwrap_or_default());
    println!("  started:       {}", rfc3339::format(&execution.start_date));
    println!("  stopped:       {}", execution.stop_date.as_ref().map(rfc3339::format).unwrap_or_else(|| "-".into()));
    println!("  current state: {}", entered.unwrap_or("-"));
    println!("  input:         {}", execution.input);
    if let Some(output) = &execution.output {
        println!("  output:        {output}");
    }
    if let Some(error) = &execution.error {
        println!("  error:         {error}: {}", execution.cause.as_deref().unwrap_or(""));
    }
    println!("history:");
    for entry in &history {
        let detail =
            [entry.state.as_deref(), entry.error.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        println!("  {:>3}  {}  {:<28} {detail}", entry.id, rfc3339::format(&entry.timestamp), entry.event_type);
    }
    Ok(())
}
