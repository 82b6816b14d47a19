//! Idempotency keys in the idempotency table: the record a create writes in its transaction (unless
//! a live record holds the key), and reading a live record back. Expired records are dropped by the
//! table's TTL on [`EXPIRES_AT`] and ignored until then.

use aws_sdk_dynamodb::types::Put;
use chrono::{DateTime, Utc};

use super::{Attrs, DynamoDbStore, build_error, n, s, sdk_error};
use crate::ports::{IdempotencyRecord, StoreError};

/// The idempotency table's TTL attribute: when a key expires (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

impl DynamoDbStore {
    /// Writes a key's record unless a live one holds the key.
    pub(super) fn idempotency_put(&self, record: &IdempotencyRecord) -> Result<Put, StoreError> {
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

    pub(super) async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.idempotency)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        output.item.map_or(Ok(None), |item| read_idempotency(key, &item))
    }
}

/// The live record in a key's item (`None` once it has expired).
pub(super) fn read_idempotency(key: &str, item: &Attrs) -> Result<Option<IdempotencyRecord>, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let expires_at: i64 = item.get(EXPIRES_AT).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
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
