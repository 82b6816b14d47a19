//! The order use cases over the order store, the catalog and the workflow engine: create (priced,
//! idempotent, workflow started), list, get, change status, delete, start the workflow, describe an
//! execution.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::domain::order::now_millis;
use crate::domain::{
    IllegalTransition, NewOrder, NewStatus, Order, OrderId, OrderStatus, OrderSummary, ValidationError,
};
use crate::ports::{
    CreateLookups, CreateOutcome, ExecutionArn, ExecutionDescription, IdempotencyRecord, ListFilter, ListRequest,
    ListingPlace, OrderStore, PagePosition, StartedExecution, StatusUpdate, StoreError, WorkflowEngine, WorkflowError,
};

/// Default page size of a listing.
pub const DEFAULT_LIMIT: u32 = 10;
/// Largest page size; larger requests are capped to it.
pub const MAX_LIMIT: u32 = 100;
/// Longest accepted Idempotency-Key.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Why a use case failed, in terms a client can act on. Mapped once to HTTP (in `orders-ingest`)
/// and to Lambda diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The request breaks a rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// No such order.
    #[error("Order not found")]
    OrderNotFound,
    /// No such product.
    #[error("Product not found")]
    ProductNotFound,
    /// No such execution.
    #[error("Execution not found")]
    ExecutionNotFound,
    /// The transition table forbids the change.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The order changed since the client read it.
    #[error("Version mismatch: the order is at version {current}, not {expected}")]
    VersionMismatch {
        /// What the client sent.
        expected: u64,
        /// What is stored.
        current: u64,
    },
    /// The product changed since the client read it.
    #[error("Version mismatch: the product is at version {current}, not {expected}")]
    ProductVersionMismatch {
        /// What the client sent.
        expected: u64,
        /// What is stored.
        current: u64,
    },
    /// The Idempotency-Key was first used with a different request.
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// Storage is busy or unreachable for a moment: retrying may succeed.
    #[error("Storage is temporarily unavailable")]
    Unavailable(#[source] StoreError),
    /// Storage failed.
    #[error("Storage failure")]
    Storage(#[source] StoreError),
    /// The workflow engine failed.
    #[error("Workflow engine failure")]
    Workflow(#[source] WorkflowError),
}

impl From<StoreError> for OrderError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => OrderError::OrderNotFound,
            StoreError::ProductNotFound(_) => OrderError::ProductNotFound,
            StoreError::VersionMismatch { expected, current } => OrderError::VersionMismatch { expected, current },
            StoreError::IllegalTransition(illegal) => OrderError::IllegalTransition(illegal),
            StoreError::IdempotencyKeyReused => OrderError::IdempotencyKeyReused,
            StoreError::Unavailable(_) => OrderError::Unavailable(error),
            // ConditionFailed comes only from the workflow's own conditional transitions.
            StoreError::AlreadyExists(_) | StoreError::ConditionFailed { .. } | StoreError::Internal(_) => {
                OrderError::Storage(error)
            }
        }
    }
}

impl From<WorkflowError> for OrderError {
    fn from(error: WorkflowError) -> Self {
        OrderError::Workflow(error)
    }
}

/// The page size a listing asks for (of orders, or of products): [`DEFAULT_LIMIT`] when absent,
/// capped at [`MAX_LIMIT`]; 0 is refused.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, OrderError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ValidationError::invalid("limit", "must be a positive integer").into()),
        Some(limit) => Ok(limit.min(MAX_LIMIT)),
    }
}

/// The 1-based page a listing asks for: 1 when absent; 0 is refused.
pub(crate) fn page_number(page: Option<u64>) -> Result<u64, OrderError> {
    match page {
        None => Ok(1),
        Some(0) => Err(ValidationError::invalid("page", "must be a positive integer").into()),
        Some(page) => Ok(page),
    }
}

/// A request to create an order.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    /// The order as the client sent it.
    pub order: NewOrder,
    /// The client's Idempotency-Key, if any.
    pub idempotency_key: Option<String>,
    /// How long the key protects against repeats; 24 hours when `None`.
    pub key_lifetime: Option<Duration>,
    /// The id of what asks for the order (the request's id, the import message's), kept on the
    /// order for every later step's logs.
    pub correlation_id: Option<String>,
}

/// A created (or, for a repeated idempotent request, the first created) order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OrderCreated {
    pub order_id: OrderId,
    /// Its workflow execution.
    pub execution_arn: String,
    /// True when this repeats an earlier request with the same Idempotency-Key: nothing was created.
    pub replayed: bool,
}

/// A listing request as clients phrase it.
#[derive(Debug, Clone, Default)]
pub struct ListOrders {
    /// Which orders.
    pub filter: ListFilter,
    /// Page size, capped at [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    pub limit: Option<u32>,
    /// 1-based page number; 1 when absent. Not allowed together with `next_token`.
    pub page: Option<u64>,
    /// The `next_token` of a previous page.
    pub next_token: Option<String>,
}

/// One page of orders with the seed's pagination figures and a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderListing {
    /// The orders, newest first.
    pub orders: Vec<OrderSummary>,
    /// This page's number.
    pub page: u64,
    /// The page size used.
    pub limit: u32,
    /// Orders matching the filter.
    pub total: u64,
    /// Pages at this size.
    pub pages: u64,
    /// Pass back as `next_token` for the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// Largest page number (and listing sequence number) a `next_token` may carry: the int64 range the
/// API document gives `page`.
const MAX_TOKEN_NUMBER: u64 = i64::MAX as u64;

/// What a `next_token` carries: where the next page starts, and what it was made for. Not signed:
/// nothing in it is trusted. Its cursor only bounds a listing whose filter comes from the query
/// (the same orders `page=N` reaches), its page number is only echoed back, its limit and filter
/// fingerprint must match the query's. An edited token can show its sender another page of the
/// same listing, nothing else; a malformed one is a 400 naming `next_token`.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    /// The listing sequence number the next page starts below, in decimal (text, as issued since
    /// the first version of the token).
    c: String,
    /// The page number the token leads to.
    p: u64,
    /// The page size it was made for.
    l: u32,
    /// Fingerprint of the filter it was made for.
    f: String,
}

/// The order use cases over their ports.
#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderStore>,
    lookups: Arc<dyn CreateLookups>,
    workflow: Arc<dyn WorkflowEngine>,
    workflow_start: WorkflowStart,
    idempotency_ttl: Duration,
}

/// When a new order's workflow execution starts. Either way the create answers with the
/// execution's ARN (named by the order id), the execution runs once, and a client asking for it
/// finds it ([`OrderService::describe_execution`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkflowStart {
    /// Started before the order is written, the order noting it (Step Functions beside DynamoDB:
    /// the order's change then has no start to make). A start that fails leaves it to the change.
    #[default]
    BeforeWrite,
    /// Started by the reaction to the order's change record (written in the create's commit, an
    /// outbox), in batches, behind the requests: the embedded default, where a start on the
    /// request's path was half of a create's CPU time (docs/BENCHMARKS.md).
    FromChangeFeed,
}

impl OrderService {
    /// Builds the service; Idempotency-Keys are honoured for 24 hours.
    pub fn new(
        orders: Arc<dyn OrderStore>,
        lookups: Arc<dyn CreateLookups>,
        workflow: Arc<dyn WorkflowEngine>,
    ) -> Self {
        OrderService {
            orders,
            lookups,
            workflow,
            workflow_start: WorkflowStart::default(),
            idempotency_ttl: Duration::hours(24),
        }
    }

    /// The same service, starting new orders' workflows as `start` says.
    pub fn starting_workflows(mut self, start: WorkflowStart) -> Self {
        self.workflow_start = start;
        self
    }

    /// Creates an order: validates and prices it, and writes it (with its Idempotency-Key record, in
    /// one atomic write); its workflow execution, named by the order id, starts before the write or
    /// from the order's change record ([`WorkflowStart`]). A repeated request with the same key and
    /// the same body returns the first result and creates nothing.
    pub async fn create_order(&self, request: CreateOrder) -> Result<OrderCreated, OrderError> {
        let fingerprint = request.order.fingerprint();
        if let Some(key) = &request.idempotency_key {
            check_idempotency_key(key)?;
        }
        // The key's record, the prices and the order's place in the listings are looked up at once
        // (one request on DynamoDB). A refused order may then have taken a place for nothing (a
        // gap in the numbering, which listings do not show).
        let product_ids: Vec<&str> = request.order.items.iter().map(|item| item.product_id.as_str()).collect();
        let lookup = self.lookups.look_before_create(request.idempotency_key.as_deref(), &product_ids).await?;
        if let Some(record) = lookup.earlier {
            return self.replay(record, &fingerprint).await;
        }
        let (items, total_amount) = request.order.price(&lookup.catalog)?;
        let place = lookup.place;

        let order_id = OrderId::generate();
        let execution_arn = self.workflow.execution_arn(&order_id.to_string()).to_string();
        let now = now_millis();
        let order = Order {
            order_id,
            customer_id: request.order.customer_id,
            items,
            total_amount,
            status: OrderStatus::Pending,
            version: 1,
            created_at: now,
            updated_at: now,
            execution_arn: Some(execution_arn.clone()),
            failure_reason: None,
            correlation_id: request.correlation_id,
        };
        let record = request.idempotency_key.clone().map(|key| IdempotencyRecord {
            key,
            fingerprint: fingerprint.clone(),
            order_id,
            execution_arn: execution_arn.clone(),
            expires_at: now + request.key_lifetime.unwrap_or(self.idempotency_ttl),
        });
        let written = match self.workflow_start {
            WorkflowStart::BeforeWrite => self.start_then_write(&order, record.as_ref(), place).await?,
            WorkflowStart::FromChangeFeed => self.orders.create_order_at(&order, record.as_ref(), place, false).await?,
        };
        match written {
            CreateOutcome::Replayed(first) => return self.replay(first, &fingerprint).await,
            CreateOutcome::Created => {}
        }
        crate::metrics::order_created();
        info!(
            order_id = %order_id, customer_id = %order.customer_id, total = %order.total_amount,
            correlation_id = order.correlation_id.as_deref().unwrap_or_default(), "order created"
        );
        Ok(OrderCreated { order_id, execution_arn, replayed: false })
    }

    /// Starts the order's execution, then writes the order noting that it did: its change then has
    /// no start to make (one request less per order). Its task waits for the write
    /// (`ORDER_WRITE_GRACE`) and ends quietly if the write never lands (a create that failed or was
    /// answered as a repeat after the start). When the start fails, the order is written all the
    /// same, noted unstarted: its change record starts it.
    async fn start_then_write(
        &self,
        order: &Order,
        record: Option<&IdempotencyRecord>,
        place: ListingPlace,
    ) -> Result<CreateOutcome, OrderError> {
        let workflow_started = match ensure_order_workflow(self.workflow.as_ref(), order).await {
            Ok(()) => true,
            Err(error) => {
                warn!(
                    order_id = %order.order_id, %error,
                    "could not start the order's workflow yet; its change record starts it once the engine answers"
                );
                false
            }
        };
        Ok(self.orders.create_order_at(order, record, place, workflow_started).await?)
    }

    /// Answers a repeated request from its idempotency record (its workflow is started as for a
    /// first request: the first attempt may have stored the order and failed to start it).
    async fn replay(&self, record: IdempotencyRecord, fingerprint: &str) -> Result<OrderCreated, OrderError> {
        if record.fingerprint != fingerprint {
            return Err(OrderError::IdempotencyKeyReused);
        }
        // Only a pending order may still lack its execution; an order restored from backups after
        // data loss is not pending and must not run its workflow a second time.
        if let Some(order) = self.orders.get_order(record.order_id).await?
            && order.status == OrderStatus::Pending
        {
            self.try_start_order_workflow(&order).await;
        }
        info!(order_id = %record.order_id, "idempotent repeat answered from the first request");
        Ok(OrderCreated { order_id: record.order_id, execution_arn: record.execution_arn, replayed: true })
    }

    /// Starts a stored order's workflow, leaving a failure to the stream processor's retries.
    async fn try_start_order_workflow(&self, order: &Order) {
        if let Err(error) = ensure_order_workflow(self.workflow.as_ref(), order).await {
            warn!(
                order_id = %order.order_id, %error,
                "could not start the order's workflow yet; its change record starts it once the engine answers"
            );
        }
    }

    /// One order.
    pub async fn get_order(&self, order_id: OrderId) -> Result<Order, OrderError> {
        self.orders.get_order(order_id).await?.ok_or(OrderError::OrderNotFound)
    }

    /// One page of orders, newest first, by page number or by `next_token`.
    pub async fn list_orders(&self, request: ListOrders) -> Result<OrderListing, OrderError> {
        let limit = page_size(request.limit)?;
        let filter_print = filter_fingerprint(&request.filter);
        let (page, position) = match (request.page, request.next_token) {
            (Some(_), Some(_)) => {
                return Err(ValidationError::invalid("next_token", "cannot be combined with page").into());
            }
            (page, None) => {
                let page = page_number(page)?;
                (page, PagePosition::Number(page))
            }
            (None, Some(token)) => {
                let token = decode_token(&token)?;
                if token.f != filter_print || token.l != limit {
                    return Err(ValidationError::invalid(
                        "next_token",
                        "was issued for other filters or another limit; repeat the query it came from",
                    )
                    .into());
                }
                (token.p, PagePosition::After(token_cursor(&token.c)?))
            }
        };
        let page_of_orders = self.orders.list_orders(&ListRequest { filter: request.filter, limit, position }).await?;
        // A next page beyond the largest page number there can be is no page at all.
        let next_token = page_of_orders.next_cursor.zip(page.checked_add(1).filter(|p| *p <= MAX_TOKEN_NUMBER)).map(
            |(cursor, next)| encode_token(&PageToken { c: cursor.to_string(), p: next, l: limit, f: filter_print }),
        );
        Ok(OrderListing {
            orders: page_of_orders.orders,
            page,
            limit,
            total: page_of_orders.total,
            pages: page_of_orders.total.div_ceil(u64::from(limit)),
            next_token,
        })
    }

    /// Changes an order's status (only at `expected_version`, when given); a change to `failed`
    /// may say why.
    pub async fn update_status(
        &self,
        order_id: OrderId,
        to: NewStatus,
        expected_version: Option<u64>,
    ) -> Result<StatusUpdate, OrderError> {
        let status = to.status;
        let update = self.orders.update_status(order_id, to, expected_version).await?;
        if update.changed {
            info!(
                order_id = %order_id, status = %status, version = update.order.version,
                reason = ?update.order.failure_reason,
                correlation_id = update.order.correlation_id.as_deref().unwrap_or_default(),
                "order status changed"
            );
            match status {
                OrderStatus::Cancelled => crate::metrics::order_cancelled(),
                OrderStatus::Delivered => crate::metrics::order_delivered(),
                OrderStatus::Failed => crate::metrics::order_failed(crate::metrics::FailureKind::Client),
                OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Shipped => {}
            }
        }
        Ok(update)
    }

    /// Deletes an order (only at `expected_version`, when given).
    pub async fn delete_order(&self, order_id: OrderId, expected_version: Option<u64>) -> Result<Order, OrderError> {
        let deleted = self.orders.delete_order(order_id, expected_version).await?;
        info!(order_id = %order_id, "order deleted");
        Ok(deleted)
    }

    /// Starts the order's workflow execution (named by the order id), or returns the one it has.
    pub async fn start_workflow(&self, order_id: OrderId) -> Result<StartedExecution, OrderError> {
        let order = self.get_order(order_id).await?;
        Ok(start_order_workflow(self.workflow.as_ref(), &order).await?)
    }

    /// Describes a workflow execution. A pending order's execution not started yet (its change
    /// record starts it, [`WorkflowStart::FromChangeFeed`], or its start failed) is started now: a
    /// create answered with the execution's ARN, so the client may ask for it at once.
    pub async fn describe_execution(&self, arn: &ExecutionArn) -> Result<ExecutionDescription, OrderError> {
        if let Some(found) = self.workflow.describe_execution(arn).await? {
            return Ok(found);
        }
        let Some(order) = self.order_awaiting_its_start(arn).await? else {
            return Err(OrderError::ExecutionNotFound);
        };
        // A start that fails now is made again by the order's change record; until then the
        // execution is not there. An engine out of reach says so (503), not that it is missing.
        match ensure_order_workflow(self.workflow.as_ref(), &order).await {
            Ok(()) => {}
            Err(error @ WorkflowError::Unavailable(_)) => return Err(error.into()),
            Err(error) => {
                warn!(order_id = %order.order_id, %error, "could not start the order's workflow when asked for it");
                return Err(OrderError::ExecutionNotFound);
            }
        }
        self.workflow.describe_execution(arn).await?.ok_or(OrderError::ExecutionNotFound)
    }

    /// The order whose execution `arn` is, when the order is pending and `arn` is the one its
    /// create named and this engine would start: only a pending order may still lack its
    /// execution.
    async fn order_awaiting_its_start(&self, arn: &ExecutionArn) -> Result<Option<Order>, OrderError> {
        let Ok(order_id) = arn.name().parse::<OrderId>() else { return Ok(None) };
        if self.workflow.execution_arn(arn.name()) != *arn {
            return Ok(None);
        }
        let order = self.orders.get_order(order_id).await?;
        Ok(order.filter(|order| {
            order.status == OrderStatus::Pending && order.execution_arn.as_deref() == Some(arn.as_str())
        }))
    }
}

/// The input of an order's workflow execution: the order id, the products of its lines (sorted,
/// once each), which the processing task reads together with the order, and the order's
/// correlation id when it has one (so the workflow's history and its task messages carry it).
/// Made from what never changes on an order, so that every caller (the create request, its
/// retries, the stream processor reacting to the order's insert, an operator) gives the same input,
/// as Step Functions' idempotent start requires.
pub fn execution_input(order: &Order) -> serde_json::Value {
    let products: std::collections::BTreeSet<&str> = order.items.iter().map(|item| item.product_id.as_str()).collect();
    let mut input = serde_json::json!({ "order_id": order.order_id.to_string(), "product_ids": products });
    if let Some(correlation_id) = &order.correlation_id {
        input["correlation_id"] = serde_json::json!(correlation_id);
    }
    input
}

/// Starts an order's workflow execution, named by the order id with [`execution_input`], so that a
/// repeat from any caller starts nothing new.
pub async fn start_order_workflow(
    workflow: &dyn WorkflowEngine,
    order: &Order,
) -> Result<StartedExecution, WorkflowError> {
    let started = workflow.start_execution(&order.order_id.to_string(), &execution_input(order)).await?;
    if started.newly_started {
        info!(order_id = %order.order_id, execution_arn = %started.execution_arn, "workflow started");
    }
    Ok(started)
}

/// Makes sure an order's workflow execution exists, as [`start_order_workflow`] names it, without
/// asking whether this call started it (on Step Functions one request instead of two).
pub async fn ensure_order_workflow(workflow: &dyn WorkflowEngine, order: &Order) -> Result<(), WorkflowError> {
    workflow.ensure_execution(&order.order_id.to_string(), &execution_input(order)).await.map(|_| ())
}

fn check_idempotency_key(key: &str) -> Result<(), ValidationError> {
    let printable = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !printable {
        return Err(ValidationError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"),
        ));
    }
    Ok(())
}

fn filter_fingerprint(filter: &ListFilter) -> String {
    let mut hash = Sha256::new();
    hash.update(filter.status.map(OrderStatus::as_str).unwrap_or("*"));
    hash.update([0x1f]);
    hash.update(filter.customer_id.as_deref().unwrap_or("*"));
    hex::encode(&hash.finalize()[..8])
}

fn encode_token(token: &PageToken) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).unwrap_or_default())
}

fn invalid_token() -> ValidationError {
    ValidationError::invalid("next_token", "is not a token this API issued")
}

/// Reads a token: well-formed, leading to page 2 or later (a token never leads to the first page).
fn decode_token(text: &str) -> Result<PageToken, ValidationError> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid_token())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid_token())?;
    if !(2..=MAX_TOKEN_NUMBER).contains(&token.p) {
        return Err(invalid_token());
    }
    Ok(token)
}

/// A token's cursor: a listing sequence number from 1 to `i64::MAX`, in plain decimal digits.
fn token_cursor(text: &str) -> Result<u64, ValidationError> {
    let digits = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(seq) if digits && (1..=MAX_TOKEN_NUMBER).contains(&seq) => Ok(seq),
        _ => Err(invalid_token()),
    }
}
