//! The pipeline gauges on AWS, from what the SDK clients can read without changing anything: SQS
//! GetQueueAttributes for the queues and Step Functions ListExecutions for the executions. The
//! oldest message's age and the stream's backlog are CloudWatch metrics
//! (`ApproximateAgeOfOldestMessage`, `IteratorAge`), and stock refusals carry no time in DynamoDB:
//! those gauges answer "unknown" here rather than receive messages or scan tables.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};

use super::sfn::{date, workflow_error};
use super::sqs::sdk_error;
use crate::adapters::embedded::ORDER_PROCESSING_DEFINITION;
use crate::ports::{
    BackupBacklog, ExecutionCounts, ExecutionGauge, GaugeError, OldestMessage, OverdueExecution, PipelineGauges,
    QueueError, QueueGauge, QueueName,
};

/// ListExecutions pages read per status at most (1,000 executions each); beyond, the counts are
/// lower bounds, as the gauge says.
const MAX_PAGES: usize = 10;

/// The gauges of one deployment.
#[derive(Clone, Debug)]
pub struct AwsGauges {
    sqs: aws_sdk_sqs::Client,
    queue_urls: BTreeMap<QueueName, String>,
    sfn: aws_sdk_sfn::Client,
    state_machine_arn: String,
    /// The order workflow's own `TimeoutSeconds`: a running execution's deadline is its start plus
    /// this.
    execution_timeout: Option<chrono::Duration>,
}

impl AwsGauges {
    /// The gauges of the queues at `queue_urls` and the state machine `state_machine_arn`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_urls: BTreeMap<QueueName, String>,
        sfn: aws_sdk_sfn::Client,
        state_machine_arn: String,
    ) -> Self {
        let execution_timeout = serde_json::from_str::<serde_json::Value>(ORDER_PROCESSING_DEFINITION)
            .ok()
            .and_then(|definition| definition["TimeoutSeconds"].as_i64())
            .map(chrono::Duration::seconds);
        AwsGauges { sqs, queue_urls, sfn, state_machine_arn, execution_timeout }
    }

    /// Counts the executions in `status`; with `running` also collects their deadlines before
    /// `overdue_before`. Returns the count and whether every page was read.
    async fn count(
        &self,
        status: SfnStatus,
        overdue_before: DateTime<Utc>,
        overdue: &mut Vec<OverdueExecution>,
    ) -> Result<(u64, bool), GaugeError> {
        let mut total = 0u64;
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .sfn
                .list_executions()
                .state_machine_arn(&self.state_machine_arn)
                .status_filter(status.clone())
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(workflow_error)?;
            total += page.executions().len() as u64;
            if status == SfnStatus::Running
                && let Some(timeout) = self.execution_timeout
            {
                for execution in page.executions() {
                    let deadline = date(execution.start_date()) + timeout;
                    if deadline < overdue_before {
                        overdue
                            .push(OverdueExecution { execution_arn: execution.execution_arn().to_owned(), deadline });
                    }
                }
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_owned()),
                None => return Ok((total, true)),
            }
        }
        Ok((total, false))
    }
}

#[async_trait]
impl PipelineGauges for AwsGauges {
    async fn queue(&self, queue: QueueName) -> Result<QueueGauge, GaugeError> {
        let url =
            self.queue_urls.get(&queue).ok_or_else(|| QueueError::Internal(format!("no URL for queue {queue}")))?;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sdk_error)?
            .attributes
            .unwrap_or_default();
        let read = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let in_flight = read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        let messages = read(QueueAttributeName::ApproximateNumberOfMessages)
            + in_flight
            + read(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
        let oldest = if messages == 0 { OldestMessage::Empty } else { OldestMessage::Unknown };
        Ok(QueueGauge { messages, in_flight, oldest })
    }

    async fn executions(&self, overdue_before: DateTime<Utc>, examples: usize) -> Result<ExecutionGauge, GaugeError> {
        let mut counts = ExecutionCounts::default();
        let mut complete = true;
        let mut overdue = Vec::new();
        for (status, slot) in [
            (SfnStatus::Running, &mut counts.running),
            (SfnStatus::Succeeded, &mut counts.succeeded),
            (SfnStatus::Failed, &mut counts.failed),
            (SfnStatus::TimedOut, &mut counts.timed_out),
            (SfnStatus::Aborted, &mut counts.aborted),
        ] {
            let (n, all) = self.count(status, overdue_before, &mut overdue).await?;
            *slot = n;
            complete &= all;
        }
        overdue.sort_by_key(|execution| execution.deadline);
        let total = overdue.len() as u64;
        overdue.truncate(examples);
        Ok(ExecutionGauge { counts, counts_complete: complete, overdue: total, overdue_examples: overdue })
    }

    async fn backup_backlog(&self) -> Result<Option<BackupBacklog>, GaugeError> {
        Ok(None)
    }

    async fn stock_outs_since(&self, _since: DateTime<Utc>) -> Result<Option<u64>, GaugeError> {
        Ok(None)
    }
}
