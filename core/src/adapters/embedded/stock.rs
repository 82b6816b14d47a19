//! Stock reservations in SQLite: each decided in one write transaction with the catalog rows it
//! changes (and, when it begins an order's processing, with the order's row), so no other
//! reservation or stock update sees a half of it.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::catalog::entry;
use super::db::{Database, execute_cached, sql_error};
use super::orders::{load_order, start_processing, was_deleted};
use crate::domain::{
    OrderId, OrderStopped, OutOfStock, ProcessingEntry, ReservationState, ReserveOutcome, SettleOutcome, StockLine,
    plan_reservation,
};
use crate::ports::{ProcessingStart, StatusWait, StockLedger, StoreError};

/// An order's reservation as stored.
struct Stored {
    state: ReservationState,
    lines: Vec<StockLine>,
    refusal: Option<OutOfStock>,
}

#[async_trait]
impl StockLedger for Database {
    async fn reserve(&self, order_id: OrderId, lines: &[StockLine]) -> Result<ReserveOutcome, StoreError> {
        let lines = lines.to_vec();
        self.write(move |tx| reserve(tx, order_id, &lines)).await
    }

    async fn begin_processing(
        &self,
        order_id: OrderId,
        wait: &StatusWait,
        _products: &[String],
    ) -> Result<ProcessingStart, StoreError> {
        // One transaction reads the order and its products here: there is no read to save.
        let wait = wait.clone();
        self.write(move |tx| {
            let Some((seq, before)) = load_order(tx, order_id)? else {
                return Ok(if was_deleted(tx, order_id)? {
                    ProcessingStart::Stopped(OrderStopped::Deleted)
                } else {
                    ProcessingStart::NotStored
                });
            };
            let status = before.order.status;
            let outcome = match ProcessingEntry::for_status(status) {
                ProcessingEntry::Stop(stopped) => return Ok(ProcessingStart::Stopped(stopped)),
                ProcessingEntry::Reserve => reserve(tx, order_id, &StockLine::for_order(&before.order))?,
                ProcessingEntry::OnlyIfReserved => match stored(tx, order_id)? {
                    Some(stored) => decided(stored),
                    None => return Ok(ProcessingStart::NotPending(status)),
                },
            };
            Ok(match outcome {
                ReserveOutcome::Reserved { lines } => ProcessingStart::Started {
                    order: start_processing(tx, seq, before, wait.clone())?,
                    reserved: lines,
                },
                ReserveOutcome::OutOfStock(refusal) => ProcessingStart::OutOfStock(refusal),
                ReserveOutcome::Settled(state) => ProcessingStart::Settled(state),
            })
        })
        .await
    }

    async fn release(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError> {
        // Units go back to a product still tracked; one removed from the catalog, or no longer
        // tracked, has nothing to give them back to.
        self.settle(
            order_id,
            ReservationState::Released,
            "UPDATE catalog SET stock = stock + ?1, reserved = MAX(reserved - ?1, 0), version = version + 1
             WHERE product_id = ?2 AND stock IS NOT NULL",
        )
        .await
    }

    async fn consume(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError> {
        self.write(move |tx| consume_reservation(tx, order_id)).await
    }
}

/// The order was delivered: its reserved units leave the stock for good, once (in the caller's
/// transaction: the delivery's own).
pub(super) fn consume_reservation(tx: &rusqlite::Connection, order_id: OrderId) -> Result<SettleOutcome, StoreError> {
    settle(
        tx,
        order_id,
        ReservationState::Consumed,
        "UPDATE catalog SET reserved = MAX(reserved - ?1, 0), version = version + 1 WHERE product_id = ?2",
    )
}

impl Database {
    /// As [`settle`], in a write transaction of its own.
    async fn settle(
        &self,
        order_id: OrderId,
        to: ReservationState,
        update: &'static str,
    ) -> Result<SettleOutcome, StoreError> {
        self.write(move |tx| settle(tx, order_id, to, update)).await
    }
}

/// Moves a reservation from reserved to `to`, running `update` (quantity, product) for each of its
/// lines; any other state is final and left alone.
fn settle(
    tx: &rusqlite::Connection,
    order_id: OrderId,
    to: ReservationState,
    update: &'static str,
) -> Result<SettleOutcome, StoreError> {
    match stored(tx, order_id)? {
        None => {
            record(tx, order_id, to, &[], None)?;
            Ok(SettleOutcome::NothingReserved)
        }
        Some(Stored { state: ReservationState::Reserved, lines, .. }) => {
            for line in &lines {
                execute_cached(tx, update, params![line.quantity, line.product_id]).map_err(sql_error)?;
            }
            execute_cached(
                tx,
                "UPDATE stock_reservations SET state = ?1 WHERE order_id = ?2",
                params![to.as_str(), order_id.to_string()],
            )
            .map_err(sql_error)?;
            Ok(SettleOutcome::Settled { lines })
        }
        Some(Stored { state, .. }) => Ok(SettleOutcome::AlreadySettled(state)),
    }
}

/// Decides the order's reservation of `lines` (or answers as an earlier call decided).
fn reserve(tx: &rusqlite::Connection, order_id: OrderId, lines: &[StockLine]) -> Result<ReserveOutcome, StoreError> {
    if let Some(stored) = stored(tx, order_id)? {
        return Ok(decided(stored));
    }
    let mut available = Vec::with_capacity(lines.len());
    for line in lines {
        available.push(entry(tx, &line.product_id)?.and_then(|entry| entry.product.stock));
    }
    let mut stock = available.into_iter();
    match plan_reservation(lines, |_| stock.next().flatten()) {
        Err(refusal) => {
            record(tx, order_id, ReservationState::Refused, &[], Some(&refusal))?;
            Ok(ReserveOutcome::OutOfStock(refusal))
        }
        Ok(held) => {
            for line in &held {
                execute_cached(
                    tx,
                    "UPDATE catalog SET stock = stock - ?1, reserved = reserved + ?1, version = version + 1
                     WHERE product_id = ?2",
                    params![line.quantity, line.product_id],
                )
                .map_err(sql_error)?;
            }
            record(tx, order_id, ReservationState::Reserved, &held, None)?;
            Ok(ReserveOutcome::Reserved { lines: held })
        }
    }
}

/// What a reservation decided, as its record says.
fn decided(stored: Stored) -> ReserveOutcome {
    match (stored.state, stored.refusal) {
        (ReservationState::Reserved, _) => ReserveOutcome::Reserved { lines: stored.lines },
        (ReservationState::Refused, Some(refusal)) => ReserveOutcome::OutOfStock(refusal),
        (state, _) => ReserveOutcome::Settled(state),
    }
}

fn stored(tx: &rusqlite::Connection, order_id: OrderId) -> Result<Option<Stored>, StoreError> {
    let row: Option<(String, String, Option<String>)> = tx
        .prepare_cached("SELECT state, lines, refusal FROM stock_reservations WHERE order_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([order_id.to_string()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?))).optional()
        })
        .map_err(sql_error)?;
    let Some((state, lines, refusal)) = row else { return Ok(None) };
    let corrupt = |what: &str| StoreError::Internal(format!("reservation of order {order_id}: unreadable {what}"));
    Ok(Some(Stored {
        state: ReservationState::parse(&state).ok_or_else(|| corrupt("state"))?,
        lines: serde_json::from_str(&lines).map_err(|_| corrupt("lines"))?,
        refusal: refusal.map(|text| serde_json::from_str(&text)).transpose().map_err(|_| corrupt("refusal"))?,
    }))
}

fn record(
    tx: &rusqlite::Connection,
    order_id: OrderId,
    state: ReservationState,
    lines: &[StockLine],
    refusal: Option<&OutOfStock>,
) -> Result<(), StoreError> {
    let lines = serde_json::to_string(lines).map_err(|e| StoreError::Internal(e.to_string()))?;
    let refusal = refusal.map(serde_json::to_string).transpose().map_err(|e| StoreError::Internal(e.to_string()))?;
    let refused_at = refusal.as_ref().map(|_| chrono::Utc::now().timestamp_millis());
    execute_cached(
        tx,
        "INSERT INTO stock_reservations (order_id, state, lines, refusal, refused_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![order_id.to_string(), state.as_str(), lines, refusal, refused_at],
    )
    .map_err(sql_error)?;
    Ok(())
}
