//! The local runner's reader of the orders table's DynamoDB stream (AWS mode, what Lambda's event
//! source mapping does on AWS): it finds the shards, keeps an iterator and the last processed
//! sequence number per shard, and hands records to the stream handler as Lambda's stream events.
//! A failed record is read again from its own sequence number. Positions live in memory: after a
//! restart the stream is read from its oldest record again, which the idempotent handlers absorb.
//!
//! Reading costs a request each time, so an idle stream is read less and less often (see
//! [`IDLE_BACKOFF`]), and the shards are described once, then again only when one closes or every
//! [`DESCRIBE_EVERY`]: an idle reader makes well under one request a second.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamViewType};
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use orders_core::ports::StoreError;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runner::{IdleBackoff, StreamRound, StreamRounds, drive_stream};
use crate::stream::StreamHandler;

/// The pauses between reads of an idle stream. DynamoDB Streams has no long poll, so a record
/// written after a quiet spell waits up to `longest` before it is read; writes this process makes
/// wake the reader at once ([`DynamoDbStreamPoller::waker`]), so only other writers (the workflow's
/// own status writes, other processes) can meet that wait. 1.6 s keeps an idle reader at about 0.6
/// GetRecords a second.
pub const IDLE_BACKOFF: IdleBackoff =
    IdleBackoff { first: Duration::from_millis(200), longest: Duration::from_millis(1600) };

/// How often the shards are described again although none closed, to find the shards a split
/// made (a split closes its parent, which is described at once; this finds what a missed close
/// would hide) and to renew the shards' iterators, which an emulator can let go stale.
pub const DESCRIBE_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Shard {
    iterator: Option<String>,
    last_sequence: Option<String>,
    closed: bool,
}

/// Reads one table's stream and feeds the handler.
pub struct DynamoDbStreamPoller {
    streams: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    region: String,
    handler: Arc<dyn StreamHandler>,
    stream_arn: Option<String>,
    shards: BTreeMap<String, Shard>,
    /// When the shards were last described; `None` until they are.
    described_at: Option<Instant>,
    /// A shard closed since: describe again to find its children.
    shard_closed: bool,
    wake: Arc<Notify>,
}

fn unavailable(error: impl std::fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!("{error:?}"))
}

impl DynamoDbStreamPoller {
    /// A poller of `table`'s stream.
    pub fn new(
        streams: aws_sdk_dynamodbstreams::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        region: impl Into<String>,
        handler: Arc<dyn StreamHandler>,
    ) -> Self {
        DynamoDbStreamPoller {
            streams,
            dynamodb,
            table: table.into(),
            region: region.into(),
            handler,
            stream_arn: None,
            shards: BTreeMap::new(),
            described_at: None,
            shard_closed: false,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notifying this makes the spawned poller read at once, and back off again from its first
    /// step: for the one who just wrote to the table.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    fn describe_due(&self) -> bool {
        self.shard_closed || self.described_at.is_none_or(|at| at.elapsed() >= DESCRIBE_EVERY)
    }

    async fn iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        kind: ShardIteratorType,
        sequence: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let output = self
            .streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence.map(str::to_owned))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.shard_iterator)
    }

    /// Describes the stream and takes up the shards it does not know yet (from their oldest
    /// record); renews the iterators of the open shards it knows.
    async fn discover(&mut self) -> Result<String, StoreError> {
        let stream_arn = match &self.stream_arn {
            Some(arn) => arn.clone(),
            None => {
                let table = self.dynamodb.describe_table().table_name(&self.table).send().await.map_err(unavailable)?;
                let arn = table
                    .table()
                    .and_then(|t| t.latest_stream_arn())
                    .ok_or_else(|| StoreError::Internal(format!("table {} has no stream", self.table)))?
                    .to_owned();
                self.stream_arn = Some(arn.clone());
                arn
            }
        };
        let mut start = None;
        loop {
            let output = self
                .streams
                .describe_stream()
                .stream_arn(&stream_arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(unavailable)?;
            let Some(description) = output.stream_description else { break };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                match self.shards.get(id) {
                    None => {
                        let iterator = self.iterator(&stream_arn, id, ShardIteratorType::TrimHorizon, None).await?;
                        self.shards.insert(id.to_owned(), Shard { iterator, ..Shard::default() });
                    }
                    Some(known) if !known.closed && known.last_sequence.is_some() => {
                        self.reacquire(&stream_arn, id).await?;
                    }
                    Some(_) => {}
                }
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        self.described_at = Some(Instant::now());
        self.shard_closed = false;
        Ok(stream_arn)
    }

    /// One round over every open shard; the shards are described first when that is due.
    pub async fn poll_once(&mut self) -> Result<StreamRound, StoreError> {
        let stream_arn = match &self.stream_arn {
            Some(arn) if !self.describe_due() => arn.clone(),
            _ => self.discover().await?,
        };
        let shard_ids: Vec<String> = self.shards.keys().cloned().collect();
        let mut processed = 0;
        for shard_id in shard_ids {
            let Some(shard) = self.shards.get(&shard_id) else { continue };
            if shard.closed {
                continue;
            }
            let Some(iterator) = shard.iterator.clone() else { continue };
            let output = self.streams.get_records().shard_iterator(iterator).send().await;
            let output = match output {
                Ok(output) => output,
                Err(error) if error.as_service_error().is_some_and(|e| e.is_expired_iterator_exception()) => {
                    self.reacquire(&stream_arn, &shard_id).await?;
                    continue;
                }
                Err(error) => return Err(unavailable(error)),
            };
            let records = output.records.unwrap_or_default();
            if records.is_empty() {
                let shard = self.shards.entry(shard_id.clone()).or_default();
                shard.closed = output.next_shard_iterator.is_none();
                shard.iterator = output.next_shard_iterator;
                self.shard_closed |= shard.closed;
                continue;
            }
            let event = stream_event(&stream_arn, &self.region, &records);
            let response = self.handler.handle(event).await;
            let failed = response.batch_item_failures.first().and_then(|f| f.item_identifier.clone());
            let shard = self.shards.entry(shard_id.clone()).or_default();
            match failed {
                None => {
                    shard.last_sequence =
                        records.last().and_then(|r| r.dynamodb()).and_then(|d| d.sequence_number()).map(str::to_owned);
                    shard.iterator = output.next_shard_iterator;
                    shard.closed = shard.iterator.is_none();
                    self.shard_closed |= shard.closed;
                    processed += records.len();
                }
                Some(sequence) => {
                    let iterator = self
                        .iterator(&stream_arn, &shard_id, ShardIteratorType::AtSequenceNumber, Some(&sequence))
                        .await?;
                    self.shards.entry(shard_id).or_default().iterator = iterator;
                    return Ok(StreamRound::Failed);
                }
            }
        }
        Ok(if processed > 0 { StreamRound::Processed(processed) } else { StreamRound::Idle })
    }

    async fn reacquire(&mut self, stream_arn: &str, shard_id: &str) -> Result<(), StoreError> {
        let last = self.shards.get(shard_id).and_then(|s| s.last_sequence.clone());
        let iterator = match &last {
            Some(sequence) => {
                self.iterator(stream_arn, shard_id, ShardIteratorType::AfterSequenceNumber, Some(sequence)).await?
            }
            None => self.iterator(stream_arn, shard_id, ShardIteratorType::TrimHorizon, None).await?,
        };
        self.shards.entry(shard_id.to_owned()).or_default().iterator = iterator;
        Ok(())
    }

    /// Polls until `shutdown` turns true, pausing longer while the stream stays idle
    /// ([`IDLE_BACKOFF`]) and after failures; [`waker`](Self::waker) cuts an idle pause short.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let wake = self.wake.clone();
        tokio::spawn(drive_stream(self, IDLE_BACKOFF, wake, shutdown))
    }
}

/// Lambda's stream event for SDK stream records.
pub fn stream_event(stream_arn: &str, region: &str, records: &[Record]) -> Event {
    let mut event = Event::default();
    for record in records {
        let mut converted = EventRecord::default();
        converted.aws_region = region.to_owned();
        converted.event_id = record.event_id().unwrap_or_default().to_owned();
        converted.event_name = match record.event_name() {
            Some(OperationType::Insert) => "INSERT",
            Some(OperationType::Modify) => "MODIFY",
            Some(OperationType::Remove) => "REMOVE",
            _ => "UNKNOWN",
        }
        .to_owned();
        converted.event_source = Some("aws:dynamodb".to_owned());
        converted.event_version = record.event_version().map(str::to_owned);
        converted.event_source_arn = Some(stream_arn.to_owned());
        if let Some(change) = record.dynamodb() {
            converted.change.approximate_creation_date_time = change
                .approximate_creation_date_time()
                .and_then(|at| DateTime::<Utc>::from_timestamp(at.secs(), at.subsec_nanos()))
                .unwrap_or_default();
            converted.change.keys = serde_dynamo::Item::from(change.keys().cloned().unwrap_or_default());
            converted.change.new_image = serde_dynamo::Item::from(change.new_image().cloned().unwrap_or_default());
            converted.change.old_image = serde_dynamo::Item::from(change.old_image().cloned().unwrap_or_default());
            converted.change.sequence_number = change.sequence_number().map(str::to_owned);
            converted.change.size_bytes = change.size_bytes().unwrap_or_default();
            converted.change.stream_view_type = Some(StreamViewType::NewAndOldImages);
        }
        event.records.push(converted);
    }
    event
}

#[async_trait::async_trait]
impl StreamRounds for DynamoDbStreamPoller {
    async fn round(&mut self) -> Result<StreamRound, StoreError> {
        self.poll_once().await
    }
}
