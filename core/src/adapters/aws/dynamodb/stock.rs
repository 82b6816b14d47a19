//! Stock reservations in DynamoDB: an order's reservation record in the reservations table, and the
//! product items of the catalog table it takes units from, changed together in `TransactWriteItems`.
//!
//! A transaction holds at most 100 items: the record plus 99 product lines. Orders have up to 100
//! lines, so a change of more than 99 lines is split: the first transaction changes the record and
//! 99 lines and notes the lines still to change on the record (`pending`, with `pending_op`); each
//! next transaction changes up to 99 more and shortens the note, conditional on it. Every call that
//! finds a note finishes it first, so a crash between two transactions is finished by the next
//! delivery, and nothing is applied twice. Orders of up to 99 tracked lines (every order, unless
//! it tracks stock on all 100 of its products) take one transaction.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};

use super::orders::{Stored, stored};
use super::{
    Attrs, DynamoDbStore, WRITE_ATTEMPTS, build_error, cancelled_conditions, json, n, number, s, sdk_error,
    transaction_error,
};
use crate::domain::{
    OrderId, OrderStopped, OutOfStock, ProcessingEntry, ReservationState, ReserveOutcome, SettleOutcome, StockLine,
    plan_reservation,
};
use crate::ports::{ProcessingStart, StatusWait, StockLedger, StoreError};

/// Keys one `BatchGetItem` reads.
pub(super) const BATCH_GET_KEYS: usize = 100;

/// Product lines per transaction: 100 items, less the reservation record.
const LINES_PER_TRANSACTION: usize = 99;

/// Product lines a reservation may have to take one transaction with the start of the order's
/// processing: 100 items, less the record, the order and its four listing counters.
pub(super) const LINES_BESIDE_ORDER: usize = 94;

/// What a transaction does to a product line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineChange {
    /// Units leave the available stock for the reservation (only if that many are available).
    Take,
    /// Reserved units go back to the available stock (only if the product is still tracked).
    GiveBack,
    /// Reserved units leave for good (only if the product is still in the catalog).
    Consume,
}

impl LineChange {
    fn as_str(self) -> &'static str {
        match self {
            LineChange::Take => "take",
            LineChange::GiveBack => "give_back",
            LineChange::Consume => "consume",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Take, Self::GiveBack, Self::Consume].into_iter().find(|c| c.as_str() == name)
    }
}

/// An order's reservation record.
#[derive(Debug, Clone)]
struct Record {
    state: ReservationState,
    lines: Vec<StockLine>,
    refusal: Option<OutOfStock>,
    /// Lines a split change has still to apply, and how.
    pending: Vec<StockLine>,
    pending_change: Option<LineChange>,
}

/// Why a transaction was cancelled: the record's condition, or the product lines' (by position).
enum Cancelled {
    Record,
    Lines(Vec<usize>),
}

#[async_trait]
impl StockLedger for DynamoDbStore {
    async fn reserve(&self, order_id: OrderId, lines: &[StockLine]) -> Result<ReserveOutcome, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Some(record) = self.reservation(order_id).await? {
                return Ok(outcome(self.finish_pending(order_id, record).await?));
            }
            let available = self.available_stock(lines).await?;
            let decided = plan_reservation(lines, |id| available.get(id).copied().flatten());
            let (state, held, refusal) = match decided {
                Ok(held) => (ReservationState::Reserved, held, None),
                Err(refusal) => (ReservationState::Refused, Vec::new(), Some(refusal)),
            };
            let record = Record { state, lines: held.clone(), refusal, pending: Vec::new(), pending_change: None };
            match self.transition(order_id, None, &record, LineChange::Take, &held).await? {
                Ok(record) => return Ok(outcome(self.finish_pending(order_id, record).await?)),
                // Another delivery decided first, or the stock changed since it was read: read again.
                Err(_) => continue,
            }
        }
        Err(StoreError::Unavailable(format!("the stock for order {order_id} kept changing while it was reserved")))
    }

    async fn release(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError> {
        self.settle(order_id, ReservationState::Released, LineChange::GiveBack).await
    }

    async fn consume(&self, order_id: OrderId) -> Result<SettleOutcome, StoreError> {
        self.settle(order_id, ReservationState::Consumed, LineChange::Consume).await
    }

    async fn begin_processing(
        &self,
        order_id: OrderId,
        wait: &StatusWait,
        products: &[String],
    ) -> Result<ProcessingStart, StoreError> {
        // The first look reads the order and its expected products' stock in one request; a look
        // after a conflict reads them as the order says.
        let mut first_look = self.order_with_stock(order_id, products).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let (current, stock_read) = match first_look.take() {
                Some((current, stock)) => (current, Some(stock)),
                None => (self.load(order_id).await?, None),
            };
            let Some(current) = current else {
                return Ok(if self.was_deleted(order_id).await? {
                    ProcessingStart::Stopped(OrderStopped::Deleted)
                } else {
                    ProcessingStart::NotStored
                });
            };
            let status = current.image.order.status;
            let entry = ProcessingEntry::for_status(status);
            let lines = StockLine::for_order(&current.image.order);
            let outcome = match entry {
                ProcessingEntry::Stop(stopped) => return Ok(ProcessingStart::Stopped(stopped)),
                ProcessingEntry::Reserve if lines.len() <= LINES_BESIDE_ORDER => {
                    let available = match stock_read
                        .filter(|stock| lines.iter().all(|line| stock.contains_key(&line.product_id)))
                    {
                        Some(stock) => stock,
                        None => self.available_stock(&lines).await?,
                    };
                    // The common case: nothing decided yet, and the reservation, the order and its
                    // counters fit one transaction. A record already there sends it the long way.
                    match self.reserve_and_start(&current, &lines, &available, wait).await? {
                        Ok(started) => return Ok(started),
                        Err(Cancelled::Record) => self.reserve(order_id, &lines).await?,
                        Err(Cancelled::Lines(_)) => continue,
                    }
                }
                ProcessingEntry::Reserve => self.reserve(order_id, &lines).await?,
                ProcessingEntry::OnlyIfReserved => match self.reservation(order_id).await? {
                    Some(record) => outcome(self.finish_pending(order_id, record).await?),
                    None => return Ok(ProcessingStart::NotPending(status)),
                },
            };
            match outcome {
                ReserveOutcome::Reserved { lines: held } => {
                    let (order, items) = self.processing_items(&current, wait, &held)?;
                    match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                        Ok(_) => return Ok(ProcessingStart::Started { order, reserved: held }),
                        // The order changed since it was read: again, from the order.
                        Err(error) if cancelled_conditions(&error).is_some_and(|f| f.first() == Some(&true)) => {}
                        Err(error) => return Err(transaction_error(error)),
                    }
                }
                ReserveOutcome::OutOfStock(refusal) => return Ok(ProcessingStart::OutOfStock(refusal)),
                ReserveOutcome::Settled(state) => return Ok(ProcessingStart::Settled(state)),
            }
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing while its processing began")))
    }
}

impl DynamoDbStore {
    /// The order (`None` when there is none) and the available stock of `products` (`None` for a
    /// product not tracked or not in the catalog; every product asked for has an entry), read
    /// strongly consistent in one `BatchGetItem`. `None` when there are no products to read, or
    /// more than one request holds beside the order.
    async fn order_with_stock(
        &self,
        order_id: OrderId,
        products: &[String],
    ) -> Result<Option<(Option<Stored>, HashMap<String, Option<u64>>)>, StoreError> {
        if products.is_empty() || products.len() >= BATCH_GET_KEYS {
            return Ok(None);
        }
        let order_keys = KeysAndAttributes::builder()
            .consistent_read(true)
            .keys(HashMap::from([("order_id".to_owned(), s(order_id.to_string()))]))
            .build()
            .map_err(build_error)?;
        let mut product_keys = KeysAndAttributes::builder()
            .consistent_read(true)
            .projection_expression("product_id, #stock")
            .expression_attribute_names("#stock", "stock");
        for product_id in products {
            product_keys = product_keys.keys(HashMap::from([("product_id".to_owned(), s(product_id.clone()))]));
        }
        let mut read = self
            .batch_get(HashMap::from([
                (self.orders.clone(), order_keys),
                (self.catalog.clone(), product_keys.build().map_err(build_error)?),
            ]))
            .await?;
        let order = read.remove(&self.orders).and_then(|items| items.into_iter().next()).map(stored).transpose()?;
        let mut available: HashMap<String, Option<u64>> = products.iter().map(|id| (id.clone(), None)).collect();
        available.extend(read.get(&self.catalog).into_iter().flatten().filter_map(available_of));
        Ok(Some((order, available)))
    }

    /// Decides a new reservation of `lines` and begins the order's processing in one transaction:
    /// the record (only if there is none), the products' stock, the order (only at the version
    /// read) and its counters. Out of stock, the refusal is recorded as `reserve` records it.
    /// [`Cancelled::Record`] when a reservation was decided before; [`Cancelled::Lines`] when the
    /// stock changed since it was read (or the order did: it is read again either way).
    async fn reserve_and_start(
        &self,
        current: &Stored,
        lines: &[StockLine],
        available: &HashMap<String, Option<u64>>,
        wait: &StatusWait,
    ) -> Result<Result<ProcessingStart, Cancelled>, StoreError> {
        let order_id = current.image.order.order_id;
        let held = match plan_reservation(lines, |id| available.get(id).copied().flatten()) {
            Ok(held) => held,
            Err(refusal) => {
                let record = Record {
                    state: ReservationState::Refused,
                    lines: Vec::new(),
                    refusal: Some(refusal.clone()),
                    pending: Vec::new(),
                    pending_change: None,
                };
                return Ok(match self.transition(order_id, None, &record, LineChange::Take, &[]).await? {
                    Ok(_) => Ok(ProcessingStart::OutOfStock(refusal)),
                    Err(_) => Err(Cancelled::Record),
                });
            }
        };
        let record = Record {
            state: ReservationState::Reserved,
            lines: held.clone(),
            refusal: None,
            pending: Vec::new(),
            pending_change: None,
        };
        let (order, order_items) = self.processing_items(current, wait, &held)?;
        let mut items = Vec::with_capacity(held.len() + order_items.len() + 1);
        items.push(self.record_update(order_id, None, &record)?);
        for line in &held {
            items.push(self.line_update(line, LineChange::Take)?);
        }
        items.extend(order_items);
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(ProcessingStart::Started { order, reserved: held })),
            Err(error) => match cancelled_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(Err(Cancelled::Record)),
                Some(failed) if failed.iter().any(|f| *f) => Ok(Err(Cancelled::Lines(Vec::new()))),
                _ => Err(transaction_error(error)),
            },
        }
    }

    /// The items that consume a reservation holding `lines`, for the delivery's own transaction:
    /// the record from reserved to consumed (conditional on it), each product's reserved units out.
    pub(super) fn consumption_items(
        &self,
        order_id: OrderId,
        lines: &[StockLine],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let held = Record {
            state: ReservationState::Reserved,
            lines: lines.to_vec(),
            refusal: None,
            pending: Vec::new(),
            pending_change: None,
        };
        let consumed = Record { state: ReservationState::Consumed, ..held.clone() };
        let mut items = Vec::with_capacity(lines.len() + 1);
        items.push(self.record_update(order_id, Some(&held), &consumed)?);
        for line in lines {
            items.push(self.line_update(line, LineChange::Consume)?);
        }
        Ok(items)
    }

    /// Moves a reserved reservation to `to`, changing its lines by `change`; records `to` when
    /// nothing was reserved; leaves any other state alone.
    async fn settle(
        &self,
        order_id: OrderId,
        to: ReservationState,
        change: LineChange,
    ) -> Result<SettleOutcome, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(record) = self.reservation(order_id).await? else {
                let record =
                    Record { state: to, lines: Vec::new(), refusal: None, pending: Vec::new(), pending_change: None };
                match self.transition(order_id, None, &record, change, &[]).await? {
                    Ok(_) => return Ok(SettleOutcome::NothingReserved),
                    Err(_) => continue,
                }
            };
            let record = self.finish_pending(order_id, record).await?;
            if record.state != ReservationState::Reserved {
                return Ok(SettleOutcome::AlreadySettled(record.state));
            }
            let mut lines = record.lines.clone();
            loop {
                let settled = Record { state: to, ..record.clone() };
                match self.transition(order_id, Some(&record), &settled, change, &lines).await? {
                    Ok(settled) => {
                        self.finish_pending(order_id, settled).await?;
                        return Ok(SettleOutcome::Settled { lines: record.lines });
                    }
                    Err(Cancelled::Record) => break,
                    // A product removed from the catalog (or no longer tracked) has nothing to
                    // give the units back to: its line is settled by leaving it alone.
                    Err(Cancelled::Lines(failed)) => {
                        let failed: HashSet<usize> = failed.into_iter().collect();
                        lines = lines
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !failed.contains(i))
                            .map(|(_, l)| l)
                            .collect();
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!("the reservation of order {order_id} kept changing while it was settled")))
    }

    /// Applies a split change's remaining lines, up to 99 per transaction. Lines a give-back or a
    /// consumption cannot apply (product gone) are dropped; a take that runs out of stock part-way
    /// gives back what it took and refuses the reservation.
    async fn finish_pending(&self, order_id: OrderId, mut record: Record) -> Result<Record, StoreError> {
        for _ in 0..WRITE_ATTEMPTS * 4 {
            let Some(change) = record.pending_change.filter(|_| !record.pending.is_empty()) else {
                return Ok(record);
            };
            let chunk = record.pending[..record.pending.len().min(LINES_PER_TRANSACTION)].to_vec();
            let shortened = Record { pending: record.pending[chunk.len()..].to_vec(), ..record.clone() };
            match self.apply(order_id, Some(&record), &shortened, change, &chunk).await? {
                Ok(()) => record = shortened,
                Err(Cancelled::Record) => {
                    record = self
                        .reservation(order_id)
                        .await?
                        .ok_or_else(|| StoreError::Internal(format!("the reservation of order {order_id} vanished")))?;
                }
                Err(Cancelled::Lines(_)) if change == LineChange::Take => {
                    let available = self.available_stock(&chunk).await?;
                    if let Err(refusal) = plan_reservation(&chunk, |id| available.get(id).copied().flatten()) {
                        let taken = record.lines[..record.lines.len() - record.pending.len()].to_vec();
                        let refused = Record {
                            state: ReservationState::Refused,
                            lines: Vec::new(),
                            refusal: Some(refusal),
                            pending: Vec::new(),
                            pending_change: None,
                        };
                        if let Ok(refused) =
                            self.transition(order_id, Some(&record), &refused, LineChange::GiveBack, &taken).await?
                        {
                            record = refused;
                        }
                    }
                    // Else the stock changed under the transaction, and there is enough: again.
                }
                Err(Cancelled::Lines(failed)) => {
                    let failed: HashSet<usize> = failed.into_iter().collect();
                    let kept = chunk.iter().enumerate().filter(|(i, _)| !failed.contains(i)).map(|(_, l)| l.clone());
                    let dropped_first = Record {
                        pending: kept.chain(record.pending[chunk.len()..].iter().cloned()).collect(),
                        ..record.clone()
                    };
                    // Noting the shorter list is itself conditional on the old one.
                    match self.apply(order_id, Some(&record), &dropped_first, change, &[]).await? {
                        Ok(()) => record = dropped_first,
                        Err(_) => continue,
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!("the reservation of order {order_id} kept changing")))
    }

    /// Writes `to` as the record (conditional on it being `from`, or absent when `from` is `None`)
    /// and changes the first 99 of `lines` in the same transaction; the rest are noted as pending.
    async fn transition(
        &self,
        order_id: OrderId,
        from: Option<&Record>,
        to: &Record,
        change: LineChange,
        lines: &[StockLine],
    ) -> Result<Result<Record, Cancelled>, StoreError> {
        let now = lines.len().min(LINES_PER_TRANSACTION);
        let to = Record { pending: lines[now..].to_vec(), pending_change: Some(change), ..to.clone() };
        Ok(self.apply(order_id, from, &to, change, &lines[..now]).await?.map(|()| to))
    }

    /// One transaction: the record from `from` to `to` (conditional on `from`'s state and pending
    /// note, or on no record when `from` is `None`) and `lines` changed by `change`.
    async fn apply(
        &self,
        order_id: OrderId,
        from: Option<&Record>,
        to: &Record,
        change: LineChange,
        lines: &[StockLine],
    ) -> Result<Result<(), Cancelled>, StoreError> {
        let mut items = Vec::with_capacity(lines.len() + 1);
        items.push(self.record_update(order_id, from, to)?);
        for line in lines {
            items.push(self.line_update(line, change)?);
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(error) => match cancelled_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(Err(Cancelled::Record)),
                Some(failed) if failed.iter().any(|f| *f) => Ok(Err(Cancelled::Lines(
                    failed.iter().skip(1).enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect(),
                ))),
                _ => Err(transaction_error(error)),
            },
        }
    }

    fn record_update(
        &self,
        order_id: OrderId,
        from: Option<&Record>,
        to: &Record,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut set = vec!["#state = :state", "#lines = :lines"];
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.reservations)
            .key("order_id", s(order_id.to_string()))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lines", "lines")
            .expression_attribute_names("#refusal", "refusal")
            .expression_attribute_names("#pending", "pending")
            .expression_attribute_names("#op", "pending_op")
            .expression_attribute_values(":state", s(to.state.as_str()))
            .expression_attribute_values(":lines", s(json(&to.lines)?));
        match &to.refusal {
            Some(refusal) => {
                set.push("#refusal = :refusal");
                update = update.expression_attribute_values(":refusal", s(json(refusal)?));
            }
            None => remove.push("#refusal"),
        }
        match to.pending_change.filter(|_| !to.pending.is_empty()) {
            Some(change) => {
                set.push("#pending = :pending, #op = :op");
                update = update
                    .expression_attribute_values(":pending", s(json(&to.pending)?))
                    .expression_attribute_values(":op", s(change.as_str()));
            }
            None => remove.push("#pending, #op"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update = update.update_expression(expression);
        update = match from {
            None => update.condition_expression("attribute_not_exists(order_id)"),
            Some(from) if from.pending.is_empty() => update
                .condition_expression("#state = :from AND attribute_not_exists(#pending)")
                .expression_attribute_values(":from", s(from.state.as_str())),
            Some(from) => update
                .condition_expression("#state = :from AND #pending = :was_pending")
                .expression_attribute_values(":from", s(from.state.as_str()))
                .expression_attribute_values(":was_pending", s(json(&from.pending)?)),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_error)?).build())
    }

    fn line_update(&self, line: &StockLine, change: LineChange) -> Result<TransactWriteItem, StoreError> {
        let (expression, condition) = match change {
            LineChange::Take => (
                "SET #stock = #stock - :q, #reserved = if_not_exists(#reserved, :zero) + :q, \
                 #version = if_not_exists(#version, :zero) + :one",
                "#stock >= :q",
            ),
            LineChange::GiveBack => (
                "SET #stock = #stock + :q, #reserved = if_not_exists(#reserved, :q) - :q, \
                 #version = if_not_exists(#version, :zero) + :one",
                "attribute_exists(#stock)",
            ),
            LineChange::Consume => (
                "SET #reserved = if_not_exists(#reserved, :q) - :q, #version = if_not_exists(#version, :zero) + :one",
                "attribute_exists(product_id) AND attribute_exists(#stock)",
            ),
        };
        let update = Update::builder()
            .table_name(&self.catalog)
            .key("product_id", s(line.product_id.clone()))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#stock", "stock")
            .expression_attribute_names("#reserved", "reserved")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":q", n(line.quantity))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0));
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_error)?).build())
    }

    /// The order's reservation record, read strongly consistent.
    async fn reservation(&self, order_id: OrderId) -> Result<Option<Record>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.reservations)
            .key("order_id", s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        output.item.map(|item| read_record(order_id, &item)).transpose()
    }

    /// The available stock of the lines' products, read strongly consistent: `None` for a product
    /// that is not tracked or not in the catalog.
    async fn available_stock(&self, lines: &[StockLine]) -> Result<HashMap<String, Option<u64>>, StoreError> {
        let mut available = HashMap::with_capacity(lines.len());
        for chunk in lines.chunks(BATCH_GET_KEYS) {
            let mut keys = KeysAndAttributes::builder()
                .consistent_read(true)
                .projection_expression("product_id, #stock")
                .expression_attribute_names("#stock", "stock");
            for line in chunk {
                keys = keys.keys(HashMap::from([("product_id".to_owned(), s(line.product_id.clone()))]));
            }
            let read =
                self.batch_get(HashMap::from([(self.catalog.clone(), keys.build().map_err(build_error)?)])).await?;
            available.extend(read.get(&self.catalog).into_iter().flatten().filter_map(available_of));
        }
        Ok(available)
    }
}

/// A catalog item's product and its available stock (`None`: not tracked).
fn available_of(item: &Attrs) -> Option<(String, Option<u64>)> {
    let id = item.get("product_id").and_then(|v| v.as_s().ok())?;
    Some((id.clone(), number(item, "stock")))
}

/// What a reservation decided, as its record says.
fn outcome(record: Record) -> ReserveOutcome {
    match (record.state, record.refusal) {
        (ReservationState::Reserved, _) => ReserveOutcome::Reserved { lines: record.lines },
        (_, Some(refusal)) => ReserveOutcome::OutOfStock(refusal),
        (state, None) => ReserveOutcome::Settled(state),
    }
}

fn read_record(order_id: OrderId, item: &Attrs) -> Result<Record, StoreError> {
    let corrupt = |what: &str| StoreError::Internal(format!("reservation of order {order_id}: unreadable {what}"));
    let text = |name: &str| item.get(name).and_then(|v: &AttributeValue| v.as_s().ok());
    let parse = |name: &str| -> Result<Vec<StockLine>, StoreError> {
        text(name).map_or(Ok(Vec::new()), |t| serde_json::from_str(t).map_err(|_| corrupt(name)))
    };
    Ok(Record {
        state: text("state").and_then(|t| ReservationState::parse(t)).ok_or_else(|| corrupt("state"))?,
        lines: parse("lines")?,
        refusal: text("refusal").map(|t| serde_json::from_str(t)).transpose().map_err(|_| corrupt("refusal"))?,
        pending: parse("pending")?,
        pending_change: text("pending_op")
            .map(|t| LineChange::parse(t).ok_or_else(|| corrupt("pending_op")))
            .transpose()?,
    })
}
