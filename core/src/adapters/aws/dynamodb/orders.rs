//! Orders in the orders table: reading one, and every write of one (create, status change,
//! transition, delete with the tombstone that keeps a restore from bringing it back, workflow wait,
//! restore), each one `TransactWriteItems` conditional on what it was decided on, with the counters
//! and the key record it moves; the [`OrderStore`] port on them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use chrono::Utc;

use super::catalog::read_entry;
use super::idempotency::read_idempotency;
use super::listing::{customer_status, scopes_of};
use super::stock::BATCH_GET_KEYS;
use super::stock::LINES_BESIDE_ORDER;
use super::{
    Attrs, DynamoDbStore, WRITE_ATTEMPTS, build_error, cancelled_conditions, json, last_item_refused, n, number, s,
    sdk_error, transaction_error,
};
use crate::adapters::dynamodb_item;
use crate::adapters::listing::SEP;
use crate::adapters::status_change::WaitAfter;
use crate::domain::order::{now_millis, rfc3339};
use crate::domain::status_change::check_version;
use crate::domain::{FailureReason, NewStatus, Order, OrderId, OrderStatus, StatusChange, StockLine};
use crate::ports::{
    CatalogStore, CreateLookup, CreateLookups, CreateOutcome, IdempotencyRecord, ListRequest, ListingPlace,
    OrderBackup, OrderImage, OrderPage, OrderStore, RestoreOutcome, StatusUpdate, StatusWait, StoreError,
};

/// The counters table's items that remember deleted orders (`deleted{SEP}{order_id}`, bucket 0), so
/// that no restore brings one back; listing scopes never start with it.
const DELETED_SCOPE: &str = "deleted";

/// An order as stored, with what the store keeps beside it.
pub(super) struct Stored {
    pub(super) image: OrderImage,
    pub(super) seq: u64,
    pub(super) counted_status: OrderStatus,
    /// The lines its reservation holds, as its processing noted them (when they fit one
    /// transaction with the order): what its delivery consumes.
    pub(super) reserved_lines: Option<Vec<StockLine>>,
}

/// The attribute in which an order's item notes the lines its reservation holds.
const RESERVED_LINES: &str = "reserved_lines";

impl DynamoDbStore {
    pub(super) async fn load(&self, order_id: OrderId) -> Result<Option<Stored>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.orders)
            .key("order_id", s(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        output.item.map(stored).transpose()
    }

    /// Writes a status change made from `current` (conditional on its version) with its counters.
    /// `Ok(None)` when another writer changed the order first.
    /// `wait` says whether the workflow's wait stays on the order.
    pub(super) async fn write_status(
        &self,
        current: &Stored,
        to: NewStatus,
        wait: WaitAfter,
    ) -> Result<Option<Order>, StoreError> {
        self.write_status_consuming(current, to, None, wait).await
    }

    /// A status change allowed only from `from`, retried when another writer came first.
    async fn transition_from(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        to: NewStatus,
        wait: WaitAfter,
    ) -> Result<StatusUpdate, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.load(order_id).await?.ok_or(StoreError::NotFound(order_id))?;
            if !from.contains(&current.image.order.status) {
                return Err(StoreError::ConditionFailed { current: current.image.order.status });
            }
            if let Some(updated) = self.write_status(&current, to.clone(), wait).await? {
                return Ok(StatusUpdate { order: updated, changed: true });
            }
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing; retry")))
    }

    /// [`Self::write_status`], and with `consumed`, the lines its reservation holds, the delivery's
    /// consumption in the same transaction: the reservation record from reserved to consumed, the
    /// products' reserved units taken out, the order marked `stock_consumed`. A reservation no
    /// longer held as noted (settled meanwhile, a product gone) leaves the consumption to the change
    /// reactions: the status is written alone.
    async fn write_status_consuming(
        &self,
        current: &Stored,
        to: NewStatus,
        consumed: Option<&[StockLine]>,
        wait: WaitAfter,
    ) -> Result<Option<Order>, StoreError> {
        let mut consumed = consumed;
        loop {
            let (order, items) = self.status_items(current, to.clone(), consumed, wait)?;
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(Some(order)),
                Err(error) => match cancelled_conditions(&error) {
                    Some(failed) if failed.first() == Some(&true) => return Ok(None),
                    Some(failed) if consumed.is_some() && failed.iter().any(|f| *f) => consumed = None,
                    _ => return Err(transaction_error(error)),
                },
            }
        }
    }

    /// The items of a status change: the order (conditional on its version), its counters, and
    /// with `consumed` the delivery's consumption.
    fn status_items(
        &self,
        current: &Stored,
        to: NewStatus,
        consumed: Option<&[StockLine]>,
        wait: WaitAfter,
    ) -> Result<(Order, Vec<TransactWriteItem>), StoreError> {
        let order = current.image.order.moved_to(to);
        let mut set = Vec::new();
        let mut remove = Vec::new();
        if wait == WaitAfter::Removed {
            remove.extend(["awaiting_status", "task_token"]);
        }
        let mut values = Vec::new();
        match &order.failure_reason {
            Some(reason) => {
                set.push("failure_reason = :reason");
                values.push((":reason", s(reason)));
            }
            None => remove.push("failure_reason"),
        }
        if consumed.is_some() {
            set.push("stock_consumed = :consumed");
            values.push((":consumed", AttributeValue::Bool(true)));
        }
        let mut items = self.order_write(current, &order, &set, &remove, values)?;
        if let Some(lines) = consumed {
            items.extend(self.consumption_items(order.order_id, lines)?);
        }
        Ok((order, items))
    }

    /// The items that begin an order's processing once its stock is held: the order (conditional on
    /// its version) moved from pending to `processing` with the workflow's wait kept on it, and the
    /// listing counters it leaves and enters. An order already further on keeps its status.
    pub(super) fn processing_items(
        &self,
        current: &Stored,
        wait: &StatusWait,
        reserved: &[StockLine],
    ) -> Result<(Order, Vec<TransactWriteItem>), StoreError> {
        let before = &current.image.order;
        let order = if before.status == OrderStatus::Pending {
            before.moved_to(NewStatus { status: OrderStatus::Processing, reason: None })
        } else {
            before.clone()
        };
        let mut set = vec!["awaiting_status = :awaiting", "task_token = :token"];
        let mut values = vec![(":awaiting", s(wait.status.as_str())), (":token", s(wait.task_token.clone()))];
        if reserved.len() <= LINES_BESIDE_ORDER {
            set.push("reserved_lines = :reserved");
            values.push((":reserved", s(json(reserved)?)));
        }
        let items = self.order_write(current, &order, &set, &[], values)?;
        Ok((order, items))
    }

    /// The write of `order` over `current`, conditional on `current`'s version: its status move,
    /// when it has one (status, version, time, listing attributes, and the counters it leaves and
    /// enters), with the further `set` clauses (their `values`) and `remove`d attributes.
    fn order_write(
        &self,
        current: &Stored,
        order: &Order,
        set: &[&str],
        remove: &[&str],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let moves = order.status != current.image.order.status;
        let mut clauses: Vec<&str> = Vec::with_capacity(set.len() + 6);
        let mut update = Update::builder()
            .table_name(&self.orders)
            .key("order_id", s(order.order_id.to_string()))
            .condition_expression("#version = :current")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":current", n(current.image.order.version));
        if moves {
            clauses.extend([
                "#status = :to",
                "#version = :next",
                "updated_at = :now",
                "lk_status = :to",
                "lk_customer_status = :cs",
                "counted_status = :to",
            ]);
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":to", s(order.status.as_str()))
                .expression_attribute_values(":next", n(order.version))
                .expression_attribute_values(":now", s(rfc3339::format(&order.updated_at)))
                .expression_attribute_values(":cs", s(customer_status(&order.customer_id, order.status)));
        }
        clauses.extend_from_slice(set);
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let mut expression = format!("SET {}", clauses.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = update.update_expression(expression).build().map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if moves {
            items.extend(self.status_scopes(&order.customer_id, current.counted_status, order.status, current.seq)?);
        }
        Ok(items)
    }

    /// What a create's cancelled transaction means: a repeat of an earlier request with the same
    /// key, a key used with another request, an order id taken, or passing trouble.
    async fn refused_create(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
        failed: Vec<bool>,
        error: SdkError<TransactWriteItemsError>,
    ) -> Result<CreateOutcome, StoreError> {
        match idempotency {
            Some(record) if failed.get(1) == Some(&true) => match self.idempotency_record(&record.key).await? {
                Some(first) if first.fingerprint == record.fingerprint => Ok(CreateOutcome::Replayed(first)),
                Some(_) => Err(StoreError::IdempotencyKeyReused),
                None => Err(StoreError::Unavailable("idempotency record changed during the write; retry".into())),
            },
            _ if failed.first() == Some(&true) => Err(StoreError::AlreadyExists(order.order_id)),
            _ => Err(transaction_error(error)),
        }
    }

    fn deletion_scope(order_id: OrderId) -> String {
        format!("{DELETED_SCOPE}{SEP}{order_id}")
    }

    /// Whether this store deleted the order.
    pub(super) async fn was_deleted(&self, order_id: OrderId) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.counters)
            .key("scope", s(Self::deletion_scope(order_id)))
            .key("bucket", n(0))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.item.is_some())
    }
}

pub(super) fn stored(item: Attrs) -> Result<Stored, StoreError> {
    let reserved_lines = item
        .get(RESERVED_LINES)
        .and_then(|v| v.as_s().ok())
        .map(|text| serde_json::from_str(text))
        .transpose()
        .map_err(|e| StoreError::Internal(format!("unreadable {RESERVED_LINES}: {e}")))?;
    let seq: u64 = number(&item, "seq").ok_or_else(|| StoreError::Internal("order item without seq".into()))?;
    let counted_status = item
        .get(dynamodb_item::COUNTED_STATUS)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal("order item without counted_status".into()))?;
    let image =
        dynamodb_item::from_item(serde_dynamo::Item::from(item)).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(Stored { image, seq, counted_status, reserved_lines })
}

/// The order's item with its listing attributes.
fn order_item(image: &OrderImage, seq: u64) -> Result<Attrs, StoreError> {
    let order = &image.order;
    let mut item: Attrs = dynamodb_item::to_item(image).map_err(|e| StoreError::Internal(e.to_string()))?.into();
    item.insert("seq".into(), n(seq));
    item.insert("lk_all".into(), s("ALL"));
    item.insert("lk_status".into(), s(order.status.as_str()));
    item.insert("lk_customer".into(), s(order.customer_id.clone()));
    item.insert("lk_customer_status".into(), s(customer_status(&order.customer_id, order.status)));
    item.insert(dynamodb_item::COUNTED_STATUS.into(), s(order.status.as_str()));
    Ok(item)
}

#[async_trait]
impl CreateLookups for DynamoDbStore {
    /// One strongly consistent `BatchGetItem` of the key's record, the products and the listing
    /// counter (the products' prices may be read eventually consistent: a price changed a moment
    /// ago is as good as one changed a moment later). While creates race for numbers, or when the
    /// keys do not fit one request, the number is taken by the counter's increment beside the read.
    async fn look_before_create(
        &self,
        idempotency_key: Option<&str>,
        product_ids: &[&str],
    ) -> Result<CreateLookup, StoreError> {
        let keys = product_ids.len() + usize::from(idempotency_key.is_some()) + 1;
        if !self.reads_numbers() || keys > BATCH_GET_KEYS {
            let earlier = async {
                match idempotency_key {
                    Some(key) => self.idempotency_record(key).await,
                    None => Ok(None),
                }
            };
            let (earlier, catalog, seq) =
                tokio::join!(earlier, CatalogStore::products(self, product_ids), self.next_seq());
            return Ok(CreateLookup { earlier: earlier?, catalog: catalog?, place: ListingPlace::Taken(seq?) });
        }
        let mut request = HashMap::new();
        if !product_ids.is_empty() {
            let mut products = KeysAndAttributes::builder();
            for id in product_ids {
                products = products.keys(HashMap::from([("product_id".to_owned(), s(*id))]));
            }
            request.insert(self.catalog.clone(), products.build().map_err(build_error)?);
        }
        let counter = KeysAndAttributes::builder().consistent_read(true).keys(Self::seq_key());
        request.insert(self.counters.clone(), counter.build().map_err(build_error)?);
        if let Some(key) = idempotency_key {
            let record =
                KeysAndAttributes::builder().consistent_read(true).keys(HashMap::from([("key".to_owned(), s(key))]));
            request.insert(self.idempotency.clone(), record.build().map_err(build_error)?);
        }
        let found = self.batch_get(request).await?;
        let read = |table: &str| found.get(table).into_iter().flatten();
        let catalog = read(&self.catalog).filter_map(read_entry).map(|entry| entry.product).collect();
        let after = read(&self.counters).next().and_then(|counter| number(counter, "n")).unwrap_or(0);
        let earlier = match (idempotency_key, read(&self.idempotency).next()) {
            (Some(key), Some(item)) => read_idempotency(key, item)?,
            _ => None,
        };
        Ok(CreateLookup { earlier, catalog, place: ListingPlace::Next { after } })
    }
}

#[async_trait]
impl OrderStore for DynamoDbStore {
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.idempotency_record(key).await
    }

    async fn create_order_at(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
        place: ListingPlace,
        workflow_started: bool,
    ) -> Result<CreateOutcome, StoreError> {
        let (seq, claim) = match place {
            ListingPlace::AtWrite => (self.next_seq().await?, None),
            ListingPlace::Taken(seq) => (seq, None),
            ListingPlace::Next { after } => (after + 1, Some(after)),
        };
        let image = OrderImage {
            workflow_started,
            ..OrderImage::created(order.clone(), idempotency.map(IdempotencyRecord::binding))
        };
        let put_order = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(order_item(&image, seq)?))
            .condition_expression("attribute_not_exists(order_id)")
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().put(put_order).build()];
        if let Some(record) = idempotency {
            items.push(TransactWriteItem::builder().put(self.idempotency_put(record)?).build());
        }
        items.extend(self.all_scopes(&order.customer_id, order.status, seq, 1)?);
        if let Some(after) = claim {
            items.push(self.seq_claim(after)?);
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(error) => {
                let failed = cancelled_conditions(&error);
                let refused_for_key_or_id = failed.as_ref().is_some_and(|failed| {
                    failed.first() == Some(&true) || (idempotency.is_some() && failed.get(1) == Some(&true))
                });
                if claim.is_some() && !refused_for_key_or_id && last_item_refused(&error) {
                    // Another create took the number read (or was taking it): take one from the
                    // counter, and write again.
                    self.pause_number_reads();
                    let seq = self.next_seq().await?;
                    let place = ListingPlace::Taken(seq);
                    return Box::pin(self.create_order_at(order, idempotency, place, workflow_started)).await;
                }
                match failed {
                    Some(failed) => self.refused_create(order, idempotency, failed, error).await,
                    None => Err(transaction_error(error)),
                }
            }
        }
    }

    async fn get_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.load(order_id).await?.map(|stored| stored.image.order))
    }

    async fn list_orders(&self, request: &ListRequest) -> Result<OrderPage, StoreError> {
        self.list(request).await
    }

    async fn update_status(
        &self,
        order_id: OrderId,
        to: NewStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.load(order_id).await?.ok_or(StoreError::NotFound(order_id))?;
            let change = StatusChange::decide(&current.image.order, to.status, expected_version)?;
            match change {
                StatusChange::Unchanged => return Ok(StatusUpdate { order: current.image.order, changed: false }),
                StatusChange::Move { .. } => {
                    // A delivery consumes what the order's processing noted it holds, in the same
                    // transaction; without a note (more lines than fit), the change reactions do.
                    let consumed = current.reserved_lines.as_deref().filter(|_| change.consumes_stock());
                    if let Some(updated) =
                        self.write_status_consuming(&current, to.clone(), consumed, WaitAfter::Kept).await?
                    {
                        return Ok(StatusUpdate { order: updated, changed: true });
                    }
                }
            }
            // Another writer changed the order between the read and the write: decide again.
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing; retry")))
    }

    async fn delete_order(&self, order_id: OrderId, expected_version: Option<u64>) -> Result<Order, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.load(order_id).await?.ok_or(StoreError::NotFound(order_id))?;
            let order = current.image.order.clone();
            check_version(&order, expected_version)?;
            let delete = Delete::builder()
                .table_name(&self.orders)
                .key("order_id", s(order_id.to_string()))
                .condition_expression("#version = :current")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":current", n(order.version))
                .build()
                .map_err(build_error)?;
            let remember = Put::builder()
                .table_name(&self.counters)
                .item("scope", s(Self::deletion_scope(order_id)))
                .item("bucket", n(0))
                .item("last_version", n(order.version))
                .item("deleted_at", s(rfc3339::format(&now_millis())))
                .build()
                .map_err(build_error)?;
            let mut items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().put(remember).build(),
            ];
            items.extend(self.all_scopes(&order.customer_id, current.counted_status, current.seq, -1)?);
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(order),
                Err(error) if cancelled_conditions(&error).is_some_and(|f| f.first() == Some(&true)) => continue,
                Err(error) => return Err(transaction_error(error)),
            }
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing; retry")))
    }

    async fn transition(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        to: NewStatus,
    ) -> Result<StatusUpdate, StoreError> {
        self.transition_from(order_id, from, to, WaitAfter::Kept).await
    }

    async fn fail_processing(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: FailureReason,
    ) -> Result<StatusUpdate, StoreError> {
        let to = NewStatus { status: OrderStatus::Failed, reason: Some(reason) };
        self.transition_from(order_id, from, to, WaitAfter::Removed).await
    }

    async fn await_status(&self, order_id: OrderId, wait: StatusWait) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .key("order_id", s(order_id.to_string()))
            .update_expression("SET awaiting_status = :status, task_token = :token")
            .condition_expression("attribute_exists(order_id)")
            .expression_attribute_values(":status", s(wait.status.as_str()))
            .expression_attribute_values(":token", s(wait.task_token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::NotFound(order_id))
            }
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn restore(&self, backup: &OrderBackup) -> Result<RestoreOutcome, StoreError> {
        let order = &backup.order;
        let image = OrderImage::created(order.clone(), backup.idempotency.clone());
        for _ in 0..WRITE_ATTEMPTS {
            if self.was_deleted(order.order_id).await? {
                return Ok(RestoreOutcome::Deleted);
            }
            let current = self.load(order.order_id).await?;
            let (seq, condition, outcome, counters) = match &current {
                Some(stored) if stored.image.order.version >= order.version => {
                    return Ok(RestoreOutcome::AlreadyCurrent);
                }
                Some(stored) => {
                    // Leave the old scopes, enter the new ones; a scope in both nets to nothing (and a
                    // transaction may not touch one item twice).
                    let mut deltas: HashMap<String, i64> = HashMap::new();
                    for name in scopes_of(&stored.image.order.customer_id, stored.counted_status) {
                        *deltas.entry(name).or_default() -= 1;
                    }
                    for name in scopes_of(&order.customer_id, order.status) {
                        *deltas.entry(name).or_default() += 1;
                    }
                    let counters = deltas
                        .into_iter()
                        .filter(|(_, delta)| *delta != 0)
                        .map(|(name, delta)| self.counter_update(name, stored.seq, delta))
                        .collect::<Result<Vec<_>, _>>()?;
                    (stored.seq, "#version = :current".to_owned(), RestoreOutcome::Updated, counters)
                }
                None => {
                    let seq = self.next_seq().await?;
                    (
                        seq,
                        "attribute_not_exists(order_id)".to_owned(),
                        RestoreOutcome::Restored,
                        self.all_scopes(&order.customer_id, order.status, seq, 1)?,
                    )
                }
            };
            let item = order_item(&image, seq)?;
            let write = match &current {
                // Absent: put the whole item.
                None => TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.orders)
                            .set_item(Some(item))
                            .condition_expression(condition)
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
                // Older: set every attribute (and drop a stale workflow wait), only at the version read.
                Some(stored) => {
                    let mut update = Update::builder()
                        .table_name(&self.orders)
                        .key("order_id", s(order.order_id.to_string()))
                        .condition_expression(condition)
                        .expression_attribute_names("#version", "version")
                        .expression_attribute_values(":current", n(stored.image.order.version));
                    let mut sets = vec!["#version = :next".to_owned()];
                    update = update.expression_attribute_values(":next", n(order.version));
                    let rest = item.into_iter().filter(|(name, _)| name != "order_id" && name != "version");
                    for (index, (name, value)) in rest.enumerate() {
                        sets.push(format!("#a{index} = :v{index}"));
                        update = update
                            .expression_attribute_names(format!("#a{index}"), name)
                            .expression_attribute_values(format!(":v{index}"), value);
                    }
                    let expression = format!("SET {} REMOVE awaiting_status, task_token", sets.join(", "));
                    TransactWriteItem::builder()
                        .update(update.update_expression(expression).build().map_err(build_error)?)
                        .build()
                }
            };
            // The order must not be deleted in the meantime: the deletion leaves its mark in the
            // same transaction as the delete.
            let not_deleted = ConditionCheck::builder()
                .table_name(&self.counters)
                .key("scope", s(Self::deletion_scope(order.order_id)))
                .key("bucket", n(0))
                .condition_expression("attribute_not_exists(#scope)")
                .expression_attribute_names("#scope", "scope")
                .build()
                .map_err(build_error)?;
            let mut items = vec![write, TransactWriteItem::builder().condition_check(not_deleted).build()];
            items.extend(counters);
            if let Some(binding) = backup.idempotency.as_ref().filter(|b| b.is_live(Utc::now()))
                && self.idempotency_record(&binding.key).await?.is_none()
            {
                items.push(TransactWriteItem::builder().put(self.idempotency_put(&binding.record_for(order))?).build());
            }
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(outcome),
                // Deleted, changed, or its key taken meanwhile: look again.
                Err(error) if cancelled_conditions(&error).is_some_and(|f| f.contains(&true)) => continue,
                Err(error) => return Err(transaction_error(error)),
            }
        }
        Err(StoreError::Unavailable(format!("order {} kept changing during the restore; retry", order.order_id)))
    }

    async fn refresh_listing(&self, order_id: OrderId) -> Result<(), StoreError> {
        self.refresh_listing_counters(order_id).await
    }
}
