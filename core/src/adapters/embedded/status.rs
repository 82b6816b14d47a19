//! The pipeline gauges of the embedded default, read in SQL from the one database: queue rows and
//! their send times, execution rows with their next wake-up, the stream processor's position in
//! the change feed, and the times of refused stock reservations.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::db::{Database, query_row_cached, sql_error};
use crate::ports::{
    BackupBacklog, ExecutionCounts, ExecutionGauge, ExecutionStatus, GaugeError, OldestMessage, OverdueExecution,
    PipelineGauges, QueueGauge, QueueName, StoreError,
};

/// The change-feed consumer of `orders serve` that writes every order version to the backup store
/// (and reacts to every other change): the backup backlog is what lies behind its position.
pub const STREAM_CONSUMER: &str = "stream-processor";

/// The gauges over the embedded database.
#[derive(Clone)]
pub struct EmbeddedGauges {
    database: Database,
}

impl EmbeddedGauges {
    /// The gauges over `database`.
    pub fn new(database: Database) -> Self {
        EmbeddedGauges { database }
    }
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Internal(format!("unreadable time {ms}")))
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

fn execution_counts(tx: &Transaction<'_>) -> Result<ExecutionCounts, StoreError> {
    let mut counts = ExecutionCounts::default();
    let mut statement =
        tx.prepare_cached("SELECT status, COUNT(*) FROM executions GROUP BY status").map_err(sql_error)?;
    let rows =
        statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))).map_err(sql_error)?;
    for row in rows {
        let (status, n) = row.map_err(sql_error)?;
        let slot = match ExecutionStatus::parse(&status) {
            Some(ExecutionStatus::Running) => &mut counts.running,
            Some(ExecutionStatus::Succeeded) => &mut counts.succeeded,
            Some(ExecutionStatus::Failed) => &mut counts.failed,
            Some(ExecutionStatus::TimedOut) => &mut counts.timed_out,
            Some(ExecutionStatus::Aborted) => &mut counts.aborted,
            None => return Err(StoreError::Internal(format!("execution status {status:?} is unknown"))),
        };
        *slot += count(n);
    }
    Ok(counts)
}

#[async_trait]
impl PipelineGauges for EmbeddedGauges {
    async fn queue(&self, queue: QueueName) -> Result<QueueGauge, GaugeError> {
        let now = Utc::now().timestamp_millis();
        let gauge = self
            .database
            .read(move |tx| {
                let (messages, in_flight, oldest): (i64, i64, Option<i64>) = query_row_cached(
                    tx,
                    "SELECT COUNT(*), COALESCE(SUM(visible_at > ?2), 0), MIN(sent_at)
                       FROM queue_messages WHERE queue = ?1",
                    params![queue.as_str(), now],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map_err(sql_error)?;
                let oldest = match oldest {
                    Some(ms) => OldestMessage::SentAt(from_millis(ms)?),
                    None => OldestMessage::Empty,
                };
                Ok(QueueGauge { messages: count(messages), in_flight: count(in_flight), oldest })
            })
            .await?;
        Ok(gauge)
    }

    async fn executions(&self, overdue_before: DateTime<Utc>, examples: usize) -> Result<ExecutionGauge, GaugeError> {
        let before = overdue_before.timestamp_millis();
        let limit = i64::try_from(examples).unwrap_or(i64::MAX);
        let gauge = self
            .database
            .read(move |tx| {
                let counts = execution_counts(tx)?;
                // next_wakeup is set only while an execution runs (NULL once it ended).
                let overdue: i64 = query_row_cached(
                    tx,
                    "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING' AND next_wakeup < ?1",
                    [before],
                    |row| row.get(0),
                )
                .map_err(sql_error)?;
                let mut statement = tx
                    .prepare_cached(
                        "SELECT execution_arn, next_wakeup FROM executions
                          WHERE status = 'RUNNING' AND next_wakeup < ?1 ORDER BY next_wakeup LIMIT ?2",
                    )
                    .map_err(sql_error)?;
                let rows = statement
                    .query_map(params![before, limit], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))
                    .map_err(sql_error)?;
                let mut overdue_examples = Vec::new();
                for row in rows {
                    let (execution_arn, deadline) = row.map_err(sql_error)?;
                    overdue_examples.push(OverdueExecution { execution_arn, deadline: from_millis(deadline)? });
                }
                Ok(ExecutionGauge { counts, counts_complete: true, overdue: count(overdue), overdue_examples })
            })
            .await?;
        Ok(gauge)
    }

    async fn backup_backlog(&self) -> Result<Option<BackupBacklog>, GaugeError> {
        let backlog = self
            .database
            .read(|tx| {
                let position: i64 = tx
                    .prepare_cached("SELECT position FROM feed_positions WHERE consumer = ?1")
                    .and_then(|mut statement| statement.query_row([STREAM_CONSUMER], |row| row.get(0)).optional())
                    .map_err(sql_error)?
                    .unwrap_or(0);
                let (pending, oldest): (i64, Option<String>) = query_row_cached(
                    tx,
                    "SELECT COUNT(*), (SELECT at FROM order_changes WHERE sequence > ?1 ORDER BY sequence LIMIT 1)
                       FROM order_changes WHERE sequence > ?1",
                    [position],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(sql_error)?;
                let oldest_pending_at = oldest
                    .map(|text| {
                        DateTime::parse_from_rfc3339(&text)
                            .map(|at| at.with_timezone(&Utc))
                            .map_err(|_| StoreError::Internal(format!("change time {text:?} is unreadable")))
                    })
                    .transpose()?;
                Ok(BackupBacklog { pending_changes: count(pending), oldest_pending_at })
            })
            .await?;
        Ok(Some(backlog))
    }

    async fn stock_outs_since(&self, since: DateTime<Utc>) -> Result<Option<u64>, GaugeError> {
        let since = since.timestamp_millis();
        let refused = self
            .database
            .read(move |tx| {
                query_row_cached(tx, "SELECT COUNT(*) FROM stock_reservations WHERE refused_at >= ?1", [since], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(sql_error)
            })
            .await?;
        Ok(Some(count(refused)))
    }

    async fn measured_backup_lag(&self, _since: DateTime<Utc>) -> Result<Option<u64>, GaugeError> {
        // Its backlog is read directly (`backup_backlog`); `GET /metrics` has the measured lag.
        Ok(None)
    }
}
