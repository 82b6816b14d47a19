//! The OpenAPI 3 document of every route, body and error, served at `GET /openapi.json`.

use axum::Json;
use orders_core::domain::{NewOrder, NewOrderItem, Order, OrderItem, OrderStatus, OrderSummary};
use orders_core::ports::{ExecutionDescription, ExecutionStatus};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use super::error::ErrorBody;
use super::{executions, orders};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order Management API",
        description = "Orders with automatic totals, pagination, status changes, Step Functions workflows and S3 backups. Every route needs an `x-api-key` header.",
        license(name = "MIT")
    ),
    paths(
        orders::create_order,
        orders::list_orders,
        orders::get_order,
        orders::update_status,
        orders::delete_order,
        orders::start_workflow,
        executions::describe_execution,
        serve_document,
    ),
    components(schemas(
        NewOrder, NewOrderItem, Order, OrderItem, OrderSummary, OrderStatus, ExecutionDescription, ExecutionStatus,
        ErrorBody, orders::OrderCreatedBody, orders::OrderListBody, orders::Pagination, orders::StatusChangeBody,
        orders::OrderDeletedBody, orders::WorkflowStartedBody,
    )),
    modifiers(&ApiKeySecurity),
    security(("api_key" = [])),
    tags((name = "orders", description = "Orders"), (name = "workflow", description = "Step Functions executions"))
)]
struct ApiDoc;

struct ApiKeySecurity;

impl utoipa::Modify for ApiKeySecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// The OpenAPI document.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "orders",
    responses(
        (status = 200, description = "The OpenAPI 3 document", content_type = "application/json"),
        (status = 403, description = "Missing or wrong API key", body = ErrorBody),
    )
)]
pub async fn serve_document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
