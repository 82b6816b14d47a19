//! Why an order failed: the reason a failed order carries (`failure_reason`), given by a client
//! that marks it failed or by the workflow that failed it, and the rule that only a failed order
//! has one.

use serde::{Deserialize, Serialize};

use super::status::OrderStatus;
use super::validation::ValidationError;

/// The status an order is to move to, with the reason when it is `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatus {
    /// The status.
    pub status: OrderStatus,
    /// Why the order failed (only with `failed`: see [`FailureReason::for_status`]).
    pub reason: Option<FailureReason>,
}

impl From<OrderStatus> for NewStatus {
    fn from(status: OrderStatus) -> Self {
        NewStatus { status, reason: None }
    }
}

/// The most characters a client's reason may have.
pub const MAX_REASON_CHARS: usize = 1000;

/// Why an order failed: 1 to [`MAX_REASON_CHARS`] characters, not blank, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FailureReason(String);

impl FailureReason {
    /// Reads a client's reason (the `reason` field of a status change).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_REASON_CHARS {
            return Err(ValidationError::invalid(
                "reason",
                format!("must be 1 to {MAX_REASON_CHARS} characters, not blank"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ValidationError::invalid("reason", "must not contain control characters"));
        }
        Ok(FailureReason(text.to_owned()))
    }

    /// The reason a status change to `to` carries: a reason only goes with `failed`.
    pub fn for_status(to: OrderStatus, reason: Option<&str>) -> Result<Option<Self>, ValidationError> {
        match reason {
            None => Ok(None),
            Some(text) => {
                Self::allowed_with(to)?;
                Self::parse(text).map(Some)
            }
        }
    }

    /// Refuses a reason (even an empty one) on a change to any status but `failed`.
    fn allowed_with(to: OrderStatus) -> Result<(), ValidationError> {
        if to == OrderStatus::Failed {
            Ok(())
        } else {
            Err(ValidationError::invalid("reason", "is only for a change to \"failed\""))
        }
    }

    /// The reason a workflow gives (its error's cause), kept as given: on AWS the workflow writes
    /// it to the table itself, so no rule of ours can shorten it there either.
    pub fn from_cause(cause: &str) -> Self {
        FailureReason(cause.to_owned())
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reason as stored.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_reason_goes_only_with_failed() {
        assert_eq!(
            FailureReason::for_status(OrderStatus::Failed, Some("card declined")).unwrap().unwrap().as_str(),
            "card declined"
        );
        assert_eq!(FailureReason::for_status(OrderStatus::Failed, None).unwrap(), None);
        let refused = FailureReason::for_status(OrderStatus::Cancelled, Some("no")).unwrap_err();
        assert_eq!(refused.to_string(), "Invalid field reason: is only for a change to \"failed\"");
    }

    #[test]
    fn blank_long_or_control_reasons_are_refused() {
        assert!(FailureReason::parse("  ").is_err());
        assert!(FailureReason::parse("").is_err());
        assert!(FailureReason::parse(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(FailureReason::parse(&"é".repeat(MAX_REASON_CHARS)).is_ok());
        assert!(FailureReason::parse("line\nbreak").is_err());
    }
}
