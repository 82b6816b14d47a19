//! The listings: the orders table's listing indexes (by `seq`, newest first) and the counters table,
//! which hands out `seq` numbers and counts the orders of each listing scope per block of them;
//! reading a page, the counter updates every order write carries, and the reconciliation after a
//! status change made outside the API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{
    Attrs, DynamoDbStore, WRITE_ATTEMPTS, build_error, cancelled_conditions, n, s, sdk_error, transaction_error,
};
use crate::adapters::listing::{BUCKET, SEP, page_start, scope};
use crate::domain::{Money, OrderId, OrderStatus, OrderSummary};
use crate::ports::{ListFilter, ListRequest, OrderPage, PagePosition, StoreError};

/// The counter item that hands out `seq` numbers.
const SEQ_SCOPE: &str = "__seq__";

/// The listing indexes: name, partition-key attribute.
const INDEX_ALL: (&str, &str) = ("by_all", "lk_all");
const INDEX_STATUS: (&str, &str) = ("by_status", "lk_status");
const INDEX_CUSTOMER: (&str, &str) = ("by_customer", "lk_customer");
const INDEX_CUSTOMER_STATUS: (&str, &str) = ("by_customer_status", "lk_customer_status");

/// The listing indexes of the orders table (name, partition key; `seq` is the sort key), for setting
/// it up and for checking infra/template.yaml.
pub const LISTING_INDEXES: [(&str, &str); 4] = [INDEX_ALL, INDEX_STATUS, INDEX_CUSTOMER, INDEX_CUSTOMER_STATUS];
/// The attributes the listing indexes carry (what a listing shows).
pub const SUMMARY_ATTRIBUTES: [&str; 4] = ["customer_id", "status", "total_cents", "created_at"];

/// The four listing scopes an order of `customer` in `status` counts in.
pub(super) fn scopes_of(customer: &str, status: OrderStatus) -> [String; 4] {
    [scope(None, None), scope(None, Some(customer)), scope(Some(status), None), scope(Some(status), Some(customer))]
}

pub(super) fn customer_status(customer: &str, status: OrderStatus) -> String {
    format!("{customer}{SEP}{status}")
}

/// After a create lost the race for the number it read, how long creates take their numbers from
/// the counter's increment instead (a request of their own): under contention, reading the number
/// first would cost the losers two requests more each.
const NUMBERING_PAUSE: Duration = Duration::from_secs(10);

impl DynamoDbStore {
    /// Whether creates read the counter (with their other reads) rather than increment it.
    pub(super) fn reads_numbers(&self) -> bool {
        let paused_until = self.numbering_paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        paused_until.is_none_or(|until| Instant::now() >= until)
    }

    /// A create lost the race for the number it read: increment the counter for a while.
    pub(super) fn pause_number_reads(&self) {
        let mut paused_until = self.numbering_paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *paused_until = Some(Instant::now() + NUMBERING_PAUSE);
    }

    /// The key of the counter item that hands out `seq` numbers.
    pub(super) fn seq_key() -> HashMap<String, AttributeValue> {
        HashMap::from([("scope".to_owned(), s(SEQ_SCOPE)), ("bucket".to_owned(), n(0))])
    }

    /// For a create's transaction: the counter moves from `after` to `after + 1`, only if it still
    /// stands at `after` (no item yet, for 0).
    pub(super) fn seq_claim(&self, after: u64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.counters)
            .set_key(Some(Self::seq_key()))
            .update_expression("SET n = :next")
            .expression_attribute_values(":next", n(after + 1));
        let update = if after == 0 {
            update.condition_expression("attribute_not_exists(n)")
        } else {
            update.condition_expression("n = :after").expression_attribute_values(":after", n(after))
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_error)?).build())
    }

    pub(super) async fn next_seq(&self) -> Result<u64, StoreError> {
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

    pub(super) fn counter_update(
        &self,
        scope_name: String,
        seq: u64,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
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
    pub(super) fn all_scopes(
        &self,
        customer: &str,
        status: OrderStatus,
        seq: u64,
        delta: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        scopes_of(customer, status).into_iter().map(|name| self.counter_update(name, seq, delta)).collect()
    }

    /// Counter updates for an order moving from one status to another.
    pub(super) fn status_scopes(
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

    /// Moves an order's listing attributes and counters after a status change made outside the API
    /// (the workflow writes the status directly). Does nothing when they already agree.
    pub async fn refresh_listing_counters(&self, order_id: OrderId) -> Result<(), StoreError> {
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
        Err(StoreError::Unavailable(format!("order {order_id} kept changing while its listing was refreshed")))
    }

    /// One page of a listing: the scope's counters give the total and where the page starts.
    pub(super) async fn list(&self, request: &ListRequest) -> Result<OrderPage, StoreError> {
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
