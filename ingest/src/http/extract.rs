//! Reading requests: JSON bodies (declared type, size limit), path ids, and the `If-Match`
//! version. Each failure becomes the seed's 400 (or 413/415) JSON body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use orders_core::domain::OrderId;

use super::MAX_BODY_BYTES;
use super::error::ApiError;

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
            } else {
                ApiError::BadRequest(format!("Could not read the request body: {}", rejection.body_text()))
            }
        })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The order id of a path, or a 400 naming it.
pub fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest("Invalid order_id: must be a UUID".into()))
}

/// The version in an `If-Match` header (`"3"`, `3` or `W/"3"`); `None` when absent or `*`.
pub fn if_match_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let bad = || ApiError::BadRequest("Invalid If-Match header: expected the order's version, like \"3\"".into());
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let unquoted = text.trim_start_matches("W/").trim_matches('"');
    unquoted.parse::<u64>().map(Some).map_err(|_| bad())
}

/// The `ETag` value for an order version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::HeaderValue;

    use super::*;

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
        assert!(version("abc").is_err());
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
