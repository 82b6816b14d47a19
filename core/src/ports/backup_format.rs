//! The JSON format of backup objects, versioned: [`encode_backup`] is the one writer and [`decode_backup`] the one
//! reader of every object in the backup store, so the format changes only here, never as a side
//! effect of the order's own serialization or of a queue message.
//!
//! Format 1, the only one so far, has no `format_version` field:
//! - a version object (`orders/{id}/v{version}.json`) holds the order's fields (`order_id`,
//!   `customer_id`, `items` with `product_id`, `quantity`, `unit_price`, `line_total`,
//!   `total_amount`, `status`, `version`, `created_at`, `updated_at`, `execution_arn`) and, when its
//!   create had an Idempotency-Key, `idempotency` (`key`, `fingerprint`, `expires_at`);
//! - a tombstone (`orders/{id}/deleted.json`) holds `"kind": "tombstone"`, `order_id`,
//!   `last_version` and `deleted_at`.
//!
//! A later format writes its number in `format_version`; an object without one is format 1.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BackupKey, IdempotencyBinding, OrderBackup};
use crate::domain::order::rfc3339;
use crate::domain::{Money, Order, OrderId, OrderItem, OrderStatus};

/// The format [`encode_backup`] writes.
pub const BACKUP_FORMAT_VERSION: u32 = 1;

/// What one backup object holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupObject {
    /// One version of an order (`orders/{id}/v{version}.json`).
    Version(OrderBackup),
    /// The mark that an order was deleted (`orders/{id}/deleted.json`).
    #[allow(missing_docs)]
    Tombstone {
        /// The deleted order.
        order_id: OrderId,
        last_version: u64,
        /// When it was deleted (RFC 3339).
        deleted_at: String,
    },
}

impl BackupObject {
    /// Where the object lives.
    pub fn key(&self) -> BackupKey {
        match self {
            BackupObject::Version(backup) => {
                BackupKey::Version { order_id: backup.order.order_id, version: backup.order.version }
            }
            BackupObject::Tombstone { order_id, .. } => BackupKey::Tombstone { order_id: *order_id },
        }
    }
}

/// A backup object that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BackupFormatError {
    /// Not the JSON of any known format (or, writing, a value JSON cannot hold).
    #[error("not a backup object: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written in a format this build does not know (by a newer build).
    #[error("backup format {0} is newer than this build reads ({BACKUP_FORMAT_VERSION})")]
    UnknownFormat(u64),
}

/// The object's bytes, in the current format (pretty-printed JSON).
pub fn encode_backup(object: &BackupObject) -> Result<Vec<u8>, BackupFormatError> {
    let written = match object {
        BackupObject::Version(backup) => serde_json::to_vec_pretty(&VersionDocument::from(backup)),
        BackupObject::Tombstone { order_id, last_version, deleted_at } => {
            serde_json::to_vec_pretty(&TombstoneDocument {
                format_version: BACKUP_FORMAT_VERSION,
                kind: TombstoneKind::Tombstone,
                order_id: *order_id,
                last_version: *last_version,
                deleted_at: deleted_at.clone(),
            })
        }
    };
    Ok(written?)
}

/// Reads a backup object of any known format.
pub fn decode_backup(bytes: &[u8]) -> Result<BackupObject, BackupFormatError> {
    let value: Value = serde_json::from_slice(bytes)?;
    let format = value.get("format_version").map_or(Some(1), Value::as_u64).unwrap_or(u64::MAX);
    if format != u64::from(BACKUP_FORMAT_VERSION) {
        return Err(BackupFormatError::UnknownFormat(format));
    }
    if value.get("kind").and_then(Value::as_str) == Some("tombstone") {
        let tombstone: TombstoneDocument = serde_json::from_value(value)?;
        return Ok(BackupObject::Tombstone {
            order_id: tombstone.order_id,
            last_version: tombstone.last_version,
            deleted_at: tombstone.deleted_at,
        });
    }
    let version: VersionDocument = serde_json::from_value(value)?;
    Ok(BackupObject::Version(version.into()))
}

fn format_1() -> u32 {
    1
}

fn is_format_1(format: &u32) -> bool {
    *format == 1
}

/// A version object, field for field.
#[derive(Debug, Serialize, Deserialize)]
struct VersionDocument {
    #[serde(default = "format_1", skip_serializing_if = "is_format_1")]
    format_version: u32,
    order_id: OrderId,
    customer_id: String,
    items: Vec<ItemDocument>,
    total_amount: Money,
    status: OrderStatus,
    version: u64,
    #[serde(with = "rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    updated_at: DateTime<Utc>,
    execution_arn: Option<String>,
    /// Optional in format 1: written when the order has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    /// Optional in format 1: written when the order has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency: Option<IdempotencyDocument>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ItemDocument {
    product_id: String,
    quantity: u32,
    unit_price: Money,
    line_total: Money,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyDocument {
    key: String,
    fingerprint: String,
    #[serde(with = "rfc3339")]
    expires_at: DateTime<Utc>,
}

/// A tombstone, field for field.
#[derive(Debug, Serialize, Deserialize)]
struct TombstoneDocument {
    #[serde(default = "format_1", skip_serializing_if = "is_format_1")]
    format_version: u32,
    kind: TombstoneKind,
    order_id: OrderId,
    last_version: u64,
    deleted_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TombstoneKind {
    Tombstone,
}

impl From<&OrderBackup> for VersionDocument {
    fn from(backup: &OrderBackup) -> Self {
        let order = &backup.order;
        VersionDocument {
            format_version: BACKUP_FORMAT_VERSION,
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            items: order
                .items
                .iter()
                .map(|item| ItemDocument {
                    product_id: item.product_id.clone(),
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    line_total: item.line_total,
                })
                .collect(),
            total_amount: order.total_amount,
            status: order.status,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
            execution_arn: order.execution_arn.clone(),
            failure_reason: order.failure_reason.clone(),
            correlation_id: order.correlation_id.clone(),
            idempotency: backup.idempotency.as_ref().map(|binding| IdempotencyDocument {
                key: binding.key.clone(),
                fingerprint: binding.fingerprint.clone(),
                expires_at: binding.expires_at,
            }),
        }
    }
}

impl From<VersionDocument> for OrderBackup {
    fn from(document: VersionDocument) -> Self {
        OrderBackup {
            order: Order {
                order_id: document.order_id,
                customer_id: document.customer_id,
                items: document
                    .items
                    .into_iter()
                    .map(|item| OrderItem {
                        product_id: item.product_id,
                        quantity: item.quantity,
                        unit_price: item.unit_price,
                        line_total: item.line_total,
                    })
                    .collect(),
                total_amount: document.total_amount,
                status: document.status,
                version: document.version,
                created_at: document.created_at,
                updated_at: document.updated_at,
                execution_arn: document.execution_arn,
                failure_reason: document.failure_reason,
                correlation_id: document.correlation_id,
            },
            idempotency: document.idempotency.map(|binding| IdempotencyBinding {
                key: binding.key,
                fingerprint: binding.fingerprint,
                expires_at: binding.expires_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A version object as the backup worker wrote it before the format had a type of its own.
    const VERSION_OBJECT_FORMAT_1: &str = r#"{
  "order_id": "550e8400-e29b-41d4-a716-446655440000",
  "customer_id": "CUST001",
  "items": [
    {
      "product_id": "PROD001",
      "quantity": 2,
      "unit_price": 25.50,
      "line_total": 51.00
    },
    {
      "product_id": "PROD002",
      "quantity": 1,
      "unit_price": 99.75,
      "line_total": 99.75
    }
  ],
  "total_amount": 150.75,
  "status": "shipped",
  "version": 3,
  "created_at": "2024-01-24T10:30:00.000Z",
  "updated_at": "2024-01-24T11:45:12.345Z",
  "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:550e8400-e29b-41d4-a716-446655440000",
  "idempotency": {
    "key": "retry-me-1",
    "fingerprint": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "expires_at": "2024-01-25T10:30:00.000Z"
  }
}"#;

    /// A tombstone as the backup worker wrote it before the format had a type of its own.
    const TOMBSTONE_FORMAT_1: &str = r#"{
  "kind": "tombstone",
  "order_id": "550e8400-e29b-41d4-a716-446655440000",
  "last_version": 4,
  "deleted_at": "2024-01-26T08:00:00.000Z"
}"#;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_format_1_version_object_still_reads() {
        let BackupObject::Version(backup) = decode_backup(VERSION_OBJECT_FORMAT_1.as_bytes()).unwrap() else {
            panic!("read as a tombstone")
        };
        let order = &backup.order;
        assert_eq!(order.order_id.to_string(), "550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(order.customer_id, "CUST001");
        assert_eq!(order.items.len(), 2);
        assert_eq!((order.items[0].unit_price.cents(), order.items[0].line_total.cents()), (2550, 5100));
        assert_eq!(order.total_amount.cents(), 15075);
        assert_eq!(order.status, OrderStatus::Shipped);
        assert_eq!(order.version, 3);
        assert_eq!(order.created_at, at("2024-01-24T10:30:00.000Z"));
        assert_eq!(order.updated_at, at("2024-01-24T11:45:12.345Z"));
        assert!(
            order.execution_arn.as_deref().unwrap().ends_with(":OrderProcessing:550e8400-e29b-41d4-a716-446655440000")
        );
        let binding = backup.idempotency.unwrap();
        assert_eq!((binding.key.as_str(), binding.expires_at), ("retry-me-1", at("2024-01-25T10:30:00.000Z")));
    }

    #[test]
    fn a_format_1_tombstone_still_reads() {
        let tombstone = decode_backup(TOMBSTONE_FORMAT_1.as_bytes()).unwrap();
        let order_id = "550e8400-e29b-41d4-a716-446655440000".parse().unwrap();
        assert_eq!(
            tombstone,
            BackupObject::Tombstone { order_id, last_version: 4, deleted_at: "2024-01-26T08:00:00.000Z".into() }
        );
        assert_eq!(tombstone.key().object_key(), "orders/550e8400-e29b-41d4-a716-446655440000/deleted.json");
    }

    #[test]
    fn encoding_writes_format_1_exactly_and_reads_back() {
        for sample in [VERSION_OBJECT_FORMAT_1, TOMBSTONE_FORMAT_1] {
            let object = decode_backup(sample.as_bytes()).unwrap();
            let encoded = encode_backup(&object).unwrap();
            assert_eq!(String::from_utf8(encoded.clone()).unwrap(), sample, "the same bytes as before");
            assert_eq!(decode_backup(&encoded).unwrap(), object);
        }
    }

    #[test]
    fn an_object_without_an_idempotency_key_round_trips() {
        let BackupObject::Version(mut backup) = decode_backup(VERSION_OBJECT_FORMAT_1.as_bytes()).unwrap() else {
            panic!("read as a tombstone")
        };
        backup.idempotency = None;
        backup.order.execution_arn = None;
        let object = BackupObject::Version(backup);
        let encoded = encode_backup(&object).unwrap();
        assert!(!String::from_utf8_lossy(&encoded).contains("idempotency"));
        assert_eq!(decode_backup(&encoded).unwrap(), object);
        assert_eq!(object.key().object_key(), "orders/550e8400-e29b-41d4-a716-446655440000/v3.json");
    }

    #[test]
    fn a_newer_format_is_refused_not_misread() {
        let newer = VERSION_OBJECT_FORMAT_1.replacen('{', r#"{"format_version": 2,"#, 1);
        assert!(matches!(decode_backup(newer.as_bytes()), Err(BackupFormatError::UnknownFormat(2))));
        assert!(matches!(decode_backup(b"[1, 2]"), Err(BackupFormatError::Malformed(_))));
    }
}
