//! Orders, idempotency keys and listing counts in SQLite. Every change runs in one write
//! transaction: the check (version, transition, key) and the write cannot be separated by another
//! writer. Listings never count or skip rows one by one beyond one block of 1024 sequence numbers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use super::changes::record_change;
use super::db::{Database, execute_cached, query_row_cached, sql_error};
use super::stock::consume_reservation;
use crate::adapters::listing::{self, scope};
use crate::adapters::status_change::WaitAfter;
use crate::domain::order::rfc3339;
use crate::domain::status_change::check_version;
use crate::domain::{FailureReason, Money, NewStatus, Order, OrderId, OrderStatus, OrderSummary, StatusChange};
use crate::ports::{
    CatalogStore, ChangeKind, CreateLookup, CreateLookups, CreateOutcome, IdempotencyBinding, IdempotencyRecord,
    ListFilter, ListRequest, ListingPlace, OrderBackup, OrderImage, OrderPage, OrderStore, PagePosition,
    RestoreOutcome, StatusUpdate, StatusWait, StoreError,
};

/// What a create answers when its key's live record exists: the first create's answer when the
/// request is the same, [`StoreError::IdempotencyKeyReused`] when not; `None` when the create is new.
pub(super) fn earlier_create(
    tx: &Transaction<'_>,
    idempotency: Option<&IdempotencyRecord>,
) -> Result<Option<CreateOutcome>, StoreError> {
    let Some(record) = idempotency else { return Ok(None) };
    match live_idempotency(tx, &record.key)? {
        Some(first) if first.fingerprint == record.fingerprint => Ok(Some(CreateOutcome::Replayed(first))),
        Some(_) => Err(StoreError::IdempotencyKeyReused),
        None => Ok(None),
    }
}

/// Writes a new order with its change record and its key's record (replacing an expired record of
/// the same key; retention removes the other expired ones).
pub(super) fn insert_new_order(
    tx: &Transaction<'_>,
    order: Order,
    idempotency: Option<IdempotencyRecord>,
    workflow_started: bool,
) -> Result<(), StoreError> {
    let image = OrderImage {
        workflow_started,
        ..OrderImage::created(order, idempotency.as_ref().map(IdempotencyRecord::binding))
    };
    insert_order(tx, &image)?;
    record_change(tx, ChangeKind::Insert, None, Some(&image))?;
    if let Some(record) = idempotency {
        put_idempotency(tx, &record)?;
    }
    Ok(())
}

/// Sequence numbers per counting block, as SQLite integers.
const BUCKET: i64 = listing::BUCKET as i64;

/// An order as the API shows it (columns 1 to 11 after `seq`; [`shown_order`] reads them).
macro_rules! shown_columns {
    () => {
        "seq, order_id, customer_id, status, total_cents, version, created_at, updated_at, execution_arn, items, \
         failure_reason, correlation_id"
    };
}
/// A whole order record by id: what the API shows, then columns 12 to 16 ([`read_order`]).
const LOAD_ORDER: &str = concat!(
    "SELECT ",
    shown_columns!(),
    ", awaiting_status, task_token, idempotency_key, idempotency_fingerprint, idempotency_expires_at \
     FROM orders WHERE order_id = ?1"
);
/// Only what the API shows of an order, by id.
const SHOW_ORDER: &str = concat!("SELECT ", shown_columns!(), " FROM orders WHERE order_id = ?1");
const SUMMARY_COLUMNS: &str = "seq, order_id, customer_id, status, total_cents, created_at";

#[async_trait]
impl CreateLookups for Database {
    /// Reads the key's record and the prices at once; the order is numbered as it is written.
    async fn look_before_create(
        &self,
        idempotency_key: Option<&str>,
        product_ids: &[&str],
    ) -> Result<CreateLookup, StoreError> {
        let earlier = async {
            match idempotency_key {
                Some(key) => self.find_idempotency(key).await,
                None => Ok(None),
            }
        };
        let (earlier, catalog) = tokio::join!(earlier, CatalogStore::products(self, product_ids));
        Ok(CreateLookup { earlier: earlier?, catalog: catalog?, place: ListingPlace::AtWrite })
    }
}

#[async_trait]
impl OrderStore for Database {
    async fn find_idempotency(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read_by_key(|tx| live_idempotency(tx, key))
    }

    async fn create_order_at(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
        _place: ListingPlace,
        workflow_started: bool,
    ) -> Result<CreateOutcome, StoreError> {
        let order = order.clone();
        let idempotency = idempotency.cloned();
        self.write(move |tx| {
            if let Some(first) = earlier_create(tx, idempotency.as_ref())? {
                return Ok(first);
            }
            insert_new_order(tx, order.clone(), idempotency.clone(), workflow_started)?;
            Ok(CreateOutcome::Created)
        })
        .await
    }

    async fn get_order(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        self.read_one_statement(|conn| order_row(conn, SHOW_ORDER, order_id, |row| Ok(shown_order(row)))?.transpose())
    }

    async fn list_orders(&self, request: &ListRequest) -> Result<OrderPage, StoreError> {
        let request = request.clone();
        self.read(move |tx| list(tx, &request)).await
    }

    async fn update_status(
        &self,
        order_id: OrderId,
        to: NewStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, StoreError> {
        self.write(move |tx| {
            let (seq, image) = load_order(tx, order_id)?.ok_or(StoreError::NotFound(order_id))?;
            let change = StatusChange::decide(&image.order, to.status, expected_version)?;
            match change {
                StatusChange::Unchanged => Ok(StatusUpdate { order: image.order, changed: false }),
                StatusChange::Move { .. } => {
                    let consumed = change.consumes_stock();
                    if consumed {
                        consume_reservation(tx, order_id)?;
                    }
                    let order = change_status(tx, seq, image, to.clone(), consumed)?;
                    Ok(StatusUpdate { order, changed: true })
                }
            }
        })
        .await
    }

    async fn delete_order(&self, order_id: OrderId, expected_version: Option<u64>) -> Result<Order, StoreError> {
        self.write(move |tx| {
            let (seq, image) = load_order(tx, order_id)?.ok_or(StoreError::NotFound(order_id))?;
            check_version(&image.order, expected_version)?;
            execute_cached(tx, "DELETE FROM orders WHERE seq = ?1", [seq]).map_err(sql_error)?;
            execute_cached(
                tx,
                "INSERT OR REPLACE INTO deleted_orders (order_id, last_version, deleted_at) VALUES (?1, ?2, ?3)",
                params![
                    order_id.to_string(),
                    sql_version(image.order.version)?,
                    rfc3339::format(&crate::domain::order::now_millis())
                ],
            )
            .map_err(sql_error)?;
            count(tx, seq, &image.order.customer_id, image.order.status, -1, Scopes::All)?;
            record_change(tx, ChangeKind::Remove, Some(&image), None)?;
            Ok(image.order)
        })
        .await
    }

    async fn transition(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        to: NewStatus,
    ) -> Result<StatusUpdate, StoreError> {
        let from = from.to_vec();
        self.write(move |tx| transition_from(tx, order_id, &from, to.clone(), WaitAfter::Kept)).await
    }

    async fn fail_processing(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: FailureReason,
    ) -> Result<StatusUpdate, StoreError> {
        let from = from.to_vec();
        let to = NewStatus { status: OrderStatus::Failed, reason: Some(reason) };
        self.write(move |tx| transition_from(tx, order_id, &from, to.clone(), WaitAfter::Removed)).await
    }

    async fn restore(&self, backup: &OrderBackup) -> Result<RestoreOutcome, StoreError> {
        let after = OrderImage::created(backup.order.clone(), backup.idempotency.clone());
        self.write(move |tx| {
            let order = &after.order;
            if was_deleted(tx, order.order_id)? {
                return Ok(RestoreOutcome::Deleted);
            }
            let outcome = match load_order(tx, order.order_id)? {
                Some((_, stored)) if stored.order.version >= order.version => return Ok(RestoreOutcome::AlreadyCurrent),
                Some((seq, stored)) => {
                    execute_cached(tx,
                        "UPDATE orders SET customer_id = ?1, status = ?2, total_cents = ?3, version = ?4, created_at = ?5,
                                updated_at = ?6, execution_arn = ?7, items = ?8, awaiting_status = NULL,
                                task_token = NULL, idempotency_key = ?9, idempotency_fingerprint = ?10,
                                idempotency_expires_at = ?11, failure_reason = ?12, correlation_id = ?13
                          WHERE seq = ?14",
                        params_from_iter(order_columns(&after)?.into_iter().chain([Value::Integer(seq)])),
                    )
                    .map_err(sql_error)?;
                    count(tx, seq, &stored.order.customer_id, stored.order.status, -1, Scopes::All)?;
                    count(tx, seq, &order.customer_id, order.status, 1, Scopes::All)?;
                    record_change(tx, ChangeKind::Modify, Some(&stored), Some(&after))?;
                    RestoreOutcome::Updated
                }
                None => {
                    insert_order(tx, &after)?;
                    record_change(tx, ChangeKind::Insert, None, Some(&after))?;
                    RestoreOutcome::Restored
                }
            };
            if let Some(binding) = after.idempotency.as_ref().filter(|b| b.is_live(Utc::now()))
                && live_idempotency(tx, &binding.key)?.is_none()
            {
                put_idempotency(tx, &binding.record_for(order))?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn refresh_listing(&self, _order_id: OrderId) -> Result<(), StoreError> {
        // Every write here, the workflow's included, keeps the listing counts in its own transaction.
        Ok(())
    }

    async fn await_status(&self, order_id: OrderId, wait: StatusWait) -> Result<(), StoreError> {
        self.write(move |tx| {
            let (seq, before) = load_order(tx, order_id)?.ok_or(StoreError::NotFound(order_id))?;
            execute_cached(
                tx,
                "UPDATE orders SET awaiting_status = ?1, task_token = ?2 WHERE seq = ?3",
                params![wait.status.as_str(), wait.task_token, seq],
            )
            .map_err(sql_error)?;
            let after = OrderImage { awaiting: Some(wait.clone()), ..before.clone() };
            record_change(tx, ChangeKind::Modify, Some(&before), Some(&after))
        })
        .await
    }
}

/// Writes a status change (version + 1), keeps the counts right and records the change (saying
/// whether it consumed the order's stock in the same transaction).
/// A status change allowed only from `from`, keeping the workflow's wait on the order or taking it
/// off (its token and the status it awaits), in the same write.
fn transition_from(
    tx: &Transaction<'_>,
    order_id: OrderId,
    from: &[OrderStatus],
    to: NewStatus,
    wait: WaitAfter,
) -> Result<StatusUpdate, StoreError> {
    let (seq, before) = load_order(tx, order_id)?.ok_or(StoreError::NotFound(order_id))?;
    if !from.contains(&before.order.status) {
        return Err(StoreError::ConditionFailed { current: before.order.status });
    }
    let order = match wait {
        WaitAfter::Kept => change_status(tx, seq, before, to, false)?,
        WaitAfter::Removed => {
            let after = OrderImage { order: before.order.moved_to(to), awaiting: None, ..before.clone() };
            set_status(tx, seq, &before, &after.order)?;
            execute_cached(tx, "UPDATE orders SET awaiting_status = NULL, task_token = NULL WHERE seq = ?1", [seq])
                .map_err(sql_error)?;
            record_change(tx, ChangeKind::Modify, Some(&before), Some(&after))?;
            after.order
        }
    };
    Ok(StatusUpdate { order, changed: true })
}

fn change_status(
    tx: &Transaction<'_>,
    seq: i64,
    before: OrderImage,
    to: NewStatus,
    stock_consumed: bool,
) -> Result<Order, StoreError> {
    let after = OrderImage { order: before.order.moved_to(to), stock_consumed, ..before.clone() };
    set_status(tx, seq, &before, &after.order)?;
    record_change(tx, ChangeKind::Modify, Some(&before), Some(&after))?;
    Ok(after.order)
}

/// The start of an order's processing, once its stock is held: a pending order moves to
/// `processing` (version + 1, counted), and the workflow's wait is kept on it; one change recorded.
/// Whether this store deleted the order.
pub(super) fn was_deleted(tx: &Transaction<'_>, order_id: OrderId) -> Result<bool, StoreError> {
    let deleted =
        query_row_cached(tx, "SELECT 1 FROM deleted_orders WHERE order_id = ?1", [order_id.to_string()], |_| Ok(()))
            .optional()
            .map_err(sql_error)?;
    Ok(deleted.is_some())
}

pub(super) fn start_processing(
    tx: &Transaction<'_>,
    seq: i64,
    before: OrderImage,
    wait: StatusWait,
) -> Result<Order, StoreError> {
    let mut after = before.clone();
    if before.order.status == OrderStatus::Pending {
        after.order = before.order.moved_to(NewStatus { status: OrderStatus::Processing, reason: None });
        set_status(tx, seq, &before, &after.order)?;
    }
    execute_cached(
        tx,
        "UPDATE orders SET awaiting_status = ?1, task_token = ?2 WHERE seq = ?3",
        params![wait.status.as_str(), wait.task_token, seq],
    )
    .map_err(sql_error)?;
    after.awaiting = Some(wait);
    if after != before {
        record_change(tx, ChangeKind::Modify, Some(&before), Some(&after))?;
    }
    Ok(after.order)
}

/// Writes the order's new status columns and moves its listing counts.
fn set_status(tx: &Transaction<'_>, seq: i64, before: &OrderImage, order: &Order) -> Result<(), StoreError> {
    execute_cached(
        tx,
        "UPDATE orders SET status = ?1, version = ?2, updated_at = ?3, failure_reason = ?4 WHERE seq = ?5",
        params![
            order.status.as_str(),
            sql_version(order.version)?,
            rfc3339::format(&order.updated_at),
            order.failure_reason,
            seq
        ],
    )
    .map_err(sql_error)?;
    count(tx, seq, &order.customer_id, before.order.status, -1, Scopes::WithStatus)?;
    count(tx, seq, &order.customer_id, order.status, 1, Scopes::WithStatus)?;
    Ok(())
}

/// An order's stored columns after `order_id`, in table order: `customer_id`, `status`,
/// `total_cents`, `version`, `created_at`, `updated_at`, `execution_arn`, `items`, its
/// idempotency binding (`idempotency_key`, `idempotency_fingerprint`, `idempotency_expires_at`)
/// `failure_reason` and `correlation_id`.
fn order_columns(image: &OrderImage) -> Result<[Value; 13], StoreError> {
    let order = &image.order;
    let binding = image.idempotency.as_ref();
    let text = |value: Option<&str>| value.map_or(Value::Null, |v| Value::Text(v.to_owned()));
    Ok([
        Value::Text(order.customer_id.clone()),
        Value::Text(order.status.as_str().to_owned()),
        Value::Integer(order.total_amount.cents()),
        Value::Integer(sql_version(order.version)?),
        Value::Text(rfc3339::format(&order.created_at)),
        Value::Text(rfc3339::format(&order.updated_at)),
        text(order.execution_arn.as_deref()),
        Value::Text(items_json(order)?),
        text(binding.map(|b| b.key.as_str())),
        text(binding.map(|b| b.fingerprint.as_str())),
        binding.map_or(Value::Null, |b| Value::Integer(b.expires_at.timestamp())),
        text(order.failure_reason.as_deref()),
        text(order.correlation_id.as_deref()),
    ])
}

fn items_json(order: &Order) -> Result<String, StoreError> {
    serde_json::to_string(&order.items).map_err(|e| StoreError::Internal(e.to_string()))
}

fn put_idempotency(tx: &Transaction<'_>, record: &IdempotencyRecord) -> Result<(), StoreError> {
    execute_cached(
        tx,
        "INSERT OR REPLACE INTO idempotency_keys (key, fingerprint, order_id, execution_arn, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.key,
            record.fingerprint,
            record.order_id.to_string(),
            record.execution_arn,
            record.expires_at.timestamp()
        ],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// Inserts a new order row, counts it in every listing scope, and returns its `seq`.
fn insert_order(tx: &Transaction<'_>, image: &OrderImage) -> Result<i64, StoreError> {
    let order = &image.order;
    let inserted = execute_cached(
        tx,
        "INSERT INTO orders (order_id, customer_id, status, total_cents, version, created_at, updated_at,
                             execution_arn, items, idempotency_key, idempotency_fingerprint,
                             idempotency_expires_at, failure_reason, correlation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params_from_iter([Value::Text(order.order_id.to_string())].into_iter().chain(order_columns(image)?)),
    );
    match inserted {
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            return Err(StoreError::AlreadyExists(order.order_id));
        }
        other => other.map_err(sql_error)?,
    };
    let seq = tx.last_insert_rowid();
    count(tx, seq, &order.customer_id, order.status, 1, Scopes::All)?;
    Ok(seq)
}

fn sql_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Internal(format!("version {version} does not fit SQLite")))
}

fn live_idempotency(tx: &rusqlite::Connection, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    let now = Utc::now().timestamp();
    let row = query_row_cached(
        tx,
        "SELECT fingerprint, order_id, execution_arn, expires_at FROM idempotency_keys
             WHERE key = ?1 AND expires_at > ?2",
        params![key, now],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, i64>(3)?)),
    )
    .optional()
    .map_err(sql_error)?;
    row.map(|(fingerprint, order_id, execution_arn, expires_at)| {
        Ok(IdempotencyRecord {
            key: key.to_owned(),
            fingerprint,
            order_id: parse_order_id(&order_id)?,
            execution_arn,
            expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
        })
    })
    .transpose()
}

pub(super) fn load_order(
    tx: &rusqlite::Connection,
    order_id: OrderId,
) -> Result<Option<(i64, OrderImage)>, StoreError> {
    order_row(tx, LOAD_ORDER, order_id, |row| Ok((row.get::<_, i64>(0)?, read_order(row))))?
        .map(|(seq, order)| order.map(|order| (seq, order)))
        .transpose()
}

/// Runs `sql`, a one-row query on `order_id = ?1`, for this order (its id written on the stack).
fn order_row<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    order_id: OrderId,
    read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    let mut id = uuid::Uuid::encode_buffer();
    let id: &str = order_id.as_uuid().hyphenated().encode_lower(&mut id);
    query_row_cached(conn, sql, [id], read).optional().map_err(sql_error)
}

/// Reads a whole order record ([`LOAD_ORDER`]'s columns; column 0 is seq).
fn read_order(row: &Row<'_>) -> Result<OrderImage, StoreError> {
    let order = shown_order(row)?;
    let awaiting_status: Option<String> = row.get(12).map_err(sql_error)?;
    let task_token: Option<String> = row.get(13).map_err(sql_error)?;
    let awaiting = match (awaiting_status, task_token) {
        (Some(status), Some(task_token)) => {
            Some(StatusWait { status: status.parse().map_err(|e| corrupt("awaiting_status", e))?, task_token })
        }
        _ => None,
    };
    let idempotency = match (row.get::<_, Option<String>>(14), row.get::<_, Option<String>>(15), row.get(16)) {
        (Ok(Some(key)), Ok(Some(fingerprint)), Ok(Some(expires_at))) => Some(IdempotencyBinding {
            key,
            fingerprint,
            expires_at: DateTime::from_timestamp(expires_at, 0).unwrap_or_default(),
        }),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return Err(sql_error(error)),
        _ => None,
    };
    Ok(OrderImage { order, awaiting, idempotency, stock_consumed: false, workflow_started: false })
}

/// Reads the order as the API shows it (columns 1 to 11 of [`LOAD_ORDER`] and [`SHOW_ORDER`]),
/// borrowing the text columns where only a parsed value is kept.
fn shown_order(row: &Row<'_>) -> Result<Order, StoreError> {
    let text = |i: usize| {
        row.get_ref(i)
            .and_then(|value| {
                value.as_str().map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e)))
            })
            .map_err(sql_error)
    };
    Ok(Order {
        order_id: parse_order_id(text(1)?)?,
        customer_id: text(2)?.to_owned(),
        status: text(3)?.parse().map_err(|e| corrupt("status", e))?,
        total_amount: Money::from_cents(row.get(4).map_err(sql_error)?),
        version: u64::try_from(row.get::<_, i64>(5).map_err(sql_error)?).map_err(|e| corrupt("version", e))?,
        created_at: parse_time(text(6)?)?,
        updated_at: parse_time(text(7)?)?,
        execution_arn: row.get(8).map_err(sql_error)?,
        items: serde_json::from_str(text(9)?).map_err(|e| corrupt("items", e))?,
        failure_reason: row.get(10).map_err(sql_error)?,
        correlation_id: row.get(11).map_err(sql_error)?,
    })
}

fn read_summary(row: &Row<'_>) -> Result<(i64, OrderSummary), StoreError> {
    let text = |i: usize| row.get::<_, String>(i).map_err(sql_error);
    Ok((
        row.get(0).map_err(sql_error)?,
        OrderSummary {
            order_id: parse_order_id(&text(1)?)?,
            customer_id: text(2)?,
            status: text(3)?.parse().map_err(|e| corrupt("status", e))?,
            total_amount: Money::from_cents(row.get(4).map_err(sql_error)?),
            created_at: parse_time(&text(5)?)?,
        },
    ))
}

fn parse_order_id(text: &str) -> Result<OrderId, StoreError> {
    text.parse().map_err(|e| corrupt("order_id", e))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).map_err(|e| corrupt("timestamp", e))
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is unreadable: {error}"))
}

/// Which counting scopes an update touches.
#[derive(Clone, Copy)]
enum Scopes {
    /// All four: the order arrives or leaves.
    All,
    /// Only the two that include the status: the status changes.
    WithStatus,
}

fn count(
    tx: &Transaction<'_>,
    seq: i64,
    customer_id: &str,
    status: OrderStatus,
    delta: i64,
    scopes: Scopes,
) -> Result<(), StoreError> {
    let mut names = vec![scope(Some(status), None), scope(Some(status), Some(customer_id))];
    if let Scopes::All = scopes {
        names.push(scope(None, None));
        names.push(scope(None, Some(customer_id)));
    }
    let bucket = seq / BUCKET;
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO order_counts (scope, bucket, n) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, bucket) DO UPDATE SET n = n + excluded.n",
        )
        .map_err(sql_error)?;
    let mut prune =
        tx.prepare_cached("DELETE FROM order_counts WHERE scope = ?1 AND bucket = ?2 AND n <= 0").map_err(sql_error)?;
    for name in names {
        upsert.execute(params![name, bucket, delta]).map_err(sql_error)?;
        if delta < 0 {
            prune.execute(params![name, bucket]).map_err(sql_error)?;
        }
    }
    Ok(())
}

fn list(tx: &Transaction<'_>, request: &ListRequest) -> Result<OrderPage, StoreError> {
    let ListFilter { status, customer_id } = &request.filter;
    let limit = i64::from(request.limit);
    let buckets: Vec<(u64, u64)> = {
        let mut stmt = tx
            .prepare_cached("SELECT bucket, n FROM order_counts WHERE scope = ?1 ORDER BY bucket DESC")
            .map_err(sql_error)?;
        let rows = stmt
            .query_map([scope(*status, customer_id.as_deref())], |row| {
                Ok((row.get::<_, i64>(0)?.max(0) as u64, row.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(sql_error)?;
        rows.collect::<Result<_, _>>().map_err(sql_error)?
    };
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();

    // Filters as SQL; `?1` is the seq bound, `?2` the limit, `?3` the offset.
    let mut conditions = vec!["seq < ?1".to_owned()];
    let mut filter_values: Vec<String> = Vec::new();
    if let Some(status) = status {
        filter_values.push(status.as_str().to_owned());
        conditions.push(format!("status = ?{}", 3 + filter_values.len()));
    }
    if let Some(customer) = customer_id {
        filter_values.push(customer.clone());
        conditions.push(format!("customer_id = ?{}", 3 + filter_values.len()));
    }
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM orders WHERE {} ORDER BY seq DESC LIMIT ?2 OFFSET ?3",
        conditions.join(" AND ")
    );

    let (upper_bound, offset) = match &request.position {
        PagePosition::Number(page) => {
            let skip = page.saturating_sub(1).saturating_mul(request.limit.into());
            match listing::page_start(&buckets, skip) {
                Some((upper, inner)) => (upper as i64, inner as i64),
                None => return Ok(OrderPage { orders: Vec::new(), total, next_cursor: None }),
            }
        }
        PagePosition::After(after) => (i64::try_from(*after).unwrap_or(i64::MAX), 0),
    };

    // One row more than the page: if it comes back, there is a next page.
    let fetch = limit + 1;
    let mut stmt = tx.prepare_cached(&sql).map_err(sql_error)?;
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&upper_bound, &fetch, &offset];
    values.extend(filter_values.iter().map(|v| v as &dyn rusqlite::ToSql));
    let mut rows = stmt.query(values.as_slice()).map_err(sql_error)?;
    let mut page = Vec::with_capacity(request.limit as usize + 1);
    while let Some(row) = rows.next().map_err(sql_error)? {
        page.push(read_summary(row)?);
    }
    let has_more = page.len() > request.limit as usize;
    page.truncate(request.limit as usize);
    let next_cursor = page.last().filter(|_| has_more).and_then(|(seq, _)| u64::try_from(*seq).ok());
    Ok(OrderPage { orders: page.into_iter().map(|(_, summary)| summary).collect(), total, next_cursor })
}
