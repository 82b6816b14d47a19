//! The domain's refusals of an order change as the stores report them: one mapping for every store;
//! and what a status change does with the workflow's wait on the order.

use crate::domain::{StatusChangeRefused, VersionMismatch};
use crate::ports::StoreError;

impl From<VersionMismatch> for StoreError {
    fn from(VersionMismatch { expected, current }: VersionMismatch) -> Self {
        StoreError::VersionMismatch { expected, current }
    }
}

impl From<StatusChangeRefused> for StoreError {
    fn from(refused: StatusChangeRefused) -> Self {
        match refused {
            StatusChangeRefused::VersionMismatch(mismatch) => mismatch.into(),
            StatusChangeRefused::IllegalTransition(illegal) => StoreError::IllegalTransition(illegal),
        }
    }
}

/// Whether a status change keeps the workflow's wait on the order or takes it off (a processing
/// failure answers the workflow itself, so the wait must not be answered again).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitAfter {
    Kept,
    Removed,
}
