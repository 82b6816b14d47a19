//! The OpenAPI 3 document of every route, body and error, served at `GET /openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use super::body::{
    ApiExecutionStatus, ApiOrderStatus, ExecutionBody, NewOrderBody, NewOrderItemBody, OrderBody, OrderCreatedBody,
    OrderDeletedBody, OrderItemBody, OrderListBody, OrderSummaryBody, Pagination, ProductBody, ProductListBody,
    StatusChangeBody, StockChangeBody, WorkflowStartedBody,
};
use super::error::{ErrorBody, ForbiddenResponse};
use super::{executions, metrics, orders, products};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order Management API",
        description = "Orders with automatic totals, pagination, status changes, Step Functions workflows and S3 backups, and the product catalog with its stock. Every route needs an `x-api-key` header.",
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
        products::list_products,
        products::get_product,
        products::set_stock,
        metrics::render,
        serve_document,
    ),
    components(schemas(
        NewOrderBody, NewOrderItemBody, OrderBody, OrderItemBody, OrderSummaryBody, ApiOrderStatus, ExecutionBody,
        ApiExecutionStatus, ErrorBody, OrderCreatedBody, OrderListBody, Pagination, StatusChangeBody, OrderDeletedBody,
        WorkflowStartedBody, ProductBody, ProductListBody, StockChangeBody,
    )),
    modifiers(&ApiKeySecurity, &Throttling),
    security(("api_key" = [])),
    tags(
        (name = "orders", description = "Orders"),
        (name = "workflow", description = "Step Functions executions"),
        (name = "products", description = "The product catalog and the stock of each product")
    )
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

/// Adds the 429 that every operation can answer: `orders serve` limits the requests of each client
/// before anything else (`--rate-limit`), and API Gateway throttles per stage and per key. Both
/// answer with a JSON `message` and `Retry-After`.
struct Throttling;

impl utoipa::Modify for Throttling {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let too_many = ResponseBuilder::new()
            .description("Too many requests from this client: retry after `Retry-After` seconds")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation.responses.responses.entry("429".to_owned()).or_insert_with(|| too_many.clone().into());
            }
        }
    }
}

/// The OpenAPI document.
///
/// Serialize it with [`openapi_json`]: utoipa 5 writes the fields of response links in snake case
/// (`operation_id`), which OpenAPI tools do not read as links.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    close_status_change_variants(&mut document);
    document
}

/// Each shape of a status change admits only its own fields, as the parser does
/// (`deny_unknown_fields`): utoipa 5 writes `additionalProperties: false` for such structs but not
/// for the variants of an internally tagged enum, and without it `{"status":"shipped","reason":…}`
/// would match the `shipped` shape of the document while the API refuses it.
fn close_status_change_variants(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = document.components.as_mut() else { return };
    if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("StatusChange") {
        for variant in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = variant {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// The OpenAPI document as served: [`openapi_document`] with its links spelled as OpenAPI spells them
/// (`operationId`, `operationRef`, `requestBody`).
pub fn openapi_json() -> Value {
    let mut document = serde_json::to_value(openapi_document()).unwrap_or_else(|error| {
        // Serializing plain data into a Value cannot fail; should it ever, say so in the document.
        tracing::error!(%error, "cannot serialize the OpenAPI document");
        Value::Null
    });
    let links = document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (snake, camel) in
            [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
        {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
    document
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "orders",
    responses(
        (status = 200, description = "The OpenAPI 3 document", content_type = "application/json"),
        ForbiddenResponse,
    )
)]
pub async fn serve_document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(openapi_json).clone())
}
