//! The catalog routes: list the products with their stock, get one, set the units one has available.
//!
//! A `{product_id}` is documented with the pattern of `check_identifier` (the `customer_id` filter
//! of `GET /orders` has the same one), which `ProductIdPath` enforces: what the document calls a
//! valid id reaches the look-up, anything else is a 400.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orders_core::domain::CatalogEntry;

use super::AppState;
use super::body::{ProductBody, ProductListBody, ProductListQuery, StockChangeBody};
use super::error::{ApiError, ErrorBody, ForbiddenResponse, StorageFailureResponses};
use super::extract::{JsonBytes, ProductIdPath, QueryParameters, etag, if_match_product_version};

/// List the catalog's products with their stock, by product id.
#[utoipa::path(
    get, path = "/products", tag = "products",
    params(ProductListQuery),
    responses(
        (status = 200, description = "One page of products", body = ProductListBody),
        (status = 400, description = "A bad query parameter, naming it", body = ErrorBody),
        ForbiddenResponse,
        StorageFailureResponses,
    )
)]
pub async fn list_products(
    State(state): State<Arc<AppState>>,
    QueryParameters(parameters): QueryParameters,
) -> Result<Json<ProductListBody>, ApiError> {
    let query = ProductListQuery::from_parameters(parameters)
        .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {e}")))?;
    let (page, limit) = query.into_page_and_limit()?;
    let listing = state.products.list_products(page, limit).await?;
    Ok(Json(ProductListBody::from(listing)))
}

/// Get one product with its stock. The `ETag` header carries its version.
#[utoipa::path(
    get, path = "/products/{product_id}", tag = "products",
    params(
        ("product_id" = String, Path, min_length = 1, max_length = 64,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$",
            example = "PROD001",
            description = "The product's catalog id: 1 to 64 characters, no control characters, no surrounding white space"),
    ),
    responses(
        (status = 200, description = "The product", body = ProductBody,
            headers(("ETag" = String, description = "The product's version, for If-Match (always sent)")),
            links(("SetStock" = (operation_id = "set_stock", parameters(("product_id" = "$response.body#/product_id")))))),
        (status = 400, description = "product_id is not a catalog id", body = ErrorBody),
        ForbiddenResponse,
        (status = 404, description = "No such product", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn get_product(
    State(state): State<Arc<AppState>>,
    ProductIdPath(product_id): ProductIdPath,
) -> Result<Response, ApiError> {
    let entry = state.products.get_product(&product_id).await?;
    Ok(product_response(entry))
}

/// Set the units a product has available (its stock is tracked from then on; units reserved by
/// orders in progress stay reserved). Send `If-Match` with the version you read to set it only if
/// nothing changed the product since.
#[utoipa::path(
    put, path = "/products/{product_id}/stock", tag = "products",
    params(
        ("product_id" = String, Path, min_length = 1, max_length = 64,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u001f\u007f-\u009f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$",
            example = "PROD001",
            description = "The product's catalog id: 1 to 64 characters, no control characters, no surrounding white space"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,19}"|[0-9]{1,19})$"#,
            description = "The version the change is based on: `\"3\"`, `W/\"3\"` or `3` (`*`: any version)"),
    ),
    request_body(content = StockChangeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The product after the change", body = ProductBody,
            headers(("ETag" = String, description = "The product's new version (always sent)")),
            links(("GetProduct" = (operation_id = "get_product", parameters(("product_id" = "$response.body#/product_id")))))),
        (status = 400, description = "A bad body, product_id or If-Match", body = ErrorBody),
        ForbiddenResponse,
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the server's body-read timeout", body = ErrorBody),
        (status = 412, description = "The product is no longer at the If-Match version", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Body not declared as JSON", body = ErrorBody),
        StorageFailureResponses,
    )
)]
pub async fn set_stock(
    State(state): State<Arc<AppState>>,
    ProductIdPath(product_id): ProductIdPath,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let expected_version = if_match_product_version(&headers)?;
    let stock = StockChangeBody::from_json_bytes(&body)?;
    let entry = state.products.set_stock(&product_id, stock, expected_version).await?;
    Ok(product_response(entry))
}

fn product_response(entry: CatalogEntry) -> Response {
    let tag = etag(entry.version);
    let mut response = (StatusCode::OK, Json(ProductBody::from(entry))).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
