//! The order routes: create, list, get, change status, delete, start the workflow.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orders_core::application::{CreateOrder, ListOrders};
use orders_core::domain::validation::check_identifier;
use orders_core::domain::{NewOrder, Order, OrderStatus, ValidationError};
use orders_core::ports::ListFilter;
use serde_json::Value;

use super::AppState;
use super::body::{
    ListQuery, NewOrderBody, OrderBody, OrderCreatedBody, OrderDeletedBody, OrderListBody, StatusChangeBody,
    WorkflowStartedBody,
};
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBytes, OrderIdPath, QueryParameters, etag, if_match_version};

/// The header that makes `POST /orders` safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on a response that repeats the first answer to an Idempotency-Key.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Largest `page` and `limit` accepted: the int64 range the document gives them (and the response's
/// `pagination` figures).
pub const MAX_PAGE_PARAMETER: u64 = i64::MAX as u64;

/// Create an order: prices the items from the catalog, stores the order and starts its workflow.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    request_body(content = NewOrderBody, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
        pattern = r"^[ -~]{1,255}$",
        description = "1 to 255 printable ASCII characters. Makes the request safe to retry for 24 hours: the same key with the same body returns the first response and creates nothing; with another body it is refused (422).")),
    responses(
        (status = 201, description = "Order created (or, with `Idempotent-Replayed: true`, the first response to this Idempotency-Key)", body = OrderCreatedBody,
            headers(
                ("Location" = String, description = "The new order: `/orders/{order_id}`"),
                ("Idempotent-Replayed" = String, description = "`true` when this repeats the first response to the Idempotency-Key (absent otherwise)"),
            ),
            links(
                ("GetOrder" = (operation_id = "get_order", parameters(("order_id" = "$response.body#/order_id")))),
                ("ChangeStatus" = (operation_id = "update_status", parameters(("order_id" = "$response.body#/order_id")))),
                ("DeleteOrder" = (operation_id = "delete_order", parameters(("order_id" = "$response.body#/order_id")))),
                ("StartWorkflow" = (operation_id = "start_workflow", parameters(("order_id" = "$response.body#/order_id")))),
                ("DescribeExecution" = (operation_id = "describe_execution", parameters(("execution_arn" = "$response.body#/execution_arn")))),
            )),
        (status = 400, description = "A broken rule, naming the field", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the server's body-read timeout", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Body not declared as JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::from(ValidationError::invalid("Idempotency-Key", "must be printable ASCII")))?
                .to_owned(),
        ),
    };
    let order = NewOrder::from_json_bytes(&body)?;
    let created = state.service.create_order(CreateOrder { order, idempotency_key, key_lifetime: None }).await?;
    let replayed = created.replayed;
    let body = OrderCreatedBody::from(created);
    let location = format!("/orders/{}", body.order_id);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// List orders, newest first, by page number or by `next_token`.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of orders", body = OrderListBody),
        (status = 400, description = "A bad query parameter, naming it", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    QueryParameters(query): QueryParameters,
) -> Result<Json<OrderListBody>, ApiError> {
    let positive = |name: &str| -> Result<Option<u64>, ApiError> {
        query.get(name).map(|text| page_parameter(name, text)).transpose().map_err(ApiError::from)
    };
    let page = positive("page")?;
    let limit = positive("limit")?.map(|limit| u32::try_from(limit).unwrap_or(u32::MAX));
    let status = query
        .get("status")
        .map(|text| text.parse::<OrderStatus>())
        .transpose()
        .map_err(|e| ValidationError::invalid("status", e.to_string()))?;
    let customer_id = query.get("customer_id").cloned();
    if let Some(customer) = &customer_id {
        check_identifier("customer_id", customer)?;
    }
    let listing = state
        .service
        .list_orders(ListOrders {
            filter: ListFilter { status, customer_id },
            limit,
            page,
            next_token: query.get("next_token").cloned(),
        })
        .await?;
    Ok(Json(OrderListBody::from(listing)))
}

/// A `page` or `limit` value: an integer from 1 to [`MAX_PAGE_PARAMETER`].
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

/// Get one order with its items. The `ETag` header carries its version.
#[utoipa::path(
    get, path = "/orders/{order_id}", tag = "orders",
    params(("order_id" = uuid::Uuid, Path, description = "The order's id (a UUID)")),
    responses(
        (status = 200, description = "The order", body = OrderBody,
            headers(("ETag" = String, description = "The order's version, for If-Match (always sent)")),
            links(
                ("ChangeStatus" = (operation_id = "update_status", parameters(("order_id" = "$response.body#/order_id")))),
                ("DeleteOrder" = (operation_id = "delete_order", parameters(("order_id" = "$response.body#/order_id")))),
                ("StartWorkflow" = (operation_id = "start_workflow", parameters(("order_id" = "$response.body#/order_id")))),
            )),
        (status = 400, description = "order_id is not a UUID", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn get_order(State(state): State<AppState>, OrderIdPath(id): OrderIdPath) -> Result<Response, ApiError> {
    let order = state.service.get_order(id).await?;
    Ok(order_response(StatusCode::OK, order))
}

/// Change an order's status. Send `If-Match` with the version you read to change it only if nobody
/// changed it since; setting the status it already has changes nothing.
#[utoipa::path(
    put, path = "/orders/{order_id}/status", tag = "orders",
    params(
        ("order_id" = uuid::Uuid, Path, description = "The order's id (a UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,19}"|[0-9]{1,19})$"#,
            description = "The version the change is based on: `\"3\"`, `W/\"3\"` or `3` (`*`: any version)"),
    ),
    request_body(content = StatusChangeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The order after the change", body = OrderBody,
            headers(("ETag" = String, description = "The order's new version (always sent)")),
            links(
                ("GetOrder" = (operation_id = "get_order", parameters(("order_id" = "$response.body#/order_id")))),
                ("DeleteOrder" = (operation_id = "delete_order", parameters(("order_id" = "$response.body#/order_id")))),
            )),
        (status = 400, description = "A bad body, status or If-Match", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The transition table forbids this change", body = ErrorBody),
        (status = 412, description = "The order is no longer at the If-Match version", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the server's body-read timeout", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Body not declared as JSON", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn update_status(
    State(state): State<AppState>,
    OrderIdPath(id): OrderIdPath,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let expected_version = if_match_version(&headers)?;
    let status = read_status_change(&body)?;
    let update = state.service.update_status(id, status, expected_version).await?;
    Ok(order_response(StatusCode::OK, update.order))
}

fn read_status_change(body: &[u8]) -> Result<OrderStatus, ValidationError> {
    let value: Value = orders_core::domain::json::from_slice_unique(body)
        .map_err(|e| ValidationError::Body(format!("Invalid JSON: {e}")))?;
    let Value::Object(mut fields) = value else {
        return Err(ValidationError::Body("Request body must be a JSON object".into()));
    };
    let status = match fields.remove("status") {
        None | Some(Value::Null) => return Err(ValidationError::Missing("status".into())),
        Some(Value::String(text)) => text
            .parse()
            .map_err(|e: orders_core::domain::UnknownStatus| ValidationError::invalid("status", e.to_string()))?,
        Some(_) => return Err(ValidationError::invalid("status", "must be a string")),
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(ValidationError::invalid(unknown.clone(), "is not a known field"));
    }
    Ok(status)
}

/// Delete an order (only at the `If-Match` version, when sent).
#[utoipa::path(
    delete, path = "/orders/{order_id}", tag = "orders",
    params(
        ("order_id" = uuid::Uuid, Path, description = "The order's id (a UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,19}"|[0-9]{1,19})$"#,
            description = "Delete only if the order is at this version: `\"3\"`, `W/\"3\"` or `3` (`*`: any version)"),
    ),
    responses(
        (status = 200, description = "Deleted", body = OrderDeletedBody,
            links(("GetOrder" = (operation_id = "get_order", parameters(("order_id" = "$response.body#/order_id")),
                description = "Reads of a deleted order are 404")))),
        (status = 400, description = "order_id is not a UUID, or a bad If-Match", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 412, description = "The order is no longer at the If-Match version", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn delete_order(
    State(state): State<AppState>,
    OrderIdPath(id): OrderIdPath,
    headers: HeaderMap,
) -> Result<Json<OrderDeletedBody>, ApiError> {
    let deleted = state.service.delete_order(id, if_match_version(&headers)?).await?;
    Ok(Json(OrderDeletedBody { message: "Order deleted successfully".into(), order_id: deleted.order_id.to_string() }))
}

/// Start the order's workflow execution (named by the order id); returns the existing one if it has
/// started already.
#[utoipa::path(
    post, path = "/orders/{order_id}/workflow", tag = "workflow",
    params(("order_id" = uuid::Uuid, Path, description = "The order's id (a UUID)")),
    responses(
        (status = 202, description = "Execution started", body = WorkflowStartedBody),
        (status = 200, description = "The order's execution had started already", body = WorkflowStartedBody),
        (status = 400, description = "order_id is not a UUID", body = ErrorBody),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
        (status = 503, description = "Storage briefly unavailable: retry", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying: 1"))),
    )
)]
pub async fn start_workflow(
    State(state): State<AppState>,
    OrderIdPath(id): OrderIdPath,
) -> Result<(StatusCode, Json<WorkflowStartedBody>), ApiError> {
    let started = state.service.start_workflow(id).await?;
    let (status, message) = if started.newly_started {
        (StatusCode::ACCEPTED, "Workflow started")
    } else {
        (StatusCode::OK, "Workflow already started")
    };
    Ok((
        status,
        Json(WorkflowStartedBody {
            message: message.into(),
            order_id: id.to_string(),
            execution_arn: started.execution_arn.to_string(),
        }),
    ))
}

fn order_response(status: StatusCode, order: Order) -> Response {
    let tag = etag(order.version);
    let mut response = (status, Json(OrderBody::from(order))).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
