//! Every JSON body the API reads or writes, and the OpenAPI schema of each (named as the document
//! names it). Responses are converted from the domain and use-case types here, so the domain's own
//! serialization (storage, backups, the change stream) can change without changing the API.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orders_core::application::{ListOrders, OrderCreated, OrderListing, ProductListing};
use orders_core::domain::order::rfc3339;
use orders_core::domain::stock::check_stock;
use orders_core::domain::validation::check_identifier;
use orders_core::domain::{self, Money, OrderId, ValidationError};
use orders_core::ports::{ExecutionDescription, ExecutionStatus, ListFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = OrderStatus)]
#[serde(rename_all = "lowercase")]
pub enum ApiOrderStatus {
    /// Order created, awaiting processing.
    Pending,
    /// Order is being processed.
    Processing,
    /// Order has been shipped.
    Shipped,
    /// Order has been delivered.
    Delivered,
    /// Order has been cancelled.
    Cancelled,
    /// Order processing failed.
    Failed,
}

impl From<domain::OrderStatus> for ApiOrderStatus {
    fn from(status: domain::OrderStatus) -> Self {
        match status {
            domain::OrderStatus::Pending => ApiOrderStatus::Pending,
            domain::OrderStatus::Processing => ApiOrderStatus::Processing,
            domain::OrderStatus::Shipped => ApiOrderStatus::Shipped,
            domain::OrderStatus::Delivered => ApiOrderStatus::Delivered,
            domain::OrderStatus::Cancelled => ApiOrderStatus::Cancelled,
            domain::OrderStatus::Failed => ApiOrderStatus::Failed,
        }
    }
}

impl From<ApiOrderStatus> for domain::OrderStatus {
    fn from(status: ApiOrderStatus) -> Self {
        match status {
            ApiOrderStatus::Pending => domain::OrderStatus::Pending,
            ApiOrderStatus::Processing => domain::OrderStatus::Processing,
            ApiOrderStatus::Shipped => domain::OrderStatus::Shipped,
            ApiOrderStatus::Delivered => domain::OrderStatus::Delivered,
            ApiOrderStatus::Cancelled => domain::OrderStatus::Cancelled,
            ApiOrderStatus::Failed => domain::OrderStatus::Failed,
        }
    }
}

// `POST /orders` reads this body with `NewOrder::from_json_bytes` (shared with the import queue),
// which names the first broken rule; the test below keeps the two readings in step.
/// A new order as a client sends it: `{"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NewOrder)]
#[serde(deny_unknown_fields)]
pub struct NewOrderBody {
    /// Who places the order: 1 to 64 characters.
    #[schema(example = "CUST001", min_length = 1, max_length = 64)]
    pub customer_id: String,
    /// 1 to 100 items, each product at most once.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<NewOrderItemBody>,
}

/// One requested line: a catalog product and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NewOrderItem)]
#[serde(deny_unknown_fields)]
pub struct NewOrderItemBody {
    /// A product id from the catalog.
    #[schema(example = "PROD001", min_length = 1, max_length = 64)]
    pub product_id: String,
    /// 1 to 1000.
    #[schema(example = 2, minimum = 1, maximum = 1000)]
    pub quantity: u32,
}

impl From<domain::NewOrder> for NewOrderBody {
    fn from(order: domain::NewOrder) -> Self {
        NewOrderBody {
            customer_id: order.customer_id,
            items: order
                .items
                .into_iter()
                .map(|item| NewOrderItemBody { product_id: item.product_id, quantity: item.quantity })
                .collect(),
        }
    }
}

/// One priced line of an order. The unit price is copied from the catalog when the order is made,
/// so later price changes never alter an existing order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = OrderItem)]
pub struct OrderItemBody {
    /// Catalog product id.
    #[schema(example = "PROD001")]
    pub product_id: String,
    /// How many units, at least 1.
    #[schema(example = 2, minimum = 1)]
    pub quantity: u32,
    /// Price of one unit when the order was made.
    #[schema(value_type = f64, example = 25.50)]
    pub unit_price: Money,
    /// `unit_price * quantity`.
    #[schema(value_type = f64, example = 51.00)]
    pub line_total: Money,
}

impl From<domain::OrderItem> for OrderItemBody {
    fn from(item: domain::OrderItem) -> Self {
        OrderItemBody {
            product_id: item.product_id,
            quantity: item.quantity,
            unit_price: item.unit_price,
            line_total: item.line_total,
        }
    }
}

/// A whole order, as `GET /orders/{order_id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderBody {
    /// The order's id.
    #[schema(value_type = String, format = Uuid, example = "550e8400-e29b-41d4-a716-446655440000")]
    pub order_id: OrderId,
    /// Who placed it.
    #[schema(example = "CUST001")]
    pub customer_id: String,
    /// The priced items.
    pub items: Vec<OrderItemBody>,
    /// Sum of the line totals.
    #[schema(value_type = f64, example = 150.75)]
    pub total_amount: Money,
    /// Current status.
    pub status: ApiOrderStatus,
    /// Starts at 1 and grows by one with every change; send it back as `If-Match` to update safely.
    #[schema(example = 1)]
    pub version: u64,
    /// When the order was created (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-24T10:30:00.000Z")]
    pub created_at: DateTime<Utc>,
    /// When the order last changed (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-24T10:30:00.000Z")]
    pub updated_at: DateTime<Utc>,
    /// The ARN of the order's workflow execution.
    #[schema(
        example = "arn:aws:states:us-east-1:123456789012:execution:OrderProcessingStateMachine:550e8400-e29b-41d4-a716-446655440000"
    )]
    pub execution_arn: Option<String>,
    /// Why a failed order failed, when the client or the workflow that failed it said why (only on
    /// failed orders).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "out of stock: PROD001 (requested 3, available 1)")]
    pub failure_reason: Option<String>,
}

impl From<domain::Order> for OrderBody {
    fn from(order: domain::Order) -> Self {
        OrderBody {
            order_id: order.order_id,
            customer_id: order.customer_id,
            items: order.items.into_iter().map(OrderItemBody::from).collect(),
            total_amount: order.total_amount,
            status: order.status.into(),
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
            execution_arn: order.execution_arn,
            failure_reason: order.failure_reason,
        }
    }
}

/// The short form of an order used in listings (the seed's list item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = OrderSummary)]
pub struct OrderSummaryBody {
    /// The order's id.
    #[schema(value_type = String, format = Uuid)]
    pub order_id: OrderId,
    /// Who placed it.
    pub customer_id: String,
    /// Sum of the line totals.
    #[schema(value_type = f64, example = 150.75)]
    pub total_amount: Money,
    /// Current status.
    pub status: ApiOrderStatus,
    /// When the order was created (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<domain::OrderSummary> for OrderSummaryBody {
    fn from(summary: domain::OrderSummary) -> Self {
        OrderSummaryBody {
            order_id: summary.order_id,
            customer_id: summary.customer_id,
            total_amount: summary.total_amount,
            status: summary.status.into(),
            created_at: summary.created_at,
        }
    }
}

/// `201` body of `POST /orders`: exactly the seed's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderCreatedBody {
    /// Always "Order created successfully".
    #[schema(example = "Order created successfully")]
    pub message: String,
    /// The new order's id.
    #[schema(example = "550e8400-e29b-41d4-a716-446655440000")]
    pub order_id: String,
    /// The order's workflow execution.
    #[schema(
        example = "arn:aws:states:us-east-1:123456789012:execution:OrderProcessingStateMachine:550e8400-e29b-41d4-a716-446655440000"
    )]
    pub execution_arn: String,
    /// Always "Save this execution_arn to check workflow status later".
    #[schema(example = "Save this execution_arn to check workflow status later")]
    pub note: String,
}

impl From<OrderCreated> for OrderCreatedBody {
    fn from(created: OrderCreated) -> Self {
        OrderCreatedBody {
            message: "Order created successfully".into(),
            order_id: created.order_id.to_string(),
            execution_arn: created.execution_arn,
            note: "Save this execution_arn to check workflow status later".into(),
        }
    }
}

/// The seed's pagination figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// This page's number (1-based).
    pub page: u64,
    /// Page size used (requests above 100 are capped to 100).
    pub limit: u32,
    /// Orders matching the filters (products in the catalog, in a product listing).
    pub total: u64,
    /// Pages at this size.
    pub pages: u64,
}

/// `200` body of `GET /orders`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderListBody {
    /// The page's orders, newest first.
    pub orders: Vec<OrderSummaryBody>,
    /// Where this page stands.
    pub pagination: Pagination,
    /// Pass as `next_token` (with the same filters and limit) for the next page; null on the last.
    pub next_token: Option<String>,
}

impl From<OrderListing> for OrderListBody {
    fn from(listing: OrderListing) -> Self {
        OrderListBody {
            orders: listing.orders.into_iter().map(OrderSummaryBody::from).collect(),
            pagination: Pagination {
                page: listing.page,
                limit: listing.limit,
                total: listing.total,
                pages: listing.pages,
            },
            next_token: listing.next_token,
        }
    }
}

/// Largest `page` and `limit` accepted: the int64 range the document gives them (and the response's
/// `pagination` figures).
pub const MAX_PAGE_PARAMETER: u64 = i64::MAX as u64;

/// Query of `GET /orders`. Each parameter is read as text and then checked, so that a bad one is
/// refused naming the rule it breaks; the document gives each the type it is checked against.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page number, from 1 (default 1). Not with `next_token`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9_223_372_036_854_775_807_i64, example = 1)]
    page: Option<String>,
    /// Orders per page, from 1 (default 10; above 100 is capped to 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9_223_372_036_854_775_807_i64, example = 10)]
    limit: Option<String>,
    /// Only orders in this status.
    #[param(value_type = Option<ApiOrderStatus>)]
    status: Option<String>,
    /// Only this customer's orders: 1 to 64 characters, no control characters, no surrounding white
    /// space (the rules of `customer_id` in orders).
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    customer_id: Option<String>,
    /// The `next_token` of the previous page: cheap paging however far.
    next_token: Option<String>,
}

impl ListQuery {
    /// The query from its parameters (each name with its last value; names it does not know are
    /// ignored).
    pub fn from_parameters(parameters: HashMap<String, String>) -> Result<Self, serde_json::Error> {
        let fields = parameters.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
        serde_json::from_value(Value::Object(fields))
    }

    /// The listing asked for, once every parameter is checked (in the order of the fields).
    pub fn into_request(self) -> Result<ListOrders, ValidationError> {
        let (page, limit) = page_and_limit(self.page.as_deref(), self.limit.as_deref())?;
        let status = self
            .status
            .as_deref()
            .map(str::parse::<domain::OrderStatus>)
            .transpose()
            .map_err(|e| ValidationError::invalid("status", e.to_string()))?;
        if let Some(customer) = &self.customer_id {
            check_identifier("customer_id", customer)?;
        }
        Ok(ListOrders {
            filter: ListFilter { status, customer_id: self.customer_id },
            limit,
            page,
            next_token: self.next_token,
        })
    }
}

/// A `page` or `limit` value: an integer from 1 to [`MAX_PAGE_PARAMETER`].
/// A listing's `page` and `limit` query parameters, checked (`page` first).
fn page_and_limit(page: Option<&str>, limit: Option<&str>) -> Result<(Option<u64>, Option<u32>), ValidationError> {
    let page = page.map(|text| page_parameter("page", text)).transpose()?;
    let limit = limit
        .map(|text| page_parameter("limit", text))
        .transpose()?
        .map(|limit| u32::try_from(limit).unwrap_or(u32::MAX));
    Ok((page, limit))
}

fn page_parameter(name: &str, text: &str) -> Result<u64, ValidationError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if (1..=MAX_PAGE_PARAMETER).contains(&n) => Ok(n),
        // Digits but not zero: too large (even for a u64).
        _ if digits && text.bytes().any(|b| b != b'0') => {
            Err(ValidationError::invalid(name, format!("must be at most {MAX_PAGE_PARAMETER}")))
        }
        _ => Err(ValidationError::invalid(name, "must be a positive integer")),
    }
}

/// Query of `GET /products`: `page` and `limit`, read and checked as those of `GET /orders` are.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    /// Page number, from 1 (default 1).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9_223_372_036_854_775_807_i64, example = 1)]
    page: Option<String>,
    /// Products per page, from 1 (default 10; above 100 is capped to 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 9_223_372_036_854_775_807_i64, example = 10)]
    limit: Option<String>,
}

impl ProductListQuery {
    /// The query from its parameters (each name with its last value; names it does not know are
    /// ignored, as `GET /orders` ignores them).
    pub fn from_parameters(parameters: HashMap<String, String>) -> Result<Self, serde_json::Error> {
        let fields = parameters.into_iter().map(|(name, value)| (name, Value::String(value))).collect();
        serde_json::from_value(Value::Object(fields))
    }

    /// The page and page size asked for, once both are checked (`page` first).
    pub fn into_page_and_limit(self) -> Result<(Option<u64>, Option<u32>), ValidationError> {
        page_and_limit(self.page.as_deref(), self.limit.as_deref())
    }
}

/// A catalog product with its stock, as `GET /products/{product_id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Product)]
pub struct ProductBody {
    /// Catalog id.
    #[schema(example = "PROD001")]
    pub product_id: String,
    /// Human-readable name.
    #[schema(example = "Widget")]
    pub name: String,
    /// Price of one unit now (orders keep the price they were made with).
    #[schema(value_type = f64, example = 25.50)]
    pub unit_price: Money,
    /// Units available to reserve; null when the product's stock is not tracked (no limit). Always
    /// sent.
    #[schema(required = true, minimum = 0, maximum = 1_000_000_000, example = 120)]
    pub stock: Option<u64>,
    /// Units held by orders in progress (reserved from the stock, not yet delivered or given back).
    #[schema(minimum = 0, example = 0)]
    pub reserved: u64,
    /// Grows with every change to the product (stock set, reservation, catalog load); send it
    /// back as `If-Match` to set the stock safely.
    #[schema(minimum = 0, example = 1)]
    pub version: u64,
}

impl From<domain::CatalogEntry> for ProductBody {
    fn from(entry: domain::CatalogEntry) -> Self {
        ProductBody {
            product_id: entry.product.product_id,
            name: entry.product.name,
            unit_price: entry.product.unit_price,
            stock: entry.product.stock,
            reserved: entry.reserved,
            version: entry.version,
        }
    }
}

/// `200` body of `GET /products`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductListBody {
    /// The page's products, by id.
    pub products: Vec<ProductBody>,
    /// Where this page stands.
    pub pagination: Pagination,
}

impl From<ProductListing> for ProductListBody {
    fn from(listing: ProductListing) -> Self {
        ProductListBody {
            products: listing.products.into_iter().map(ProductBody::from).collect(),
            pagination: Pagination {
                page: listing.page,
                limit: listing.limit,
                total: listing.total,
                pages: listing.pages,
            },
        }
    }
}

/// Body of `PUT /products/{product_id}/stock`: the units the product has available from now on
/// (its stock is tracked from then on). Units reserved by orders in progress stay reserved.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = StockChange)]
#[serde(deny_unknown_fields)]
pub struct StockChangeBody {
    /// Units available: an integer from 0 to 1000000000.
    #[schema(minimum = 0, maximum = 1_000_000_000, example = 120)]
    pub stock: u64,
}

impl StockChangeBody {
    /// Reads the body (a repeated key is refused) into the stock it sets, naming the first broken
    /// rule: `stock` first, then any field it does not know.
    pub fn from_json_bytes(body: &[u8]) -> Result<u64, ValidationError> {
        let value: Value = orders_core::domain::json::from_slice_unique(body)
            .map_err(|e| ValidationError::Body(format!("Invalid JSON: {e}")))?;
        let Value::Object(mut fields) = value else {
            return Err(ValidationError::Body("Request body must be a JSON object".into()));
        };
        let stock = match fields.remove("stock") {
            None | Some(Value::Null) => return Err(ValidationError::Missing("stock".into())),
            Some(Value::Number(n)) => whole_number(&n),
            Some(_) => None,
        };
        // Negative, fractional, too large or not a number: the range check's refusal, in its words.
        let stock = check_stock(stock.unwrap_or(u64::MAX))?;
        match fields.keys().next() {
            Some(unknown) => Err(ValidationError::invalid(unknown.clone(), "is not a known field")),
            None => Ok(stock),
        }
    }
}

/// A JSON number as a whole number from 0 up: `120`, and also `120.0` or `1.2e2`, which JSON Schema
/// (and so the document's `integer`) counts as integers too.
fn whole_number(number: &serde_json::Number) -> Option<u64> {
    // Integral floats up to 2^53 are exact; every stock level lies far below.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    number
        .as_u64()
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f)).map(|f| f as u64))
}

/// Body of `PUT /orders/{order_id}/status`: the status to move to; a change to `failed` may say
/// why. Each status is its own shape, so the document says that only `failed` takes a `reason`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "lowercase", deny_unknown_fields)]
#[schema(as = StatusChange)]
pub enum StatusChangeBody {
    /// Back to `pending`.
    Pending {},
    /// To `processing`.
    Processing {},
    /// To `shipped`.
    Shipped {},
    /// To `delivered`.
    Delivered {},
    /// To `cancelled`.
    Cancelled {},
    /// To `failed`, optionally saying why.
    Failed {
        /// Why the order failed: 1 to 1000 characters, not blank, no control characters. Shown as
        /// the order's `failure_reason`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(
            nullable = false,
            min_length = 1,
            max_length = 1000,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
            example = "payment declined"
        )]
        reason: Option<String>,
    },
}

impl StatusChangeBody {
    /// Reads the body (a repeated key is refused) into the status it asks for: what it accepts is
    /// this type's serde reading and the domain's rule for a reason; a refusal names the field and
    /// the rule it breaks.
    pub fn from_json_bytes(body: &[u8]) -> Result<domain::NewStatus, ValidationError> {
        let value: Value = orders_core::domain::json::from_slice_unique(body)
            .map_err(|e| ValidationError::Body(format!("Invalid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ValidationError::Body("Request body must be a JSON object".into()));
        };
        // (serde would read a null reason as none; the document says a reason is a string)
        if fields.get("reason").is_some_and(Value::is_null) {
            return Err(ValidationError::invalid("reason", "must be a string"));
        }
        let body: StatusChangeBody =
            serde_json::from_value(Value::Object(fields.clone())).map_err(|refusal| why_refused(fields, &refusal))?;
        let (status, reason) = match body {
            StatusChangeBody::Pending {} => (domain::OrderStatus::Pending, None),
            StatusChangeBody::Processing {} => (domain::OrderStatus::Processing, None),
            StatusChangeBody::Shipped {} => (domain::OrderStatus::Shipped, None),
            StatusChangeBody::Delivered {} => (domain::OrderStatus::Delivered, None),
            StatusChangeBody::Cancelled {} => (domain::OrderStatus::Cancelled, None),
            StatusChangeBody::Failed { reason } => (domain::OrderStatus::Failed, reason),
        };
        let reason = domain::FailureReason::for_status(status, reason.as_deref())?;
        Ok(domain::NewStatus { status, reason })
    }
}

/// What is wrong with a status-change object that [`StatusChangeBody`] refused: the status first,
/// then the reason, then the first field it does not know.
fn why_refused(mut fields: Map<String, Value>, refusal: &serde_json::Error) -> ValidationError {
    let status = match fields.remove("status") {
        None | Some(Value::Null) => return ValidationError::Missing("status".into()),
        Some(Value::String(text)) => match text.parse::<domain::OrderStatus>() {
            Ok(status) => status,
            Err(unknown) => return ValidationError::invalid("status", unknown.to_string()),
        },
        Some(_) => return ValidationError::invalid("status", "must be a string"),
    };
    match fields.remove("reason") {
        Some(Value::String(reason)) => {
            if let Err(refused) = domain::FailureReason::for_status(status, Some(&reason)) {
                return refused;
            }
        }
        None => {}
        Some(_) => return ValidationError::invalid("reason", "must be a string"),
    }
    match fields.keys().next() {
        Some(unknown) => ValidationError::invalid(unknown.clone(), "is not a known field"),
        None => ValidationError::Body(format!("Invalid body: {refusal}")),
    }
}

/// `200` body of `DELETE /orders/{order_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDeletedBody {
    /// Always "Order deleted successfully".
    pub message: String,
    /// The deleted order's id.
    pub order_id: String,
}

/// Body of `POST /orders/{order_id}/workflow`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(missing_docs)]
pub struct WorkflowStartedBody {
    /// "Workflow started", or "Workflow already started" when the order's execution existed.
    pub message: String,
    pub order_id: String,
    pub execution_arn: String,
}

/// An execution's status, spelled as Step Functions spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = ExecutionStatus)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiExecutionStatus {
    /// Still going.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Ran past its time limit.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

impl From<ExecutionStatus> for ApiExecutionStatus {
    fn from(status: ExecutionStatus) -> Self {
        match status {
            ExecutionStatus::Running => ApiExecutionStatus::Running,
            ExecutionStatus::Succeeded => ApiExecutionStatus::Succeeded,
            ExecutionStatus::Failed => ApiExecutionStatus::Failed,
            ExecutionStatus::TimedOut => ApiExecutionStatus::TimedOut,
            ExecutionStatus::Aborted => ApiExecutionStatus::Aborted,
        }
    }
}

/// What `GET /executions/{arn}` reports.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ExecutionDescription)]
#[allow(missing_docs)]
pub struct ExecutionBody {
    pub execution_arn: String,
    /// The state machine it runs.
    pub state_machine_arn: String,
    /// Its name (the order id for order workflows).
    pub name: String,
    pub status: ApiExecutionStatus,
    /// When it started (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start_date: DateTime<Utc>,
    /// When it stopped, once it has (RFC 3339, UTC).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stop_date: Option<String>,
    /// The execution's input.
    pub input: serde_json::Value,
    /// Its output, once it succeeded.
    pub output: Option<serde_json::Value>,
    /// The error name, once it failed.
    pub error: Option<String>,
    /// The error's cause, once it failed.
    pub cause: Option<String>,
}

impl From<ExecutionDescription> for ExecutionBody {
    fn from(execution: ExecutionDescription) -> Self {
        ExecutionBody {
            execution_arn: execution.execution_arn.into(),
            state_machine_arn: execution.state_machine_arn,
            name: execution.name,
            status: execution.status.into(),
            start_date: execution.start_date,
            stop_date: execution.stop_date.as_ref().map(rfc3339::format),
            input: execution.input,
            output: execution.output,
            error: execution.error,
            cause: execution.cause,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_documented_new_order_reads_as_the_domain_reads_it() {
        let sent = br#"{"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]}"#;
        let documented: NewOrderBody = serde_json::from_slice(sent).unwrap();
        let read = domain::NewOrder::from_json_bytes(sent).unwrap();
        assert_eq!(NewOrderBody::from(read), documented);
        let unknown_field = br#"{"customer_id": "C", "items": [{"product_id": "P", "quantity": 1}], "x": 1}"#;
        assert!(serde_json::from_slice::<NewOrderBody>(unknown_field).is_err());
        assert!(domain::NewOrder::from_json_bytes(unknown_field).is_err());
    }

    #[test]
    fn a_stock_change_names_its_first_broken_rule() {
        let read = |body: &str| StockChangeBody::from_json_bytes(body.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"stock": 0}"#), Ok(0));
        assert_eq!(read(r#"{"stock": 1000000000}"#), Ok(1_000_000_000));
        // What JSON Schema calls an integer, the document's type for it
        assert_eq!(read(r#"{"stock": 5408307.0}"#), Ok(5_408_307));
        assert_eq!(read(r#"{"stock": 1.2e2}"#), Ok(120));
        assert_eq!(read(r#"{"stock": -0.0}"#), Ok(0));
        // The documented body reads the same
        let documented: StockChangeBody = serde_json::from_str(r#"{"stock": 120}"#).unwrap();
        assert_eq!(read(r#"{"stock": 120}"#), Ok(documented.stock));
        let out_of_range = "Invalid field stock: must be an integer from 0 to 1000000000";
        for body in [
            r#"{"stock": -1}"#,
            r#"{"stock": 1000000001}"#,
            r#"{"stock": 1.5}"#,
            r#"{"stock": 1000000000.5}"#,
            r#"{"stock": 1e30}"#,
            r#"{"stock": -2.0}"#,
            r#"{"stock": "3"}"#,
            r#"{"stock": true}"#,
            r#"{"stock": [1]}"#,
            r#"{"stock": -1, "extra": 1}"#,
        ] {
            assert_eq!(read(body).unwrap_err(), out_of_range, "{body}");
        }
        assert_eq!(read(r#"{}"#).unwrap_err(), "Missing required field: stock");
        assert_eq!(read(r#"{"stock": null}"#).unwrap_err(), "Missing required field: stock");
        assert_eq!(read(r#"{"stock": 1, "reserved": 0}"#).unwrap_err(), "Invalid field reserved: is not a known field");
        assert_eq!(read("[1]").unwrap_err(), "Request body must be a JSON object");
        assert!(read(r#"{"stock": 1, "stock": 2}"#).unwrap_err().starts_with("Invalid JSON: duplicate key"));
        assert!(read("{").unwrap_err().starts_with("Invalid JSON: "));
        assert!(serde_json::from_str::<StockChangeBody>(r#"{"stock": 1, "x": 1}"#).is_err());
    }

    #[test]
    fn product_listing_parameters_are_checked_as_the_order_listing_parameters() {
        let query = |pairs: &[(&str, &str)]| {
            let parameters = pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
            ProductListQuery::from_parameters(parameters).unwrap().into_page_and_limit().map_err(|e| e.to_string())
        };
        assert_eq!(query(&[]), Ok((None, None)));
        assert_eq!(query(&[("page", "2"), ("limit", "5"), ("status", "shipped")]), Ok((Some(2), Some(5))));
        assert_eq!(query(&[("limit", "9223372036854775807")]), Ok((None, Some(u32::MAX))));
        assert_eq!(query(&[("page", "0")]).unwrap_err(), "Invalid field page: must be a positive integer");
        assert_eq!(query(&[("limit", "x")]).unwrap_err(), "Invalid field limit: must be a positive integer");
        assert_eq!(
            query(&[("page", "9223372036854775808")]).unwrap_err(),
            "Invalid field page: must be at most 9223372036854775807"
        );
    }

    #[test]
    fn statuses_keep_their_names_both_ways() {
        for status in domain::OrderStatus::ALL {
            let shown = serde_json::to_value(ApiOrderStatus::from(status)).unwrap();
            assert_eq!(shown, status.as_str());
            assert_eq!(domain::OrderStatus::from(ApiOrderStatus::from(status)), status);
        }
    }
}
