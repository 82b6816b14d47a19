//! The one place that decides each request's id (`x-request-id`): a client's own id is kept when it
//! is short and plain; otherwise behind API Gateway its own request id is taken, and anywhere else
//! a fresh UUID. The id is then in the request span of the log and echoed on the response, so both
//! always carry the same valid id; a create keeps it on the order as its correlation id.
//!
//! Plain means 1 to [`MAX_REQUEST_ID_CHARS`] characters of `A-Z a-z 0-9 - _ . :`: enough for UUIDs,
//! ULIDs, hex trace ids, W3C `traceparent` values and AWS request ids; nothing that could break a
//! log line, a CSV cell or an HTML page (no spaces, quotes, `<>`, `;`, `=` or control characters)
//! and no 60 KB value copied into every log line and response.

use axum::http::{HeaderValue, Request};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use uuid::Uuid;

use super::REQUEST_ID_HEADER;

/// The longest client request id kept.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// Whether a client's `x-request-id` is kept as it is.
pub fn is_acceptable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&value.len())
        && value.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id (a UUID v4), as a header value.
pub fn new_request_id() -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    HeaderValue::from_str(Uuid::new_v4().hyphenated().encode_lower(&mut buffer))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-uuid"))
}

/// Keeps the request's `x-request-id` if it is acceptable (the first one, when several were sent),
/// else sets API Gateway's request id (inside the `api` function) or a fresh one.
pub fn assign<B>(mut request: Request<B>) -> Request<B> {
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context
            .request_id
            .as_deref()
            .filter(|id| is_acceptable_request_id(id.as_bytes()))
            .and_then(|id| HeaderValue::from_str(id).ok()),
        _ => None,
    };
    let headers = request.headers_mut();
    let kept = headers
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .next()
        .filter(|value| {
            headers.get_all(REQUEST_ID_HEADER).iter().count() == 1 && is_acceptable_request_id(value.as_bytes())
        })
        .cloned();
    headers.insert(REQUEST_ID_HEADER, kept.or(gateway).unwrap_or_else(new_request_id));
    request
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_short_ids_are_kept_and_everything_else_is_replaced() {
        let id_after = |values: &[&[u8]]| {
            let mut request = Request::new(());
            for value in values {
                request.headers_mut().append(REQUEST_ID_HEADER, HeaderValue::from_bytes(value).unwrap());
            }
            assign(request).headers()[REQUEST_ID_HEADER].to_str().unwrap().to_owned()
        };
        for kept in ["abc-123", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a.b_c:d", &"x".repeat(128)]
        {
            assert_eq!(id_after(&[kept.as_bytes()]), kept);
        }
        let long = "x".repeat(129);
        let refused: [&[u8]; 7] =
            [b"caf\xc3\xa9", long.as_bytes(), b"a\tb", b"has space", b"quote\"d", b"a;b=c", b"<script>"];
        for value in refused {
            let id = id_after(&[value]);
            assert!(Uuid::parse_str(&id).is_ok(), "{value:?} became {id}");
        }
        assert!(Uuid::parse_str(&id_after(&[])).is_ok());
        assert!(Uuid::parse_str(&id_after(&[b"one", b"two"])).is_ok(), "two ids: neither is trusted");
    }
}
