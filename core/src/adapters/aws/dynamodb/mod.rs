//! The DynamoDB store: orders, idempotency keys, listing counters, the catalog and stock
//! reservations, one module each (`orders`, `idempotency`, `listing`, `catalog`, `stock`). This module holds the store type and
//! what their requests share: attribute values, and the reading of a failed (transactional) write.
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
//!   [`DynamoDbStore::refresh_listing_counters`], called by the change reactions, moves such an order's
//!   listing attributes and counters after it, conditionally, so a replay changes nothing.

mod catalog;
mod idempotency;
mod listing;
mod orders;
mod stock;

pub use idempotency::EXPIRES_AT;
pub use listing::{LISTING_INDEXES, SUMMARY_ATTRIBUTES};

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::AwsResources;
use super::errors::{describe, is_transient};
use crate::ports::StoreError;

type Attrs = HashMap<String, AttributeValue>;

/// Conditional writes lost to a concurrent writer are tried again this many times.
const WRITE_ATTEMPTS: usize = 5;

/// Orders, keys, counters and the catalog in DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoDbStore {
    client: Client,
    orders: String,
    catalog: String,
    idempotency: String,
    counters: String,
    reservations: String,
    /// Until when creates take their listing number from the counter's increment rather than
    /// reading it (set when a create lost a race for the number it read).
    numbering_paused_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
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
            reservations: resources.reservations_table.clone(),
            numbering_paused_until: std::sync::Arc::default(),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A number attribute of an item, if it is there and reads as a `T`.
fn number<T: std::str::FromStr>(item: &Attrs, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// A value kept in an attribute as JSON text (a reservation's lines, its refusal).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
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

impl DynamoDbStore {
    /// Reads `request` (the keys to read, per table) through `BatchGetItem`, asking again for the keys
    /// DynamoDB leaves unprocessed; the items read, per table.
    async fn batch_get(
        &self,
        request: HashMap<String, KeysAndAttributes>,
    ) -> Result<HashMap<String, Vec<Attrs>>, StoreError> {
        let mut found: HashMap<String, Vec<Attrs>> = HashMap::new();
        let mut request = Some(request);
        while let Some(items) = request.take().filter(|r| !r.is_empty()) {
            let output = self.client.batch_get_item().set_request_items(Some(items)).send().await.map_err(sdk_error)?;
            request = output.unprocessed_keys;
            for (table, items) in output.responses.unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
        }
        Ok(found)
    }
}

/// The code of each item's cancellation reason, by position, when the transaction was cancelled.
fn cancellation_codes(error: &SdkError<TransactWriteItemsError>) -> Option<Vec<Option<&str>>> {
    match error {
        SdkError::ServiceError(service) => match service.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                Some(cancelled.cancellation_reasons().iter().map(|reason| reason.code()).collect())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a cancelled transaction's last item was refused: its condition failed, or another
/// transaction was writing it at the same moment.
fn last_item_refused(error: &SdkError<TransactWriteItemsError>) -> bool {
    cancellation_codes(error)
        .and_then(|codes| codes.last().copied().flatten())
        .is_some_and(|code| code == "ConditionalCheckFailed" || code == "TransactionConflict")
}

/// Which of a transaction's items failed their condition, by position.
fn cancelled_conditions(error: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    cancellation_codes(error).map(|codes| codes.iter().map(|code| *code == Some("ConditionalCheckFailed")).collect())
}

/// A transaction's failure when no condition of ours refused it. Cancelled because another
/// transaction was writing one of its items at the same moment (`TransactionConflict`: the listing
/// counters every create updates make that common under concurrent creates) or because an item was
/// throttled, it is passing trouble (a 503, a redelivery), not an internal error; the rest is
/// classified like any SDK error.
fn transaction_error(error: SdkError<TransactWriteItemsError>) -> StoreError {
    const PASSING: &[&str] = &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];
    let passing = cancellation_codes(&error).is_some_and(|codes| {
        let codes: Vec<&str> = codes.into_iter().flatten().collect();
        codes.iter().any(|code| PASSING.contains(code)) && !codes.contains(&"ConditionalCheckFailed")
    });
    if passing { StoreError::Unavailable(describe(&error)) } else { sdk_error(error) }
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
