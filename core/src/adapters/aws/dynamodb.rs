//! Orders, idempotency keys, listing counters and the catalog in DynamoDB.
//!
//! - An order is one item of the orders table, in the layout of [`dynamodb_item`](crate::adapters::dynamodb_item),
//!   plus its listing attributes: `seq` (a number from an atomic counter, the sort key of every
//!   listing index) and the partition keys of the four listing indexes (`lk_all`, `lk_status`,
//!   `lk_customer`, `lk_customer_status`), and `counted_status`, the status the counters count it under.
//! - Every change the API makes is one `TransactWriteItems`: the order (conditional on its version,
//!   or on not existing), the Idempotency-Key record, and the counters of the scopes it enters or
//!   leaves. Counters are kept per scope and per block of 1024 `seq` numbers, as in the embedded
//!   store, so `total` is a sum of block counters and page *n* is found by skipping whole blocks:
//!   a bounded number of requests per page, never a scan.
//! - The workflow's own status writes (Step Functions' `dynamodb:updateItem`) cannot touch counters;
//!   [`DynamoDbStore::reconcile_listing`], called by the stream processor, moves such an order's
//!   listing attributes and counters after it, conditionally, so a replay changes nothing.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};

use super::AwsResources;
use super::errors::{describe, is_transient};
use crate::adapters::dynamodb_item;
use crate::adapters::listing::{BUCKET, SEP, page_start, scope};
use crate::domain::order::{now_millis, rfc3339};
use crate::domain::status_change::check_version;
use crate::domain::{Money, Order, OrderId, OrderStatus, OrderSummary, Product, ProductCatalog, StatusChange};
use crate::ports::{
    CatalogStore, CreateOutcome, IdempotencyRecord, ListFilter, ListRequest, OrderBackup, OrderImage, OrderPage,
    OrderStore, PagePosition, RestoreOutcome, StatusUpdate, StatusWait, StoreError,
};

type Attrs = HashMap<String, AttributeValue>;

/// The counter item that hands out `seq` numbers.
const SEQ_SCOPE: &str = "__seq__";
/// The counters table's items that remember deleted orders (`deleted{SEP}{order_id}`, bucket 0), so
/// that no restore brings one back; listing scopes never start with it.
const DELETED_SCOPE: &str = "deleted";
/// Conditional writes lost to a concurrent writer are tried again this many times.
const WRITE_ATTEMPTS: usize = 5;

/// The listing indexes: name, partition-key attribute.
const INDEX_ALL: (&str, &str) = ("by_all", "lk_all");
const INDEX_STATUS: (&str, &str) = ("by_status", "lk_status");
const INDEX_CUSTOMER: (&str, &str) = ("by_customer", "lk_customer");
const INDEX_CUSTOMER_STATUS: (&str, &str) = ("by_customer_status", "lk_customer_status");

/// The idempotency table's TTL attribute: when a key expires (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

/// The listing indexes of the orders table (name, partition key; `seq` is the sort key), for setting
/// it up and for checking infra/template.yaml.
pub const LISTING_INDEXES: [(&str, &str); 4] = [INDEX_ALL, INDEX_STATUS, INDEX_CUSTOMER, INDEX_CUSTOMER_STATUS];
/// The attributes the listing indexes carry (what a listing shows).
pub const SUMMARY_ATTRIBUTES: [&str; 4] = ["customer_id", "status", "total_cents", "created_at"];

/// Orders, keys, counters and the catalog in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    orders: String,
    catalog: String,
    idempotency: String,
    counters: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn build_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("cannot build the request: {error}"))
}

fn sdk_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if is_transient(&error) {
        StoreError::Unavailable(describe(&error))
    } else {
        StoreError::Internal(describe(&error))
    }
}

/// Which of a transaction's items failed their condition, by position.
fn cancelled_conditions(error: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    match error {
        SdkError::ServiceError(service) => match service.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// A transaction's failure when no condition of ours refused it. Cancelled because another
/// transaction was writing one of its items at the same moment (`TransactionConflict`: the listing
/// counters every create updates make that common under concurrent creates) or because an item was
/// throttled, it is passing trouble (a 503, a redelivery), not an internal error; the rest is
/// classified like any SDK error.
fn transaction_error(error: SdkError<TransactWriteItemsError>) -> StoreError {
    const PASSING: &[&str] = &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];
    let passing = match &error {
        SdkError::ServiceError(service) => match service.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                let codes: Vec<&str> = cancelled.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
                codes.iter().any(|code| PASSING.contains(code)) && !codes.contains(&"ConditionalCheckFailed")
            }
            _ => false,
        },
        _ => false,
    };
    if passing { StoreError::Unavailable(describe(&error)) } else { sdk_error(error) }
}

/// The four listing scopes an order of `customer` in `status` counts in.
fn scopes_of(customer: &str, status: OrderStatus) -> [String; 4] {
    [scope(None, None), scope(None, Some(customer)), scope(Some(status), None), scope(Some(status), Some(customer))]
}

fn customer_status(customer: &str, status: OrderStatus) -> String {
    format!("{customer}{SEP}{status}")
}

/// An order as stored, with what the store keeps beside it.
struct Stored {
    image: OrderImage,
    seq: u64,
    counted_status: OrderStatus,
}

impl DynamoDbStore {
    /// The store over the tables of `resources`.
    pub fn new(client: Client, resources: &AwsResources) -> Self {
        DynamoDbStore {
            client,
            orders: resources.orders_table.clone(),
            catalog: resources.catalog_table.clone(),
            idempotency: resources.idempotency_table.clone(),
            counters: resources.counters_table.clone(),
        }
    }

    async fn next_seq(&self) -> Result<u64, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.counters)
            .key("scope", s(SEQ_SCOPE))
            .key("bucket", n(0))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_error)?;
        output
            .attributes()
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Internal("the sequence counter returned no number".into()))
    }

    async fn load(&self, order_id: OrderId) -> Result<Option<Stored>, StoreError> {
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

    fn counter_update(&self, scope_name: String, seq: u64, delta: i64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.counters)
            .key("scope", s(scope_name))
            .key("bucket", n(seq / BUCKET))
            .update_expression("ADD n :delta")
            .expression_attribute_values(":delta", n(delta))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Counter updates for an order of `customer` entering (`+1`) or leaving (`-1`) every scope.
    fn all_scopes(
        &self,
        customer: &str,
        status: OrderStatus,
        seq: u64,
        delta: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        scopes_of(customer, status).into_iter().map(|name| self.counter_update(name, seq, delta)).collect()
    }

    /// Counter updates for an order moving from one status to another.
    fn status_scopes(
        &self,
        customer: &str,
        from: OrderStatus,
        to: OrderStatus,
        seq: u64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        if from == to {
            return Ok(Vec::new());
        }
        Ok(vec![
            self.counter_update(scope(Some(from), None), seq, -1)?,
            self.counter_update(scope(Some(from), Some(customer)), seq, -1)?,
            self.counter_update(scope(Some(to), None), seq, 1)?,
            self.counter_update(scope(Some(to), Some(customer)), seq, 1)?,
        ])
    }

    /// Writes a status change made from `current` (conditional on its version) with its counters.
    /// `Ok(None)` when another writer changed the order first.
    async fn write_status(&self, current: &Stored, to: OrderStatus) -> Result<Option<Order>, StoreError> {
        let mut order = current.image.order.clone();
        order.status = to;
        order.version += 1;
        order.updated_at = now_millis();
        let update = Update::builder()
            .table_name(&self.orders)
            .key("order_id", s(order.order_id.to_string()))
            .update_expression(
                "SET #status = :to, #version = :next, updated_at = :now, lk_status = :to, \
                 lk_customer_status = :cs, counted_status = :to",
            )
            .condition_expression("#version = :current")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":next", n(order.version))
            .expression_attribute_values(":current", n(current.image.order.version))
            .expression_attribute_values(":now", s(rfc3339::format(&order.updated_at)))
            .expression_attribute_values(":cs", s(customer_status(&order.customer_id, to)))
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.status_scopes(&order.customer_id, current.counted_status, to, current.seq)?);
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Some(order)),
            Err(error) if cancelled_conditions(&error).is_some_and(|failed| failed.first() == Some(&true)) => Ok(None),
            Err(error) => Err(transaction_error(error)),
        }
    }

    /// Moves an order's listing attributes and counters after a status change made outside the API
    /// (the workflow writes the status directly). Does nothing when they already agree.
    pub async fn reconcile_listing(&self, order_id: OrderId) -> Result<(), StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(current) = self.load(order_id).await? else { return Ok(()) };
            let status = current.image.order.status;
            if current.counted_status == status {
                return Ok(());
            }
            let customer = current.image.order.customer_id.clone();
            let update = Update::builder()
                .table_name(&self.orders)
                .key("order_id", s(order_id.to_string()))
                .update_expression("SET lk_status = :status, lk_customer_status = :cs, counted_status = :status")
                .condition_expression("counted_status = :counted AND #status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()))
                .expression_attribute_values(":counted", s(current.counted_status.as_str()))
                .expression_attribute_values(":cs", s(customer_status(&customer, status)))
                .build()
                .map_err(build_error)?;
            let mut items = vec![TransactWriteItem::builder().update(update).build()];
            items.extend(self.status_scopes(&customer, current.counted_status, status, current.seq)?);
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(()),
                Err(error) if cancelled_conditions(&error).is_some_and(|failed| failed.first() == Some(&true)) => {
                    continue;
                }
                Err(error) => return Err(transaction_error(error)),
            }
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing while its listing was reconciled")))
    }

    /// Writes a key's record unless a live one holds the key.
    fn idempotency_put(&self, record: &IdempotencyRecord) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.idempotency)
            .item("key", s(record.key.clone()))
            .item("fingerprint", s(record.fingerprint.clone()))
            .item("order_id", s(record.order_id.to_string()))
            .item("execution_arn", s(record.execution_arn.clone()))
            .item(EXPIRES_AT, n(record.expires_at.timestamp()))
            .condition_expression("attribute_not_exists(#key) OR expires_at <= :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":now", n(Utc::now().timestamp()))
            .build()
            .map_err(build_error)
    }

    fn deletion_scope(order_id: OrderId) -> String {
        format!("{DELETED_SCOPE}{SEP}{order_id}")
    }

    /// Whether this store deleted the order.
    async fn was_deleted(&self, order_id: OrderId) -> Result<bool, StoreError> {
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

    async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.idempotency)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let Some(item) = output.item else { return Ok(None) };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let expires_at: i64 =
            item.get(EXPIRES_AT).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        if expires_at <= Utc::now().timestamp() {
            return Ok(None);
        }
        let corrupt = || StoreError::Internal(format!("idempotency record {key:?} is incomplete"));
        Ok(Some(IdempotencyRecord {
            key: key.to_owned(),
            fingerprint: text("fingerprint").ok_or_else(corrupt)?,
            order_id: text("order_id").and_then(|id| id.parse().ok()).ok_or_else(corrupt)?,
            execution_arn: text("execution_arn").ok_or_else(corrupt)?,
            expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
        }))
    }

    async fn query_all_counters(&self, scope_name: &str) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut buckets = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.counters)
                .key_condition_expression("#scope = :scope")
                .expression_attribute_names("#scope", "scope")
                .expression_attribute_values(":scope", s(scope_name))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in output.items() {
                let number =
                    |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
                if let (Some(bucket), Some(count)) = (number("bucket"), number("n"))
                    && count > 0
                {
                    buckets.push((bucket as u64, count as u64));
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(buckets),
            }
        }
    }

    /// Up to `wanted` summaries below `upper` (exclusive) in `seq`, newest first, after skipping `skip`.
    async fn query_index(
        &self,
        filter: &ListFilter,
        upper: u64,
        skip: usize,
        wanted: usize,
    ) -> Result<Vec<(u64, OrderSummary)>, StoreError> {
        let ((index, key_attribute), key_value) = match (&filter.status, &filter.customer_id) {
            (None, None) => (INDEX_ALL, "ALL".to_owned()),
            (Some(status), None) => (INDEX_STATUS, status.as_str().to_owned()),
            (None, Some(customer)) => (INDEX_CUSTOMER, customer.clone()),
            (Some(status), Some(customer)) => (INDEX_CUSTOMER_STATUS, customer_status(customer, *status)),
        };
        let mut found = Vec::with_capacity(wanted);
        let mut skipped = 0;
        let mut start: Option<Attrs> = None;
        while found.len() < wanted {
            let remaining = skip - skipped + wanted - found.len();
            let output = self
                .client
                .query()
                .table_name(&self.orders)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND seq < :upper")
                .expression_attribute_names("#pk", key_attribute)
                .expression_attribute_values(":pk", s(key_value.clone()))
                .expression_attribute_values(":upper", n(upper))
                .scan_index_forward(false)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in output.items() {
                if skipped < skip {
                    skipped += 1;
                    continue;
                }
                if found.len() < wanted {
                    found.push(summary(item)?);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(found)
    }
}

fn stored(item: Attrs) -> Result<Stored, StoreError> {
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok());
    let seq = number("seq").ok_or_else(|| StoreError::Internal("order item without seq".into()))?;
    let counted_status = item
        .get(dynamodb_item::COUNTED_STATUS)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Internal("order item without counted_status".into()))?;
    let image =
        dynamodb_item::from_item(serde_dynamo::Item::from(item)).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(Stored { image, seq, counted_status })
}

fn summary(item: &Attrs) -> Result<(u64, OrderSummary), StoreError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StoreError::Internal(format!("listing item without {name}")))
    };
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Internal(format!("listing item without {name}")))
    };
    let corrupt = |what: &str, e: &dyn std::fmt::Display| StoreError::Internal(format!("listing item {what}: {e}"));
    Ok((
        number("seq")? as u64,
        OrderSummary {
            order_id: text("order_id")?.parse().map_err(|e| corrupt("order_id", &e))?,
            customer_id: text("customer_id")?,
            total_amount: Money::from_cents(number("total_cents")?),
            status: text("status")?.parse().map_err(|e| corrupt("status", &e))?,
            created_at: DateTime::parse_from_rfc3339(&text("created_at")?)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| corrupt("created_at", &e))?,
        },
    ))
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
impl OrderStore for DynamoDbStore {
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.idempotency_record(key).await
    }

    async fn create_order(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        let seq = self.next_seq().await?;
        let image = OrderImage::created(order.clone(), idempotency.map(IdempotencyRecord::binding));
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
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(error) => match (cancelled_conditions(&error), idempotency) {
                (Some(failed), Some(record)) if failed.get(1) == Some(&true) => {
                    match self.idempotency_record(&record.key).await? {
                        Some(first) if first.fingerprint == record.fingerprint => Ok(CreateOutcome::Replayed(first)),
                        Some(_) => Err(StoreError::IdempotencyKeyReused),
                        None => {
                            Err(StoreError::Unavailable("idempotency record changed during the write; retry".into()))
                        }
                    }
                }
                (Some(failed), _) if failed.first() == Some(&true) => Err(StoreError::AlreadyExists(order.order_id)),
                _ => Err(transaction_error(error)),
            },
        }
    }

    async fn get_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.load(order_id).await?.map(|stored| stored.image.order))
    }

    async fn list_orders(&self, request: &ListRequest) -> Result<OrderPage, StoreError> {
        let filter = &request.filter;
        let buckets = self.query_all_counters(&scope(filter.status, filter.customer_id.as_deref())).await?;
        let total: u64 = buckets.iter().map(|(_, count)| count).sum();
        let limit = request.limit as usize;
        let (upper, skip) = match &request.position {
            PagePosition::Number(page) => {
                let skip = page.saturating_sub(1).saturating_mul(u64::from(request.limit));
                match page_start(&buckets, skip) {
                    Some((upper, inner)) => (upper, inner as usize),
                    None => return Ok(OrderPage { orders: Vec::new(), total, next_cursor: None }),
                }
            }
            PagePosition::After(after) => (*after, 0),
        };
        let mut page = self.query_index(filter, upper, skip, limit + 1).await?;
        let has_more = page.len() > limit;
        page.truncate(limit);
        let next_cursor = page.last().filter(|_| has_more).map(|(seq, _)| *seq);
        Ok(OrderPage { orders: page.into_iter().map(|(_, summary)| summary).collect(), total, next_cursor })
    }

    async fn update_status(
        &self,
        order_id: OrderId,
        to: OrderStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.load(order_id).await?.ok_or(StoreError::NotFound(order_id))?;
            match StatusChange::decide(&current.image.order, to, expected_version)? {
                StatusChange::Unchanged => return Ok(StatusUpdate { order: current.image.order, changed: false }),
                StatusChange::Move { .. } => {
                    if let Some(updated) = self.write_status(&current, to).await? {
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
        to: OrderStatus,
    ) -> Result<StatusUpdate, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.load(order_id).await?.ok_or(StoreError::NotFound(order_id))?;
            if !from.contains(&current.image.order.status) {
                return Err(StoreError::ConditionFailed { current: current.image.order.status });
            }
            if let Some(updated) = self.write_status(&current, to).await? {
                return Ok(StatusUpdate { order: updated, changed: true });
            }
        }
        Err(StoreError::Unavailable(format!("order {order_id} kept changing; retry")))
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
        let image = OrderImage { order: order.clone(), awaiting: None, idempotency: backup.idempotency.clone() };
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

    async fn reconcile(&self, order_id: OrderId) -> Result<(), StoreError> {
        self.reconcile_listing(order_id).await
    }
}

#[async_trait]
impl CatalogStore for DynamoDbStore {
    async fn products(&self, product_ids: &[&str]) -> Result<ProductCatalog, StoreError> {
        let mut products = Vec::with_capacity(product_ids.len());
        for chunk in product_ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder();
            for id in chunk {
                keys = keys.keys(HashMap::from([("product_id".to_owned(), s(*id))]));
            }
            let mut request = Some(HashMap::from([(self.catalog.clone(), keys.build().map_err(build_error)?)]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let output =
                    self.client.batch_get_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
                for item in output.responses().and_then(|r| r.get(&self.catalog)).into_iter().flatten() {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    let cents = item.get("unit_price_cents").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
                    if let (Some(product_id), Some(name), Some(cents)) = (text("product_id"), text("name"), cents) {
                        products.push(Product { product_id, name, unit_price: Money::from_cents(cents) });
                    }
                }
                request = output.unprocessed_keys;
            }
        }
        Ok(products.into_iter().collect())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        // One item is enough to know (a scan with a limit reads at most that many).
        let output = self
            .client
            .scan()
            .table_name(&self.catalog)
            .projection_expression("product_id")
            .limit(1)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.items().is_empty())
    }

    async fn replace_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        // The catalog is small: read its ids, delete those no longer listed, write the rest.
        let mut existing = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.catalog)
                .projection_expression("product_id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            existing
                .extend(output.items().iter().filter_map(|i| i.get("product_id").and_then(|v| v.as_s().ok()).cloned()));
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let products = catalog.products();
        let mut writes = Vec::new();
        for id in existing.iter().filter(|id| catalog.get(id).is_none()) {
            let delete = DeleteRequest::builder().key("product_id", s(id.clone())).build().map_err(build_error)?;
            writes.push(WriteRequest::builder().delete_request(delete).build());
        }
        for product in &products {
            let put = PutRequest::builder()
                .item("product_id", s(product.product_id.clone()))
                .item("name", s(product.name.clone()))
                .item("unit_price_cents", n(product.unit_price.cents()))
                .build()
                .map_err(build_error)?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        for chunk in writes.chunks(25) {
            let mut request = Some(HashMap::from([(self.catalog.clone(), chunk.to_vec())]));
            while let Some(items) = request.take().filter(|r| !r.is_empty()) {
                let output =
                    self.client.batch_write_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
                request = output.unprocessed_items;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;

    use super::*;

    /// The error DynamoDB gives a cancelled transaction, with one reason per item.
    fn cancelled(codes: &[&str]) -> SdkError<TransactWriteItemsError> {
        let reasons = codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect();
        let error = TransactionCanceledException::builder()
            .message("Transaction cancelled")
            .set_cancellation_reasons(Some(reasons))
            .build();
        let response = HttpResponse::new(400.try_into().unwrap(), "".into());
        SdkError::service_error(TransactWriteItemsError::TransactionCanceledException(error), response)
    }

    #[test]
    fn a_transaction_cancelled_by_a_concurrent_writer_is_passing_trouble() {
        // Given two creates racing for the same listing counter item, the loser is cancelled
        let conflict = cancelled(&["None", "None", "TransactionConflict"]);
        // Then it is a 503 to the client (or a redelivery), not an internal error
        assert!(matches!(transaction_error(conflict), StoreError::Unavailable(_)));
        assert!(matches!(transaction_error(cancelled(&["ThrottlingError"])), StoreError::Unavailable(_)));
    }

    #[test]
    fn a_transaction_cancelled_by_a_condition_or_a_validation_error_is_not_passing() {
        let condition = cancelled(&["ConditionalCheckFailed", "TransactionConflict"]);
        assert!(matches!(transaction_error(condition), StoreError::Internal(_)));
        assert!(matches!(transaction_error(cancelled(&["ValidationError"])), StoreError::Internal(_)));
    }
}
