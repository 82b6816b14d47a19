//! The `x-api-key` check in front of every route. Keys are kept only as SHA-256 digests and a
//! presented key is compared with every accepted digest in constant time.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use tower_http::validate_request::ValidateRequest;

use super::error::ApiError;

/// The header clients put their key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Shortest key accepted in configuration.
pub const MIN_KEY_CHARS: usize = 16;

/// The accepted API keys, as digests. More than one key lets operators rotate without downtime.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

/// A configured key or digest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidApiKey {
    /// Too short to resist guessing.
    #[error("API keys must be at least {MIN_KEY_CHARS} characters")]
    TooShort,
    /// Not printable ASCII (it could not be sent in a header).
    #[error("API keys must be printable ASCII without spaces")]
    NotPrintable,
    /// A stored digest is not 64 hex digits.
    #[error("an API key digest must be 64 hex digits (SHA-256)")]
    BadDigest,
    /// No key at all.
    #[error("at least one API key is required")]
    None,
}

impl ApiKeys {
    /// Accepts these plain keys (kept only as digests).
    pub fn from_keys<I: IntoIterator<Item = S>, S: AsRef<str>>(keys: I) -> Result<Self, InvalidApiKey> {
        let digests = keys
            .into_iter()
            .map(|key| {
                let key = key.as_ref();
                if key.len() < MIN_KEY_CHARS {
                    Err(InvalidApiKey::TooShort)
                } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
                    Err(InvalidApiKey::NotPrintable)
                } else {
                    Ok(digest(key.as_bytes()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_digests(digests)
    }

    /// Accepts the keys whose SHA-256 digests (hex) these are.
    pub fn from_hex_digests<I: IntoIterator<Item = S>, S: AsRef<str>>(digests: I) -> Result<Self, InvalidApiKey> {
        let digests = digests
            .into_iter()
            .map(|hex_digest| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hex_digest.as_ref().trim(), &mut out).map_err(|_| InvalidApiKey::BadDigest)?;
                Ok(out)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_digests(digests)
    }

    fn from_digests(digests: Vec<[u8; 32]>) -> Result<Self, InvalidApiKey> {
        if digests.is_empty() { Err(InvalidApiKey::None) } else { Ok(ApiKeys { digests }) }
    }

    /// The hex SHA-256 digest of a key, as stored.
    pub fn hex_digest(key: &str) -> String {
        hex::encode(digest(key.as_bytes()))
    }

    /// Whether `presented` is one of the keys. Takes the same time whichever key matches, or none.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        let matched = self.digests.iter().fold(Choice::from(0), |found, key| found | key.ct_eq(&presented));
        matched.into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The check in front of every route (`tower_http`'s `ValidateRequestHeaderLayer::custom`): 403
/// `{"message":"Forbidden"}` unless the request carries an accepted key. A typed layer rather than
/// axum's `from_fn`, which boxes the rest of the stack and its future for every request.
#[derive(Clone)]
pub struct RequireApiKey(pub Arc<ApiKeys>);

impl<B> ValidateRequest<B> for RequireApiKey {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response> {
        let accepted =
            request.headers().get(API_KEY_HEADER).is_some_and(|presented| self.0.accepts(presented.as_bytes()));
        if accepted { Ok(()) } else { Err(ApiError::Forbidden.into_response()) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys = ApiKeys::from_keys(["first-key-0123456789", "second-key-0123456789"]).unwrap();
        assert!(keys.accepts(b"first-key-0123456789"));
        assert!(keys.accepts(b"second-key-0123456789"));
        assert!(!keys.accepts(b"first-key-012345678"));
        assert!(!keys.accepts(b""));
    }

    #[test]
    fn digests_and_keys_agree() {
        let digest = ApiKeys::hex_digest("a-long-enough-key-123");
        let keys = ApiKeys::from_hex_digests([digest]).unwrap();
        assert!(keys.accepts(b"a-long-enough-key-123"));
    }

    #[test]
    fn refuses_weak_configuration() {
        assert!(matches!(ApiKeys::from_keys(["short"]), Err(InvalidApiKey::TooShort)));
        assert!(matches!(ApiKeys::from_keys(["has a space in it!!"]), Err(InvalidApiKey::NotPrintable)));
        assert!(matches!(ApiKeys::from_keys(Vec::<String>::new()), Err(InvalidApiKey::None)));
        assert!(matches!(ApiKeys::from_hex_digests(["abc"]), Err(InvalidApiKey::BadDigest)));
    }
}
