//! The order as a DynamoDB item: the attribute layout of the orders table, used to read stream
//! images (DynamoDB Streams, or the embedded change feed dressed as one) and by the DynamoDB adapter.
//! Amounts are integer cents (`N`), timestamps RFC 3339 strings (`S`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_dynamo::{AttributeValue, Item};

use crate::domain::order::rfc3339;
use crate::domain::{Money, Order, OrderItem};
use crate::ports::{ChangeImages, IdempotencyBinding, OrderImage, StatusWait};

/// The attribute beside an order's item in which the DynamoDB store keeps the status its listing
/// counters count it under (the workflow's own status writes do not move the counters; the change
/// reactions refresh them, see [`change_images`]).
pub const COUNTED_STATUS: &str = "counted_status";

/// The orders table's partition key.
const ORDER_KEY: &str = "order_id";

/// The key of an order's item (what a stream record's `Keys` holds).
pub fn order_key(order_id: &str) -> Item {
    Item::from(std::collections::HashMap::from([(ORDER_KEY.to_owned(), AttributeValue::S(order_id.to_owned()))]))
}

/// The order a stream record's `Keys` name, if they name one.
pub fn order_id_of_key(keys: &Item) -> Option<&str> {
    match keys.get(ORDER_KEY) {
        Some(AttributeValue::S(order_id)) => Some(order_id),
        _ => None,
    }
}

/// Why an item is not an order.
#[derive(Debug, thiserror::Error)]
#[error("not an order item: {0}")]
pub struct ItemError(String);

impl ItemError {
    /// An error with this description.
    pub fn from_message(message: String) -> Self {
        ItemError(message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OrderRecord {
    order_id: String,
    customer_id: String,
    status: String,
    total_cents: i64,
    version: u64,
    created_at: String,
    updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    items: Vec<ItemRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    awaiting_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_fingerprint: Option<String>,
    /// Epoch seconds, as the idempotency table's TTL attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    stock_consumed: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    workflow_started: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ItemRecord {
    product_id: String,
    quantity: u32,
    unit_price_cents: i64,
    line_total_cents: i64,
}

/// The item for an order image.
pub fn to_item(image: &OrderImage) -> Result<Item, ItemError> {
    serde_dynamo::to_item(record_of(image)).map_err(|e| ItemError(e.to_string()))
}

fn record_of(image: &OrderImage) -> OrderRecord {
    let order = &image.order;
    OrderRecord {
        order_id: order.order_id.to_string(),
        customer_id: order.customer_id.clone(),
        status: order.status.as_str().to_owned(),
        total_cents: order.total_amount.cents(),
        version: order.version,
        created_at: rfc3339::format(&order.created_at),
        updated_at: rfc3339::format(&order.updated_at),
        execution_arn: order.execution_arn.clone(),
        failure_reason: order.failure_reason.clone(),
        correlation_id: order.correlation_id.clone(),
        items: order
            .items
            .iter()
            .map(|item| ItemRecord {
                product_id: item.product_id.clone(),
                quantity: item.quantity,
                unit_price_cents: item.unit_price.cents(),
                line_total_cents: item.line_total.cents(),
            })
            .collect(),
        awaiting_status: image.awaiting.as_ref().map(|w| w.status.as_str().to_owned()),
        task_token: image.awaiting.as_ref().map(|w| w.task_token.clone()),
        idempotency_key: image.idempotency.as_ref().map(|b| b.key.clone()),
        idempotency_fingerprint: image.idempotency.as_ref().map(|b| b.fingerprint.clone()),
        idempotency_expires_at: image.idempotency.as_ref().map(|b| b.expires_at.timestamp()),
        stock_consumed: image.stock_consumed,
        workflow_started: image.workflow_started,
    }
}

/// The order image in an item.
pub fn from_item(item: Item) -> Result<OrderImage, ItemError> {
    let record: OrderRecord = serde_dynamo::from_item(item).map_err(|e| ItemError(e.to_string()))?;
    let bad = |what: &str, e: &dyn std::fmt::Display| ItemError(format!("{what}: {e}"));
    let time = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&chrono::Utc))
            .map_err(|e| bad("timestamp", &e))
    };
    let awaiting = match (record.awaiting_status, record.task_token) {
        (Some(status), Some(task_token)) => {
            Some(StatusWait { status: status.parse().map_err(|e| bad("awaiting_status", &e))?, task_token })
        }
        _ => None,
    };
    let idempotency = match (record.idempotency_key, record.idempotency_fingerprint, record.idempotency_expires_at) {
        (Some(key), Some(fingerprint), Some(expires_at)) => Some(IdempotencyBinding {
            key,
            fingerprint,
            expires_at: chrono::DateTime::from_timestamp(expires_at, 0)
                .ok_or_else(|| bad("idempotency_expires_at", &expires_at))?,
        }),
        _ => None,
    };
    Ok(OrderImage {
        order: Order {
            order_id: record.order_id.parse().map_err(|e| bad("order_id", &e))?,
            customer_id: record.customer_id,
            items: record
                .items
                .into_iter()
                .map(|item| OrderItem {
                    product_id: item.product_id,
                    quantity: item.quantity,
                    unit_price: Money::from_cents(item.unit_price_cents),
                    line_total: Money::from_cents(item.line_total_cents),
                })
                .collect(),
            total_amount: Money::from_cents(record.total_cents),
            status: record.status.parse().map_err(|e| bad("status", &e))?,
            version: record.version,
            created_at: time(&record.created_at)?,
            updated_at: time(&record.updated_at)?,
            execution_arn: record.execution_arn,
            failure_reason: record.failure_reason,
            correlation_id: record.correlation_id,
        },
        awaiting,
        idempotency,
        stock_consumed: record.stock_consumed,
        workflow_started: record.workflow_started,
    })
}

/// An order change from a stream record's images (either may be empty: insert, remove): the orders
/// before and after, and the status the DynamoDB store's listing counters count the order under
/// (the [`COUNTED_STATUS`] attribute; absent from the embedded store's images, whose listing follows
/// every write).
pub fn change_images(old: &Item, new: &Item, at: DateTime<Utc>) -> Result<ChangeImages, ItemError> {
    let image = |item: &Item| if item.is_empty() { Ok(None) } else { from_item(item.clone()).map(Some) };
    // Anything but a status name there says nothing: the listing is refreshed, which is always safe.
    let listed_status = match new.get(COUNTED_STATUS) {
        Some(AttributeValue::S(status)) => status.parse().ok(),
        _ => None,
    };
    Ok(ChangeImages { old: image(old)?, new: image(new)?, at, listed_status })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{OrderId, OrderStatus};

    fn sample_image() -> OrderImage {
        let now = crate::domain::order::now_millis();
        OrderImage {
            order: Order {
                order_id: OrderId::generate(),
                customer_id: "CUST001".into(),
                items: vec![OrderItem {
                    product_id: "PROD001".into(),
                    quantity: 2,
                    unit_price: Money::from_cents(2550),
                    line_total: Money::from_cents(5100),
                }],
                total_amount: Money::from_cents(5100),
                status: OrderStatus::Processing,
                version: 2,
                created_at: now,
                updated_at: now,
                execution_arn: None,
                failure_reason: None,
                correlation_id: None,
            },
            awaiting: Some(StatusWait { status: OrderStatus::Shipped, task_token: "tok".into() }),
            idempotency: Some(IdempotencyBinding {
                key: "ERP-0001".into(),
                fingerprint: "f1".into(),
                expires_at: chrono::DateTime::from_timestamp(4_102_444_800, 0).unwrap(),
            }),
            stock_consumed: true,
            workflow_started: true,
        }
    }

    #[test]
    fn an_order_image_survives_the_round_trip_with_cents_as_numbers() {
        let image = sample_image();
        let item = to_item(&image).unwrap();
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(json["total_cents"], serde_json::json!({"N": "5100"}));
        assert_eq!(json["status"], serde_json::json!({"S": "processing"}));
        assert_eq!(json["idempotency_expires_at"], serde_json::json!({"N": "4102444800"}));
        assert_eq!(from_item(item).unwrap(), image);
    }

    #[test]
    fn a_change_says_which_status_the_listing_counts_only_when_the_item_carries_it() {
        // Given the DynamoDB store's item, whose counters still count the order as pending
        let image = sample_image();
        let mut counted = to_item(&image).unwrap();
        counted.insert(COUNTED_STATUS.into(), AttributeValue::S("pending".into()));
        // When a change with it is read
        let change = change_images(&Item::default(), &counted, image.order.updated_at).unwrap();
        // Then the listing's status is known, and the images are the order
        assert_eq!(change.listed_status, Some(OrderStatus::Pending));
        assert_eq!((change.old, change.new), (None, Some(image.clone())));
        // And an item without the attribute (the embedded store's) says nothing
        let plain = change_images(&to_item(&image).unwrap(), &Item::default(), image.order.updated_at).unwrap();
        assert_eq!(plain.listed_status, None);
        assert_eq!((plain.old, plain.new), (Some(image), None));
    }
}
