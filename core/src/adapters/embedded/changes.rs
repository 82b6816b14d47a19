//! The change feed on SQLite: an outbox table written inside every order change's transaction
//! (so a change and its record commit or vanish together), and each consumer's position.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::db::{Database, execute_cached, query_row_cached, sql_error};
use crate::domain::order::{now_millis, rfc3339};
use crate::ports::{ChangeFeed, ChangeKind, OrderChange, OrderImage, StoreError};

/// Appends the record of one change; called inside the change's own transaction.
pub(crate) fn record_change(
    tx: &Transaction<'_>,
    kind: ChangeKind,
    old: Option<&OrderImage>,
    new: Option<&OrderImage>,
) -> Result<(), StoreError> {
    let image = |order: Option<&OrderImage>| {
        order.map(serde_json::to_string).transpose().map_err(|e| StoreError::Internal(format!("order image: {e}")))
    };
    let order_id = new.or(old).map(|o| o.order.order_id.to_string()).unwrap_or_default();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO order_changes (order_id, kind, old_image, new_image, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sql_error)?;
    insert
        .execute(params![order_id, kind_column(kind), image(old)?, image(new)?, rfc3339::format(&now_millis())])
        .map_err(sql_error)?;
    Ok(())
}

/// The `order_changes.kind` column's text for a change kind (fixed: data files keep it).
const fn kind_column(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Insert => "INSERT",
        ChangeKind::Modify => "MODIFY",
        ChangeKind::Remove => "REMOVE",
    }
}

fn kind_from_column(text: &str) -> ChangeKind {
    match text {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        _ => ChangeKind::Remove,
    }
}

#[async_trait]
impl ChangeFeed for Database {
    async fn changes_after(&self, after: u64, max: usize) -> Result<Vec<OrderChange>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.read(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT sequence, kind, old_image, new_image, at FROM order_changes
                     WHERE sequence > ?1 ORDER BY sequence LIMIT ?2",
                )
                .map_err(sql_error)?;
            let rows = stmt
                .query_map(params![after, max], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })
                .map_err(sql_error)?;
            let mut changes = Vec::new();
            for row in rows {
                let (sequence, kind, old, new, at) = row.map_err(sql_error)?;
                let image = |text: Option<String>| {
                    text.map(|t| serde_json::from_str::<OrderImage>(&t))
                        .transpose()
                        .map_err(|e| StoreError::Internal(format!("stored order image: {e}")))
                };
                changes.push(OrderChange {
                    sequence: sequence as u64,
                    kind: kind_from_column(&kind),
                    old: image(old)?,
                    new: image(new)?,
                    at: DateTime::parse_from_rfc3339(&at)
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(|e| StoreError::Internal(format!("stored change date: {e}")))?,
                });
            }
            Ok(changes)
        })
        .await
    }

    async fn position(&self, consumer: &str) -> Result<u64, StoreError> {
        self.read_by_key(|tx| {
            let position: Option<i64> =
                query_row_cached(tx, "SELECT position FROM feed_positions WHERE consumer = ?1", [consumer], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(sql_error)?;
            Ok(position.unwrap_or(0).max(0) as u64)
        })
    }

    async fn save_position(&self, consumer: &str, position: u64) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        self.write(move |tx| {
            // Positions only move forward: a slow, repeated save cannot rewind the consumer.
            execute_cached(
                tx,
                "INSERT INTO feed_positions (consumer, position) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)",
                params![consumer, position],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }
}
