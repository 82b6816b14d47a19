//! Reading requests: JSON bodies (declared type, size limit), path and query parameters, and the
//! `If-Match` version. Each failure becomes the seed's 400 (or 408/413/415) JSON body.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use orders_core::domain::validation::check_identifier;
use orders_core::domain::{OrderId, ValidationError};
use orders_core::ports::{ExecutionArn, InvalidExecutionArn};
use percent_encoding::percent_decode_str;

use super::MAX_BODY_BYTES;
use super::error::{ApiError, BodyReadTimeout};

/// A request body declared as JSON (`application/json` or `…+json`), not yet parsed: each route
/// parses it into its own shape so that errors can name fields.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        Bytes::from_request(request, state).await.map(JsonBytes).map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else if caused_by_body_read_timeout(&rejection) {
                ApiError::RequestTimeout
            } else {
                ApiError::BadRequest(format!("Could not read the request body: {}", rejection.body_text()))
            }
        })
    }
}

/// Whether the body could not be read because the server's body-read deadline passed (the error
/// the HTTP server puts in the body stream, wrapped by axum once or twice on its way here).
fn caused_by_body_read_timeout(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<BodyReadTimeout>() {
            return true;
        }
        cause = error.source();
    }
    false
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The `{order_id}` of the path, parsed. Anything else, a segment that is not UTF-8 included, is the
/// seed's 400 JSON body (axum's own `Path` rejection would answer that one in plain text).
pub struct OrderIdPath(pub OrderId);

impl<S: Send + Sync> FromRequestParts<S> for OrderIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_parameter(parts, state, "order_id").await.ok_or_else(invalid_order_id)?;
        raw.parse().map(OrderIdPath).map_err(|_| invalid_order_id())
    }
}

fn invalid_order_id() -> ApiError {
    ApiError::BadRequest("Invalid order_id: must be a UUID".into())
}

/// The `{product_id}` of the path, percent-decoded and checked as catalog ids are (1 to 64
/// characters, no control characters, no surrounding white space: the document's pattern for it);
/// else the seed's 400 JSON body naming it, before any look-up.
pub struct ProductIdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ProductIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_parameter(parts, state, "product_id")
            .await
            .ok_or_else(|| ValidationError::invalid("product_id", "must be UTF-8 once percent-decoded"))?;
        check_identifier("product_id", &raw)?;
        Ok(ProductIdPath(raw))
    }
}

/// The `{execution_arn}` of the path (URL-decoded), parsed by [`ExecutionArn`]; else the seed's 400
/// JSON body. [`ExecutionArn`] admits exactly what the document's pattern for it admits:
/// `^arn:aws[A-Za-z0-9-]*:states:[A-Za-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$`.
pub struct ExecutionArnPath(pub ExecutionArn);

impl<S: Send + Sync> FromRequestParts<S> for ExecutionArnPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || ApiError::BadRequest(format!("Invalid {InvalidExecutionArn}"));
        let raw = path_parameter(parts, state, "execution_arn").await.ok_or_else(invalid)?;
        raw.parse().map(ExecutionArnPath).map_err(|_| invalid())
    }
}

/// The route's one path parameter, percent-decoded; `None` when it is not UTF-8.
async fn path_parameter<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> Option<String> {
    match Path::<String>::from_request_parts(parts, state).await {
        Ok(Path(raw)) => Some(raw),
        Err(rejection) => {
            tracing::debug!(parameter = name, rejection = %rejection.body_text(), "unreadable path parameter");
            None
        }
    }
}

/// The query string's parameters, percent-decoded (a repeated name keeps its last value). A
/// parameter that is not UTF-8 once decoded (`customer_id=%FF`) is the seed's 400 naming it: axum's
/// own `Query` decodes such bytes lossily to U+FFFD, and the route would act on a value never sent.
pub struct QueryParameters(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParameters {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_query_is_utf8(parts.uri.query())?;
        Query::from_request_parts(parts, state)
            .await
            .map(|Query(parameters)| QueryParameters(parameters))
            .map_err(|e| ApiError::BadRequest(format!("Invalid query string: {}", e.body_text())))
    }
}

/// Refuses a query string with a parameter that is not UTF-8 once percent-decoded, naming it.
fn check_query_is_utf8(raw_query: Option<&str>) -> Result<(), ApiError> {
    let Some(bad_pair) = raw_query
        .into_iter()
        .flat_map(|raw| raw.split('&'))
        .find(|pair| percent_decode_str(pair).decode_utf8().is_err())
    else {
        return Ok(());
    };
    let raw_name = bad_pair.split_once('=').map_or(bad_pair, |(name, _)| name);
    let message = match percent_decode_str(raw_name).decode_utf8() {
        Ok(name) => format!("Invalid query string: {name} is not UTF-8 once percent-decoded"),
        Err(_) => "Invalid query string: a parameter name is not UTF-8 once percent-decoded".to_owned(),
    };
    Err(ApiError::BadRequest(message))
}

/// Most digits of a version in `If-Match` (19 digits always fit a `u64`).
pub const MAX_VERSION_DIGITS: usize = 19;

/// The order version in an `If-Match` header: `"3"`, `W/"3"`, or bare `3`, of 1 to
/// [`MAX_VERSION_DIGITS`] digits; `None` when absent or `*`. Exactly what the document's pattern for
/// the header admits (`^(\*|(W/)?"[0-9]{1,19}"|[0-9]{1,19})$`); anything else is a 400.
pub fn if_match_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    version_in_if_match(headers, "order")
}

/// The product version in an `If-Match` header, read as [`if_match_version`] reads an order's.
pub fn if_match_product_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    version_in_if_match(headers, "product")
}

/// The version in an `If-Match` header; a refusal names what the version is of (`order`).
fn version_in_if_match(headers: &HeaderMap, of: &str) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let bad = || ApiError::BadRequest(format!("Invalid If-Match header: expected the {of}'s version, like \"3\""));
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let digits = match text.strip_prefix("W/") {
        Some(weak) => unquote(weak).ok_or_else(bad)?,
        None => unquote(text).unwrap_or(text),
    };
    if digits.is_empty() || digits.len() > MAX_VERSION_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse::<u64>().map(Some).map_err(|_| bad())
}

fn unquote(tag: &str) -> Option<&str> {
    tag.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
}

/// The `ETag` value for a version (of an order or a product).
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::HeaderValue;

    use super::*;

    #[tokio::test]
    async fn a_body_cut_by_the_read_deadline_is_a_408_not_a_400() {
        let body = axum::body::Body::from_stream(futures::stream::iter([
            Ok(Bytes::from_static(b"{\"customer_id\"")),
            Err(BodyReadTimeout),
        ]));
        let request = Request::builder().header(header::CONTENT_TYPE, "application/json").body(body).unwrap();
        let refused = JsonBytes::from_request(request, &()).await.err().unwrap();
        assert!(matches!(refused, ApiError::RequestTimeout), "{refused:?}");
    }

    #[test]
    fn if_match_takes_quoted_bare_and_weak_versions() {
        let version = |v: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_MATCH, HeaderValue::from_static(v));
            if_match_version(&headers)
        };
        assert_eq!(version("\"3\"").unwrap(), Some(3));
        assert_eq!(version("3").unwrap(), Some(3));
        assert_eq!(version("W/\"3\"").unwrap(), Some(3));
        assert_eq!(version("*").unwrap(), None);
        assert_eq!(version("9999999999999999999").unwrap(), Some(9_999_999_999_999_999_999));
        for refused in
            ["abc", "W/3", "\"\"3\"\"", "\"3", "3\"", "\"\"", "-1", "+3", "\"1\", \"2\"", "18446744073709551615"]
        {
            assert!(version(refused).is_err(), "{refused}");
        }
        assert_eq!(if_match_version(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn json_types_are_recognised() {
        let json = |v: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&headers)
        };
        assert!(json("application/json"));
        assert!(json("application/json; charset=utf-8"));
        assert!(json("application/merge-patch+json"));
        assert!(!json("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
