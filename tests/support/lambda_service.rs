//! Lambda, played for the deployed stack (`stack.rs`): each function's real binary behind a local
//! Runtime API (`runtime_api.rs`) with the environment and the role the stack gave it, and its event
//! source mappings polled as Lambda polls them, with the function's role (Lambda's pollers use the
//! execution role), configured as deployed: batch size, batching window, partial batch responses,
//! the stream's starting position, retry attempts and on-failure destination are read from the
//! stack, not repeated here.
//!
//! What is played, and how far:
//! - SQS: long-polled receives gathered into a batch until the batch size or the batching window;
//!   with `ReportBatchItemFailures` the messages not named as failed are deleted, without it all or
//!   none; a function error deletes none. Failed messages come back after the queue's visibility
//!   timeout and reach its DLQ through the queue's own redrive policy.
//! - DynamoDB streams: every shard read from the starting position, a batch at a time in order; a
//!   partial failure is retried from the failed record, a function error from the batch's start;
//!   after `MaximumRetryAttempts` the batch's description goes to the on-failure destination (the
//!   record Lambda sends) and the shard moves on. Bisecting on error is not played: the stream
//!   function answers partial failures and never fails a whole invocation on a record.
//!
//! One process per function, so one invocation at a time each (Lambda would scale out).
//!
//! Include it beside `stack.rs` (as `stack_support`) and `runtime_api.rs`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use orders_core::adapters::aws::AwsClients;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::runtime_api::{FunctionProcess, Invocation, RuntimeApi, spawn_function};
use crate::stack_support::Stack;

const REGION: &str = "us-east-1";
/// How long a receive waits for a first message (SQS long polling; Lambda waits up to 20 s).
const LONG_POLL_SECONDS: i32 = 1;
/// The pause between reads of a stream whose shards had nothing new.
const STREAM_IDLE: Duration = Duration::from_millis(200);

/// The workspace's binary `name`, built beside the including test's own binaries
/// (`cargo test --workspace` builds every package's binaries before any test runs).
pub fn workspace_binary(sibling: &str, name: &str) -> PathBuf {
    let path = Path::new(sibling).with_file_name(name);
    assert!(path.is_file(), "{} is not built: run the tests with `cargo test --workspace`", path.display());
    path
}

/// A function of the stack, running as Lambda runs it.
pub struct DeployedFunction {
    /// Its logical id in the template (`BackupFunction`).
    pub logical_id: String,
    /// Its name as deployed (`shop-backup`).
    pub name: String,
    api: RuntimeApi,
    process: FunctionProcess,
}

impl DeployedFunction {
    /// Starts `binary` as the stack's function `logical_id`: its deployed environment, its role.
    pub async fn start(stack: &Stack, logical_id: &str, binary: &Path) -> Arc<DeployedFunction> {
        let api = RuntimeApi::start().await;
        let env = stack.function_env(logical_id);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let process = spawn_function(binary.to_str().unwrap(), &api, &env).await;
        let name = stack.deployed["functions"][logical_id]["FunctionName"].as_str().unwrap().to_owned();
        Arc::new(DeployedFunction { logical_id: logical_id.to_owned(), name, api, process })
    }

    /// Invokes it once with `event`.
    pub async fn invoke(&self, event: Value) -> Invocation {
        self.api.invoke(event).await
    }

    /// What the function printed so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// The stack's event source mappings, each polled until this is dropped.
pub struct EventSourceMappings {
    stop: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
}

impl EventSourceMappings {
    /// Plays every mapping of the stack, each feeding its function among `functions` (each mapping's
    /// function must be there).
    pub async fn start(stack: &Stack, functions: &[Arc<DeployedFunction>]) -> EventSourceMappings {
        let (stop, stopped) = watch::channel(false);
        let mut pollers = Vec::new();
        for mapping in stack.deployed["event_source_mappings"].as_array().unwrap() {
            let function_arn = mapping["FunctionArn"].as_str().unwrap();
            let function = functions
                .iter()
                .find(|f| function_arn.ends_with(&format!(":function:{}", f.name)))
                .unwrap_or_else(|| panic!("the mapping of {function_arn} has no running function"))
                .clone();
            let clients = stack.as_role(&function.logical_id).await;
            let source = mapping["EventSourceArn"].as_str().unwrap();
            let poller = if source.starts_with("arn:aws:sqs:") {
                let queue = QueueMapping::new(&stack.moto.endpoint(), mapping, clients, function);
                tokio::spawn(queue.run(stopped.clone()))
            } else {
                // The orders table was made again (tools/moto/deploy_stack.py): its stream stands for
                // the one the mapping names.
                let stream = stack.deployed["replaced_streams"][source].as_str().unwrap_or(source).to_owned();
                let mapping = StreamMapping::new(&stack.moto.endpoint(), mapping, stream, clients, function);
                tokio::spawn(mapping.run(stopped.clone()))
            };
            pollers.push(poller);
        }
        EventSourceMappings { stop, pollers }
    }
}

impl Drop for EventSourceMappings {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

/// The URL of the queue `arn` on `endpoint`, as SQS forms it.
fn queue_url(endpoint: &str, arn: &str) -> String {
    let mut parts = arn.rsplit(':');
    let (name, account) = (parts.next().unwrap(), parts.next().unwrap());
    format!("{endpoint}/{account}/{name}")
}

/// What a mapping's configuration says, as deployed.
struct Batching {
    size: usize,
    window: Duration,
    partial_responses: bool,
}

impl Batching {
    fn of(mapping: &Value) -> Batching {
        Batching {
            size: mapping["BatchSize"].as_u64().unwrap_or(10) as usize,
            window: Duration::from_secs(mapping["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0)),
            partial_responses: mapping["FunctionResponseTypes"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures")),
        }
    }

    /// The identifiers of the records to deliver again, from the function's outcome; `None` for all.
    fn failures(&self, outcome: &Invocation) -> Option<Vec<String>> {
        match outcome {
            Invocation::Error(_) => None,
            Invocation::Response(_) if !self.partial_responses => Some(Vec::new()),
            Invocation::Response(body) => match body["batchItemFailures"].as_array() {
                Some(failures) => {
                    Some(failures.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)).collect())
                }
                // A response Lambda cannot read as a batch response fails the whole batch.
                None if body.is_null() || body == &json!({}) => Some(Vec::new()),
                None => None,
            },
        }
    }
}

struct QueueMapping {
    arn: String,
    url: String,
    batching: Batching,
    sqs: aws_sdk_sqs::Client,
    function: Arc<DeployedFunction>,
}

impl QueueMapping {
    fn new(endpoint: &str, mapping: &Value, clients: AwsClients, function: Arc<DeployedFunction>) -> QueueMapping {
        let arn = mapping["EventSourceArn"].as_str().unwrap().to_owned();
        let url = queue_url(endpoint, &arn);
        QueueMapping { arn, url, batching: Batching::of(mapping), sqs: clients.sqs, function }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        // Lambda reads the queue's attributes when a mapping is made (its visibility timeout is
        // checked against the function's timeout).
        let attributes = self.sqs.get_queue_attributes().queue_url(&self.url).attribute_names(QueueAttributeName::All);
        if let Err(error) = attributes.send().await {
            panic!("{} cannot read its queue {}: {}", self.function.logical_id, self.arn, DisplayErrorContext(&error));
        }
        while !*stop.borrow() {
            let batch = tokio::select! {
                batch = self.gather() => batch,
                _ = stop.changed() => return,
            };
            if batch.is_empty() {
                continue;
            }
            let records: Vec<Value> = batch.iter().map(|m| self.record(m)).collect();
            let outcome = self.function.invoke(json!({"Records": records})).await;
            let Some(failed) = self.batching.failures(&outcome) else { continue };
            let done: Vec<_> = batch
                .iter()
                .filter(|m| !failed.iter().any(|id| Some(id.as_str()) == m.message_id()))
                .enumerate()
                .map(|(index, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap()
                })
                .collect();
            for entries in done.chunks(10) {
                let delete = self.sqs.delete_message_batch().queue_url(&self.url).set_entries(Some(entries.to_vec()));
                if let Err(error) = delete.send().await {
                    eprintln!(
                        "{}: deleting a batch from {} failed: {}",
                        self.function.logical_id,
                        self.url,
                        DisplayErrorContext(&error)
                    );
                }
            }
        }
    }

    /// Receives until the batch is full or the batching window has passed since the first message.
    async fn gather(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = match deadline {
                None => LONG_POLL_SECONDS,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return batch;
                    }
                    // Whole seconds only: the window may run up to a second over, as Lambda's may.
                    i32::try_from(left.as_millis().div_ceil(1000)).unwrap_or(1)
                }
            };
            let wanted = (self.batching.size - batch.len()).min(10) as i32;
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            let messages = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(error) => {
                    eprintln!(
                        "{}: receiving from {} failed: {}",
                        self.function.logical_id,
                        self.url,
                        DisplayErrorContext(&error)
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Vec::new()
                }
            };
            if !messages.is_empty() && deadline.is_none() {
                deadline = Some(Instant::now() + self.batching.window);
            }
            batch.extend(messages);
            if batch.is_empty() || batch.len() >= self.batching.size {
                return batch;
            }
        }
    }

    /// The message as a record of Lambda's SQS event.
    fn record(&self, message: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: serde_json::Map<String, Value> = message
            .attributes()
            .map(|a| a.iter().map(|(name, value)| (name.as_str().to_owned(), json!(value))).collect())
            .unwrap_or_default();
        let message_attributes: serde_json::Map<String, Value> = message
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(name, value)| {
                        let value = json!({
                            "stringValue": value.string_value(),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": value.data_type(),
                        });
                        (name.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": REGION,
        })
    }
}

#[derive(Default)]
struct Shard {
    iterator: Option<String>,
    last_sequence: Option<String>,
    attempts: u64,
}

struct StreamMapping {
    arn: String,
    starting_position: ShardIteratorType,
    batching: Batching,
    retry_attempts: u64,
    on_failure: Option<String>,
    mapping_arn: String,
    function_arn: String,
    endpoint: String,
    clients: AwsClients,
    function: Arc<DeployedFunction>,
    shards: BTreeMap<String, Shard>,
}

impl StreamMapping {
    fn new(
        endpoint: &str,
        mapping: &Value,
        arn: String,
        clients: AwsClients,
        function: Arc<DeployedFunction>,
    ) -> StreamMapping {
        let starting_position = match mapping["StartingPosition"].as_str() {
            Some("LATEST") => ShardIteratorType::Latest,
            Some("TRIM_HORIZON") => ShardIteratorType::TrimHorizon,
            other => panic!("a stream mapping starts at TRIM_HORIZON or LATEST, not {other:?}"),
        };
        StreamMapping {
            arn,
            starting_position,
            batching: Batching::of(mapping),
            // -1 is Lambda's "until the record expires".
            retry_attempts: mapping["MaximumRetryAttempts"]
                .as_i64()
                .map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(u64::MAX)),
            on_failure: mapping["DestinationConfig"]["OnFailure"]["Destination"].as_str().map(str::to_owned),
            mapping_arn: mapping["EventSourceMappingArn"].as_str().unwrap_or_default().to_owned(),
            function_arn: mapping["FunctionArn"].as_str().unwrap().to_owned(),
            endpoint: endpoint.to_owned(),
            clients,
            function,
            shards: BTreeMap::new(),
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let busy = match self.round().await {
                Ok(busy) => busy,
                Err(error) => {
                    eprintln!("{}: reading {} failed: {error}", self.function.logical_id, self.arn);
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(STREAM_IDLE) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        sequence: Option<&str>,
    ) -> Result<Option<String>, String> {
        let request = self
            .clients
            .streams
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence.map(str::to_owned));
        Ok(request.send().await.map_err(|e| DisplayErrorContext(&e).to_string())?.shard_iterator)
    }

    /// One read of every shard; true when a batch was handed over.
    async fn round(&mut self) -> Result<bool, String> {
        let description = self.clients.streams.describe_stream().stream_arn(&self.arn).send().await;
        let description = description.map_err(|e| DisplayErrorContext(&e).to_string())?.stream_description.unwrap();
        for shard in description.shards() {
            let id = shard.shard_id().unwrap().to_owned();
            if !self.shards.contains_key(&id) {
                let iterator = self.iterator(&id, self.starting_position.clone(), None).await?;
                self.shards.insert(id, Shard { iterator, ..Shard::default() });
            }
        }
        let mut busy = false;
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            busy |= self.read(&id).await?;
        }
        Ok(busy)
    }

    /// Reads a batch of `shard` and hands it over; true when it had records.
    async fn read(&mut self, shard_id: &str) -> Result<bool, String> {
        let Some(iterator) = self.shards[shard_id].iterator.clone() else { return Ok(false) };
        let limit = i32::try_from(self.batching.size).unwrap_or(1000);
        let output = self.clients.streams.get_records().shard_iterator(iterator).limit(limit).send().await;
        let output = output.map_err(|e| DisplayErrorContext(&e).to_string())?;
        let records = output.records.unwrap_or_default();
        if records.is_empty() {
            // moto may leave an iterator behind records written after it was taken: continuing
            // after the last record handed over is always right.
            let last = self.shards[shard_id].last_sequence.clone();
            let next = match (&output.next_shard_iterator, last) {
                (None, _) => None,
                (Some(_), Some(last)) => {
                    self.iterator(shard_id, ShardIteratorType::AfterSequenceNumber, Some(&last)).await?
                }
                (Some(next), None) => Some(next.clone()),
            };
            self.shards.get_mut(shard_id).unwrap().iterator = next;
            return Ok(false);
        }
        if !self.batching.window.is_zero() && records.len() < self.batching.size {
            tokio::time::sleep(self.batching.window.min(Duration::from_secs(1))).await;
        }
        let event = orders_workers::aws_stream::stream_event(&self.arn, REGION, &records);
        let outcome = self.function.invoke(serde_json::to_value(&event).unwrap()).await;
        let sequence = |r: &aws_sdk_dynamodbstreams::types::Record| {
            r.dynamodb().and_then(|d| d.sequence_number()).unwrap().to_owned()
        };
        let retry_from = match self.batching.failures(&outcome) {
            Some(failed) if failed.is_empty() => None,
            Some(failed) => Some(failed.into_iter().min_by_key(|s| s.parse::<u128>().unwrap_or(u128::MAX)).unwrap()),
            None => Some(sequence(&records[0])),
        };
        let shard = self.shards.get_mut(shard_id).unwrap();
        match retry_from {
            None => {
                shard.attempts = 0;
                shard.last_sequence = Some(sequence(records.last().unwrap()));
                shard.iterator = output.next_shard_iterator;
            }
            Some(from) if shard.attempts >= self.retry_attempts => {
                // Retries exhausted: the batch is recorded at the destination and the shard moves on.
                shard.attempts = 0;
                let last = sequence(records.last().unwrap());
                shard.last_sequence = Some(last.clone());
                shard.iterator = output.next_shard_iterator;
                self.give_up(shard_id, &from, &last, records.len()).await?;
            }
            Some(from) => {
                shard.attempts += 1;
                let attempts = shard.attempts;
                tokio::time::sleep(Duration::from_millis(100 * attempts.min(10))).await;
                let iterator = self.iterator(shard_id, ShardIteratorType::AtSequenceNumber, Some(&from)).await?;
                self.shards.get_mut(shard_id).unwrap().iterator = iterator;
            }
        }
        Ok(true)
    }

    /// Sends Lambda's on-failure record of a batch it gave up on to the mapping's destination.
    async fn give_up(&self, shard: &str, first: &str, last: &str, size: usize) -> Result<(), String> {
        let Some(destination) = &self.on_failure else { return Ok(()) };
        let url = queue_url(&self.endpoint, destination);
        let record = json!({
            "requestContext": {"requestId": uuid::Uuid::new_v4().to_string(), "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted", "approximateInvokeCount": self.retry_attempts + 1},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": first, "endSequenceNumber": last,
                "batchSize": size, "streamArn": self.arn},
            "EventSourceMappingArn": self.mapping_arn,
        });
        let sent = self.clients.sqs.send_message().queue_url(url).message_body(record.to_string()).send().await;
        sent.map(|_| ()).map_err(|e| DisplayErrorContext(&e).to_string())
    }
}
