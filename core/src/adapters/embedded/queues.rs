//! Queues with SQS semantics on SQLite: a received message is hidden for the visibility timeout
//! and comes back if not deleted; each receive counts; past `maxReceiveCount` the message moves to
//! the queue's dead-letter queue instead of being delivered again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::db::{Database, execute_cached, query_row_cached, sql_error};
use crate::ports::{MessageQueue, OutgoingMessage, QueueError, QueueName, ReceivedMessage, StoreError};

/// Largest batch one receive returns (as SQS).
pub const MAX_BATCH: usize = 10;

/// How one queue behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// How long a received message stays hidden.
    pub visibility_timeout: Duration,
    /// Receives before the message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings { visibility_timeout: Duration::from_secs(30), max_receive_count: 5 }
    }
}

/// The pipeline's queues in the embedded database.
#[derive(Clone)]
pub struct EmbeddedQueues {
    database: Database,
    settings: HashMap<QueueName, QueueSettings>,
}

impl EmbeddedQueues {
    /// Queues with [`QueueSettings::default`], overridden per queue by `settings`.
    pub fn new(database: Database, settings: impl IntoIterator<Item = (QueueName, QueueSettings)>) -> Self {
        EmbeddedQueues { database, settings: settings.into_iter().collect() }
    }

    /// The database the messages are kept in.
    pub fn database(&self) -> &Database {
        &self.database
    }

    fn settings(&self, queue: QueueName) -> QueueSettings {
        self.settings.get(&queue).copied().unwrap_or_default()
    }
}

fn queue_error(error: StoreError) -> QueueError {
    match error {
        StoreError::Unavailable(message) => QueueError::Unavailable(message),
        other => QueueError::Internal(other.to_string()),
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Puts `message` on `queue` inside the caller's transaction, visible at once; returns its id.
pub(super) fn insert_message(
    tx: &rusqlite::Connection,
    queue: QueueName,
    message: &OutgoingMessage,
) -> Result<String, StoreError> {
    // Time-ordered: the unique index on message ids then grows at its right edge. Random ids put
    // each message on a random leaf of that index: under `POST` load that leaf was 28% of the pages
    // the writer wrote to the log (docs/BENCHMARKS.md).
    let message_id = uuid::Uuid::now_v7().to_string();
    let attributes = serde_json::to_string(&message.attributes).map_err(|e| StoreError::Internal(e.to_string()))?;
    execute_cached(
        tx,
        "INSERT INTO queue_messages (queue, message_id, body, attributes, sent_at, visible_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![queue.as_str(), message_id, message.body, attributes, now_ms()],
    )
    .map_err(sql_error)?;
    Ok(message_id)
}

#[async_trait]
impl MessageQueue for EmbeddedQueues {
    async fn send(&self, queue: QueueName, message: OutgoingMessage) -> Result<String, QueueError> {
        self.database.write(move |tx| insert_message(tx, queue, &message)).await.map_err(queue_error)
    }

    async fn receive(&self, queue: QueueName, max_messages: usize) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max = max_messages.clamp(1, MAX_BATCH) as i64;
        let settings = self.settings(queue);
        let dead_letter = queue.dead_letter_queue();
        self.database
            .write(move |tx| {
                let now = now_ms();
                // Oldest visible first, in the index's own order: `ORDER BY id` alone made SQLite
                // read and sort every visible message of the queue for each receive (all of a
                // 100,000-message import, ten at a time).
                let candidates: Vec<(i64, String, String, String, i64, u32)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, message_id, body, attributes, sent_at, receive_count FROM queue_messages
                             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3",
                        )
                        .map_err(sql_error)?;
                    let rows = stmt
                        .query_map(params![queue.as_str(), now, max], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                        })
                        .map_err(sql_error)?;
                    rows.collect::<Result<_, _>>().map_err(sql_error)?
                };
                let mut received = Vec::with_capacity(candidates.len());
                for (id, message_id, body, attributes, sent_at, receive_count) in candidates {
                    if let Some(dead_letter) = dead_letter
                        && receive_count >= settings.max_receive_count
                    {
                        execute_cached(tx,
                            "UPDATE queue_messages SET queue = ?1, visible_at = ?2, receipt_handle = NULL WHERE id = ?3",
                            params![dead_letter.as_str(), now, id],
                        )
                        .map_err(sql_error)?;
                        tracing::warn!(queue = %queue, %message_id, receive_count, "message moved to the dead-letter queue");
                        continue;
                    }
                    // Time-ordered for the same reason as message ids (its unique index). Handles
                    // never leave the process, which is all that needs to tell them apart.
                    let receipt_handle = uuid::Uuid::now_v7().to_string();
                    let visible_at = now + settings.visibility_timeout.as_millis() as i64;
                    execute_cached(tx,
                        "UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?1,
                                receipt_handle = ?2 WHERE id = ?3",
                        params![visible_at, receipt_handle, id],
                    )
                    .map_err(sql_error)?;
                    let attributes: BTreeMap<String, String> = serde_json::from_str(&attributes)
                        .map_err(|e| StoreError::Internal(format!("stored message attributes: {e}")))?;
                    received.push(ReceivedMessage {
                        message_id,
                        receipt_handle,
                        body,
                        attributes,
                        receive_count: receive_count + 1,
                        sent_at: DateTime::from_timestamp_millis(sent_at).unwrap_or_default(),
                    });
                }
                Ok(received)
            })
            .await
            .map_err(queue_error)
    }

    async fn delete(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        self.delete_batch(queue, &[receipt_handle.to_owned()]).await
    }

    async fn delete_batch(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError> {
        if receipt_handles.is_empty() {
            return Ok(());
        }
        let receipt_handles = receipt_handles.to_vec();
        self.database
            .write(move |tx| {
                for receipt_handle in &receipt_handles {
                    execute_cached(
                        tx,
                        "DELETE FROM queue_messages WHERE queue = ?1 AND receipt_handle = ?2",
                        params![queue.as_str(), receipt_handle],
                    )
                    .map_err(sql_error)?;
                }
                Ok(())
            })
            .await
            .map_err(queue_error)
    }

    async fn retry_after(&self, queue: QueueName, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        let receipt_handle = receipt_handle.to_owned();
        let visible_at = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        self.database
            .write(move |tx| {
                execute_cached(
                    tx,
                    "UPDATE queue_messages SET visible_at = ?1 WHERE queue = ?2 AND receipt_handle = ?3",
                    params![visible_at, queue.as_str(), receipt_handle],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
            .map_err(queue_error)
    }

    async fn release(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        let receipt_handle = receipt_handle.to_owned();
        self.database
            .write(move |tx| {
                execute_cached(tx,
                    "UPDATE queue_messages SET visible_at = ?1, receipt_handle = NULL WHERE queue = ?2 AND receipt_handle = ?3",
                    params![now_ms(), queue.as_str(), receipt_handle],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
            .map_err(queue_error)
    }

    async fn depth(&self, queue: QueueName) -> Result<u64, QueueError> {
        self.database
            .read(move |tx| {
                query_row_cached(tx, "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", [queue.as_str()], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|n| n.max(0) as u64)
                .map_err(sql_error)
            })
            .await
            .map_err(queue_error)
    }

    async fn in_flight(&self, queue: QueueName) -> Result<u64, QueueError> {
        let now = now_ms();
        self.database
            .read(move |tx| {
                query_row_cached(
                    tx,
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1 AND visible_at > ?2",
                    params![queue.as_str(), now],
                    |row| row.get::<_, i64>(0),
                )
                .map(|n| n.max(0) as u64)
                .map_err(sql_error)
            })
            .await
            .map_err(queue_error)
    }
}
