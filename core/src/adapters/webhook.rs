//! The fulfilment hand-off as a signed webhook: the order POSTed as JSON to the merchant's URL,
//! signed the way webhook receivers already verify (`X-Orders-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`, see `docs/FULFILMENT.md`), the answer sorted into taken,
//! refused for good, or passing trouble.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::domain::Order;
use crate::ports::{FulfilmentHandOff, HandOffError, HandedOff};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Orders-Signature";
/// The header carrying the delivery id (also in the body).
pub const DELIVERY_HEADER: &str = "X-Orders-Delivery";
/// The event type of a hand-off.
pub const HAND_OFF_EVENT: &str = "order.fulfilment_requested";
/// Shortest accepted secret: a guessable one would let anyone forge orders.
pub const MIN_SECRET_CHARS: usize = 16;
/// How long one attempt may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most characters of the receiver's answer kept in a refusal's reason.
const DETAIL_CHARS: usize = 200;

/// Where and how to hand orders off.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver (http or https).
    pub url: reqwest::Url,
    /// The signing secret shared with the receiver.
    pub secret: String,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig").field("url", &self.url.as_str()).field("timeout", &self.timeout).finish()
    }
}

/// A webhook setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    /// The URL does not parse, or is not http(s).
    #[error("fulfilment webhook URL {0:?} is not an http or https URL")]
    Url(String),
    /// The secret is missing or too short.
    #[error("the fulfilment webhook secret must be at least {MIN_SECRET_CHARS} characters")]
    Secret,
}

impl WebhookConfig {
    /// Checks a URL and secret as an operator gives them.
    pub fn new(url: &str, secret: &str) -> Result<Self, WebhookConfigError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| WebhookConfigError::Url(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(WebhookConfigError::Url(url.to_owned()));
        }
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(WebhookConfigError::Secret);
        }
        Ok(WebhookConfig { url: parsed, secret: secret.to_owned(), timeout: DEFAULT_TIMEOUT })
    }
}

/// Hands orders off to a webhook.
#[derive(Clone, Debug)]
pub struct WebhookHandOff {
    client: reqwest::Client,
    config: WebhookConfig,
}

impl WebhookHandOff {
    /// A hand-off to the webhook `config` names.
    pub fn new(config: WebhookConfig) -> Result<Self, HandOffError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("orders-pipeline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HandOffError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(WebhookHandOff { client, config })
    }
}

/// The delivery id of an order's hand-off: the same for every attempt, so the receiver can tell a
/// repeat from a new order.
pub fn delivery_id(order: &Order) -> String {
    format!("fulfilment-{}", order.order_id)
}

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl FulfilmentHandOff for WebhookHandOff {
    async fn hand_off(&self, order: &Order) -> Result<HandedOff, HandOffError> {
        let delivery_id = delivery_id(order);
        let body = json!({
            "type": HAND_OFF_EVENT,
            "delivery_id": delivery_id,
            "order": order,
        })
        .to_string();
        let timestamp = Utc::now().timestamp();
        let response = self
            .client
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.config.secret, timestamp, body.as_bytes()))
            .header(DELIVERY_HEADER, &delivery_id)
            .body(body)
            .send()
            .await
            // Without the URL: it may carry a token of the receiver's.
            .map_err(|e| HandOffError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(HandedOff { delivery_id, status: status.as_u16() });
        }
        let reason = status.canonical_reason().unwrap_or("").to_owned();
        let answer = response.text().await.unwrap_or_default();
        let detail = readable(&reason, &answer);
        match status.as_u16() {
            408 | 429 => Err(HandOffError::Unavailable(format!("HTTP {} {detail}", status.as_u16()))),
            code @ 400..=499 => Err(HandOffError::Refused { status: code, detail }),
            code => Err(HandOffError::Unavailable(format!("HTTP {code} {detail}"))),
        }
    }
}

/// The status's reason, then the start of the answer on one line, without control characters (it
/// ends up in the order's `failure_reason`).
fn readable(reason: &str, answer: &str) -> String {
    let answer: String = answer
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let answer: String = answer.chars().take(DETAIL_CHARS).collect();
    match (reason.is_empty(), answer.is_empty()) {
        (_, true) => reason.to_owned(),
        (true, false) => answer,
        (false, false) => format!("{reason}: {answer}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_timestamp_and_body() {
        // The example of docs/FULFILMENT.md: any HMAC-SHA256 implementation gives the same.
        assert_eq!(
            signature("whsec_test_0123456789", 1_767_225_600, br#"{"type":"order.fulfilment_requested"}"#),
            "t=1767225600,v1=".to_owned()
                + &hex::encode({
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test_0123456789").unwrap();
                    mac.update(br#"1767225600.{"type":"order.fulfilment_requested"}"#);
                    mac.finalize().into_bytes()
                })
        );
    }

    #[test]
    fn settings_are_checked_and_the_secret_never_printed() {
        assert!(WebhookConfig::new("ftp://example.com/x", "0123456789abcdef").is_err());
        assert!(WebhookConfig::new("not a url", "0123456789abcdef").is_err());
        assert!(matches!(WebhookConfig::new("https://example.com/hook", "short"), Err(WebhookConfigError::Secret)));
        let config = WebhookConfig::new("https://example.com/hook", "0123456789abcdef").unwrap();
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn a_refusal_reads_on_one_line() {
        assert_eq!(
            readable("Unprocessable Entity", "{\"error\":\n\"no\u{7} address\"}"),
            "Unprocessable Entity: {\"error\": \"no address\"}"
        );
        assert_eq!(readable("Gone", ""), "Gone");
        assert_eq!(readable("", &"x".repeat(500)).len(), DETAIL_CHARS);
    }
}
