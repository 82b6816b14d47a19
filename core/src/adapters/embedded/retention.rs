//! Retention: what the embedded store removes once nothing needs it, as the services it stands in
//! for remove theirs: the change-feed entries every consumer has processed (DynamoDB Streams keeps a
//! record 24 hours), finished executions with their history once older than the retention (Step
//! Functions keeps them 90 days), and expired Idempotency-Key records (the idempotency table's TTL on
//! DynamoDB). Removed in small batches, each its own write, so that requests keep their turn at the
//! one writer between batches.

use chrono::{TimeDelta, Utc};
use rusqlite::{Transaction, params};

use super::db::{Database, execute_cached, query_row_cached, sql_error};
use crate::ports::StoreError;

/// How long what is kept stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long a finished execution and its history are kept after it stopped.
    pub executions: TimeDelta,
    /// Rows removed per write.
    pub batch: usize,
}

impl Default for Retention {
    /// Step Functions' 90 days; batches of 500 rows.
    fn default() -> Self {
        Retention { executions: TimeDelta::days(90), batch: 500 }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Change-feed entries every consumer had processed.
    pub changes: u64,
    /// Finished executions past the retention.
    pub executions: u64,
    /// Their history events.
    pub history_events: u64,
    /// Expired Idempotency-Key records.
    pub idempotency_keys: u64,
}

impl Pruned {
    /// Whether the pass removed anything.
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

impl Database {
    /// Removes what retention allows, batch by batch, until nothing more is due.
    pub async fn prune(&self, retention: &Retention) -> Result<Pruned, StoreError> {
        let batch = i64::try_from(retention.batch.max(1)).unwrap_or(i64::MAX);
        let (changes, _) = self.in_batches(batch, move |tx| Ok((prune_consumed_changes(tx, batch)?, 0))).await?;
        let stopped_before = (Utc::now() - retention.executions).timestamp_millis();
        let (executions, history_events) =
            self.in_batches(batch, move |tx| prune_finished_executions(tx, stopped_before, batch)).await?;
        let (idempotency_keys, _) =
            self.in_batches(batch, move |tx| Ok((prune_expired_keys(tx, Utc::now().timestamp(), batch)?, 0))).await?;
        Ok(Pruned { changes, executions, history_events, idempotency_keys })
    }

    /// Runs `step` as one write after another until a write removes fewer than `batch` rows (the
    /// first figure it returns); the sums of both figures.
    async fn in_batches<F>(&self, batch: i64, step: F) -> Result<(u64, u64), StoreError>
    where
        F: Fn(&Transaction<'_>) -> Result<(u64, u64), StoreError> + Clone + Send + 'static,
    {
        let mut total = (0, 0);
        loop {
            let (rows, more) = self.write(step.clone()).await?;
            total = (total.0 + rows, total.1 + more);
            if rows < batch as u64 {
                return Ok(total);
            }
        }
    }
}

/// Entries at or below every consumer's position: none is read again. With no consumer recorded
/// yet, nothing goes.
fn prune_consumed_changes(tx: &Transaction<'_>, batch: i64) -> Result<u64, StoreError> {
    let removed = execute_cached(
        tx,
        "DELETE FROM order_changes WHERE sequence IN
           (SELECT sequence FROM order_changes
             WHERE sequence <= (SELECT min(position) FROM feed_positions)
             ORDER BY sequence LIMIT ?1)",
        [batch],
    )
    .map_err(sql_error)?;
    Ok(removed as u64)
}

/// Executions that stopped before `stopped_before` (milliseconds), with their history: (executions,
/// events) removed.
fn prune_finished_executions(tx: &Transaction<'_>, stopped_before: i64, batch: i64) -> Result<(u64, u64), StoreError> {
    let arns: Vec<String> = {
        let mut select = tx
            .prepare_cached("SELECT execution_arn FROM executions WHERE stopped_at < ?1 LIMIT ?2")
            .map_err(sql_error)?;
        let rows = select.query_map(params![stopped_before, batch], |row| row.get(0)).map_err(sql_error)?;
        rows.collect::<Result<_, _>>().map_err(sql_error)?
    };
    let mut events = 0;
    for arn in &arns {
        events += execute_cached(tx, "DELETE FROM execution_history WHERE execution_arn = ?1", [arn])
            .map_err(sql_error)? as u64;
        let paged: i64 = query_row_cached(
            tx,
            "SELECT coalesce(sum(last_event - first_event + 1), 0) FROM execution_history_pages
              WHERE execution_arn = ?1",
            [arn],
            |row| row.get(0),
        )
        .map_err(sql_error)?;
        events += paged as u64;
        execute_cached(tx, "DELETE FROM execution_history_pages WHERE execution_arn = ?1", [arn]).map_err(sql_error)?;
        execute_cached(tx, "DELETE FROM executions WHERE execution_arn = ?1", [arn]).map_err(sql_error)?;
    }
    Ok((arns.len() as u64, events))
}

/// Up to `batch` key records expired at `now` (epoch seconds): a create already ignores them. Not
/// done in creates themselves: a few percent of an import's CPU for rows retention removes anyway.
fn prune_expired_keys(tx: &Transaction<'_>, now: i64, batch: i64) -> Result<u64, StoreError> {
    let removed = execute_cached(
        tx,
        "DELETE FROM idempotency_keys WHERE key IN
           (SELECT key FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)",
        params![now, batch],
    )
    .map_err(sql_error)?;
    Ok(removed as u64)
}
