//! The fulfilment hand-off port: telling the merchant's systems that an order, its stock reserved,
//! is theirs to ship. The answer is one of three: taken, refused for good, or passing trouble.

use async_trait::async_trait;

use crate::domain::Order;

/// How the merchant's side took the hand-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOff {
    /// The id the delivery was sent with (the same for every attempt of one order).
    pub delivery_id: String,
    /// The receiver's HTTP status.
    pub status: u16,
}

/// Why a hand-off did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandOffError {
    /// The receiver refused the order (a 4xx other than 408 and 429): trying again cannot help.
    #[error("fulfilment refused: HTTP {status} {detail}")]
    Refused {
        /// The receiver's HTTP status.
        status: u16,
        /// The status's reason and the start of the receiver's answer.
        detail: String,
    },
    /// Passing trouble (a 5xx, 408, 429, a timeout, no connection): the same hand-off may go
    /// through later.
    #[error("fulfilment endpoint unavailable: {0}")]
    Unavailable(String),
}

/// Where orders are handed off for fulfilment.
#[async_trait]
pub trait FulfilmentHandOff: Send + Sync {
    /// Hands `order` off. Safe to repeat: every attempt for one order carries the same delivery id,
    /// by which the receiver recognises a repeat.
    async fn hand_off(&self, order: &Order) -> Result<HandedOff, HandOffError>;
}
