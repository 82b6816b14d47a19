//! The domain's refusals of an order change as the stores report them: one mapping for every store.

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
