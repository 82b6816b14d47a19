//! The order routes: create, list, get, change status, delete, start the workflow.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orders_core::application::CreateOrder;
use orders_core::domain::{NewOrder, Order, ValidationError};

use super::AppState;
use super::body::{
    ListQuery, NewOrderBody, OrderBody, OrderCreatedBody, OrderDeletedBody, OrderListBody, StatusChangeBody,
    WorkflowStartedBody,
};
use super::error::{ApiError, ErrorBody, ForbiddenResponse, StorageFailureResponses};
use super::extract::{JsonBytes, OrderIdPath, QueryParameters, etag, if_match_version};

/// The header that makes `POST /orders` safe to retry.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on a response that repeats the first answer to an Idempotency-Key.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

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
        ForbiddenResponse,
        (status = 408, description = "The body did not arrive within the server's body-read timeout", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Body not declared as JSON", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn create_order(
    State(state): State<Arc<AppState>>,
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
    // The request's id (assigned before any handler runs: the client's, API Gateway's or fresh).
    let correlation_id = headers.get(super::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = CreateOrder { order, idempotency_key, key_lifetime: None, correlation_id };
    let created = state.service.create_order(request).await?;
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
        ForbiddenResponse,
        StorageFailureResponses,
    )
)]
pub async fn list_orders(
    State(state): State<Arc<AppState>>,
    QueryParameters(parameters): QueryParameters,
) -> Result<Json<OrderListBody>, ApiError> {
    let query = ListQuery::from_parameters(parameters)
        .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {e}")))?;
    let listing = state.service.list_orders(query.into_request()?).await?;
    Ok(Json(OrderListBody::from(listing)))
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
        ForbiddenResponse,
        (status = 404, description = "No such order", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn get_order(State(state): State<Arc<AppState>>, OrderIdPath(id): OrderIdPath) -> Result<Response, ApiError> {
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
        ForbiddenResponse,
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The transition table forbids this change", body = ErrorBody),
        (status = 412, description = "The order is no longer at the If-Match version", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the server's body-read timeout", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Body not declared as JSON", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn update_status(
    State(state): State<Arc<AppState>>,
    OrderIdPath(id): OrderIdPath,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let expected_version = if_match_version(&headers)?;
    let status = StatusChangeBody::from_json_bytes(&body)?;
    let update = state.service.update_status(id, status, expected_version).await?;
    Ok(order_response(StatusCode::OK, update.order))
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
        ForbiddenResponse,
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 412, description = "The order is no longer at the If-Match version", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn delete_order(
    State(state): State<Arc<AppState>>,
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
        ForbiddenResponse,
        (status = 404, description = "No such order", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn start_workflow(
    State(state): State<Arc<AppState>>,
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
