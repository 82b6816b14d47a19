//! The pipeline gauges on AWS, from what the SDK clients can read without changing anything: SQS
//! GetQueueAttributes for the queues, Step Functions ListExecutions for the executions, and
//! CloudWatch GetMetricStatistics for what only the functions' own metrics hold (the backup lag
//! they measured, the stock-outs they counted: [`crate::metrics`]) and for a queue's oldest
//! message's age, which SQS reports only there (`ApproximateAgeOfOldestMessage`; reading it from
//! the queue would mean receiving, which counts towards a message's `maxReceiveCount`). The
//! stream's backlog answers "unknown".

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};

use super::functions;
use super::sfn::{date, workflow_error};
use super::sqs::sdk_error;
use crate::adapters::embedded::ORDER_PROCESSING_DEFINITION;
use crate::ports::{
    BackupBacklog, ExecutionCounts, ExecutionGauge, GaugeError, OldestMessage, OverdueExecution, PipelineGauges,
    QueueError, QueueGauge, QueueName,
};

/// How far back a queue's oldest-message age is read: SQS reports it to CloudWatch every minute
/// while the queue is active, every few more when it is not.
const OLDEST_AGE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// ListExecutions pages read per status at most (1,000 executions each); beyond, the counts are
/// lower bounds, as the gauge says.
const MAX_PAGES: usize = 10;

/// The deployment's own metrics in CloudWatch, as the functions emit them ([`crate::metrics`]: a
/// namespace per deployment, each metric by the `function` dimension).
#[derive(Clone, Debug)]
pub struct MetricsReader {
    cloudwatch: aws_sdk_cloudwatch::Client,
    namespace: String,
}

/// The statistics' granularity: CloudWatch keeps one-minute datapoints of custom metrics for 15 days.
const PERIOD_SECONDS: i32 = 60;

impl MetricsReader {
    /// The metrics in `namespace`.
    pub fn new(cloudwatch: aws_sdk_cloudwatch::Client, namespace: String) -> Self {
        MetricsReader { cloudwatch, namespace }
    }

    /// `statistic` (`Maximum` or `Sum`) of `metric` from `function`, each minute since `since`.
    async fn per_minute(
        &self,
        metric: &str,
        function: &str,
        statistic: Statistic,
        since: DateTime<Utc>,
    ) -> Result<Vec<f64>, GaugeError> {
        let points = self.datapoints(&self.namespace, metric, ("function", function), statistic.clone(), since).await?;
        Ok(points.into_iter().map(|(_, value)| value).collect())
    }

    /// The newest `ApproximateAgeOfOldestMessage` SQS reported for the queue `queue_name` since
    /// `since`: (when it was measured, the age in seconds).
    async fn oldest_message_age(
        &self,
        queue_name: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, f64)>, GaugeError> {
        let metric = "ApproximateAgeOfOldestMessage";
        let points = self.datapoints("AWS/SQS", metric, ("QueueName", queue_name), Statistic::Maximum, since).await?;
        Ok(points.into_iter().max_by_key(|(at, _)| *at))
    }

    /// The one-minute datapoints of `metric` in `namespace` with one `dimension`, since `since`.
    async fn datapoints(
        &self,
        namespace: &str,
        metric: &str,
        dimension: (&str, &str),
        statistic: Statistic,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, GaugeError> {
        let answer = self
            .cloudwatch
            .get_metric_statistics()
            .namespace(namespace)
            .metric_name(metric)
            .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
            .start_time(AwsDateTime::from_secs(since.timestamp()))
            .end_time(AwsDateTime::from_secs(Utc::now().timestamp() + 1))
            .period(PERIOD_SECONDS)
            .statistics(statistic.clone())
            .send()
            .await
            .map_err(|e| GaugeError::Metrics(aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string()))?;
        Ok(answer
            .datapoints()
            .iter()
            .filter_map(|point| {
                let value = if statistic == Statistic::Maximum { point.maximum() } else { point.sum() };
                let at = point.timestamp().and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))?;
                Some((at, value?))
            })
            .collect())
    }
}

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
    metrics: MetricsReader,
}

impl AwsGauges {
    /// The gauges of the queues at `queue_urls`, the state machine `state_machine_arn` and the
    /// deployment's `metrics`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_urls: BTreeMap<QueueName, String>,
        sfn: aws_sdk_sfn::Client,
        state_machine_arn: String,
        metrics: MetricsReader,
    ) -> Self {
        let execution_timeout = serde_json::from_str::<serde_json::Value>(ORDER_PROCESSING_DEFINITION)
            .ok()
            .and_then(|definition| definition["TimeoutSeconds"].as_i64())
            .map(chrono::Duration::seconds);
        AwsGauges { sqs, queue_urls, sfn, state_machine_arn, execution_timeout, metrics }
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
        let oldest = if messages == 0 {
            OldestMessage::Empty
        } else {
            let name = url.rsplit('/').next().unwrap_or_default();
            match self.metrics.oldest_message_age(name, Utc::now() - OLDEST_AGE_WINDOW).await? {
                Some((measured_at, age)) => {
                    OldestMessage::SentAt(measured_at - chrono::Duration::milliseconds((age * 1000.0) as i64))
                }
                None => OldestMessage::Unknown,
            }
        };
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

    /// From the `stock_outs` the fulfilment function counted (its workflow tasks reserve the stock).
    async fn stock_outs_since(&self, since: DateTime<Utc>) -> Result<Option<u64>, GaugeError> {
        let function = functions::FULFILMENT.binary;
        let sums = self.metrics.per_minute(crate::metrics::STOCK_OUTS, function, Statistic::Sum, since).await?;
        Ok(Some(sums.iter().sum::<f64>().round() as u64))
    }

    /// The largest `backup_lag_seconds` of the two functions that write backups: the stream
    /// function (each change's backup) and the backup function (the writes it retries).
    async fn measured_backup_lag(&self, since: DateTime<Utc>) -> Result<Option<u64>, GaugeError> {
        let mut largest: Option<f64> = None;
        for function in [functions::STREAM.binary, functions::BACKUP.binary] {
            let maxima = self
                .metrics
                .per_minute(crate::metrics::BACKUP_LAG_SECONDS, function, Statistic::Maximum, since)
                .await?;
            for value in maxima {
                largest = Some(largest.map_or(value, |l| l.max(value)));
            }
        }
        Ok(largest.map(|seconds| seconds.ceil() as u64))
    }
}
