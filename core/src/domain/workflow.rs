//! What an order's state means to the workflow that processes it: whether a task may go on, whether
//! a wait is over, and the error a stopped order's task fails with (the names the state machine's
//! `Catch` rules match in `statemachine/order-processing.asl.json`).

use std::fmt;

use super::stock::OutOfStock;
use super::{OrderId, OrderStatus};

/// Why the workflow of an order must stop: the order left its happy path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStopped {
    /// A client or an operator cancelled it.
    Cancelled,
    /// It was marked failed.
    Failed,
    /// It no longer exists.
    Deleted,
}

impl OrderStopped {
    /// The stop an order in `status` calls for, if any: only cancelled and failed orders stop their
    /// workflow; every other status lets it go on.
    pub const fn for_status(status: OrderStatus) -> Option<OrderStopped> {
        match status {
            OrderStatus::Cancelled => Some(OrderStopped::Cancelled),
            OrderStatus::Failed => Some(OrderStopped::Failed),
            OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Shipped | OrderStatus::Delivered => None,
        }
    }

    /// The error name the task fails with (what the state machine's `Catch` rules match).
    pub const fn error_name(self) -> &'static str {
        match self {
            OrderStopped::Cancelled => "OrderCancelled",
            OrderStopped::Failed => "OrderFailed",
            OrderStopped::Deleted => "OrderDeleted",
        }
    }

    /// The cause the task fails with, for the execution's history.
    pub fn cause(self, order_id: OrderId) -> String {
        match self {
            OrderStopped::Cancelled => format!("order {order_id} was cancelled"),
            OrderStopped::Failed => format!("order {order_id} was marked failed"),
            OrderStopped::Deleted => format!("order {order_id} no longer exists"),
        }
    }
}

impl fmt::Display for OrderStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_name())
    }
}

/// Whether an order may begin its processing (the workflow's first step), by its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingEntry {
    /// It stopped: the workflow stops with it.
    Stop(OrderStopped),
    /// Pending or processing: its stock is reserved (once) and it is marked processing.
    Reserve,
    /// A client moved it past processing: it goes on only with a reservation made before (a repeat
    /// of a step that had reserved); with none, there is nothing left to process.
    OnlyIfReserved,
}

impl ProcessingEntry {
    /// The entry of an order in `status`.
    pub const fn for_status(status: OrderStatus) -> ProcessingEntry {
        match OrderStopped::for_status(status) {
            Some(stopped) => ProcessingEntry::Stop(stopped),
            None => match status {
                OrderStatus::Pending | OrderStatus::Processing => ProcessingEntry::Reserve,
                _ => ProcessingEntry::OnlyIfReserved,
            },
        }
    }
}

/// How long an order may wait for its hand-off to the merchant's fulfilment before it fails.
pub const HAND_OFF_DEADLINE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How long an order's processing waits for the order to be stored, from the workflow asking: on
/// AWS its create starts the workflow first and writes the order after. A create's write lands within the
/// API's own time limit (15 s on Lambda) or never; past this, the order was never stored (the
/// create failed after the start, or was a repeat) and its workflow ends.
pub const ORDER_WRITE_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Why processing an order failed for good: the workflow's task fails with the error name (what
/// the state machine's `Catch` rules see) and the order with the cause as its `failure_reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessingFailure {
    /// Not enough stock for one of its lines.
    OutOfStock(OutOfStock),
    /// The merchant's fulfilment refused it (the refusal, as `fulfilment refused: HTTP 422 …`).
    FulfilmentRefused(String),
    /// Its hand-off did not go through within [`HAND_OFF_DEADLINE`] of the workflow asking for it.
    HandOffTimedOut,
}

impl ProcessingFailure {
    /// The error name the task fails with.
    pub const fn error_name(&self) -> &'static str {
        match self {
            ProcessingFailure::OutOfStock(_) => "OutOfStock",
            ProcessingFailure::FulfilmentRefused(_) => "FulfilmentRefused",
            ProcessingFailure::HandOffTimedOut => "HandOffTimedOut",
        }
    }

    /// The cause: the order's failure reason.
    pub fn cause(&self) -> String {
        match self {
            ProcessingFailure::OutOfStock(short) => short.to_string(),
            ProcessingFailure::FulfilmentRefused(refusal) => refusal.clone(),
            ProcessingFailure::HandOffTimedOut => {
                format!("fulfilment hand-off timed out after {} hours", HAND_OFF_DEADLINE.num_hours())
            }
        }
    }
}

/// Where a workflow waiting for an order to reach a status stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The order has got as far as the status awaited: the workflow resumes.
    Reached,
    /// The order stopped: the wait fails with this reason.
    Stopped(OrderStopped),
    /// Not yet: the wait goes on.
    Waiting,
}

impl WaitOutcome {
    /// Where a wait for `awaited` stands now that the order is in `current`.
    pub fn of(current: OrderStatus, awaited: OrderStatus) -> WaitOutcome {
        if current.has_reached(awaited) {
            WaitOutcome::Reached
        } else if let Some(stopped) = OrderStopped::for_status(current) {
            WaitOutcome::Stopped(stopped)
        } else {
            WaitOutcome::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn given_a_cancelled_or_failed_order_then_its_workflow_stops_with_the_catchable_name() {
        assert_eq!(OrderStopped::for_status(Cancelled).map(OrderStopped::error_name), Some("OrderCancelled"));
        assert_eq!(OrderStopped::for_status(Failed).map(OrderStopped::error_name), Some("OrderFailed"));
        assert_eq!(OrderStopped::Deleted.error_name(), "OrderDeleted");
        for going_on in [Pending, Processing, Shipped, Delivered] {
            assert_eq!(OrderStopped::for_status(going_on), None, "{going_on}");
        }
    }

    #[test]
    fn given_a_wait_for_shipped_then_later_statuses_end_it_and_stops_fail_it() {
        assert_eq!(WaitOutcome::of(Delivered, Shipped), WaitOutcome::Reached);
        assert_eq!(WaitOutcome::of(Shipped, Shipped), WaitOutcome::Reached);
        assert_eq!(WaitOutcome::of(Processing, Shipped), WaitOutcome::Waiting);
        assert_eq!(WaitOutcome::of(Cancelled, Shipped), WaitOutcome::Stopped(OrderStopped::Cancelled));
        assert_eq!(WaitOutcome::of(Failed, Shipped), WaitOutcome::Stopped(OrderStopped::Failed));
    }

    #[test]
    fn given_an_order_past_processing_then_it_goes_on_only_with_a_reservation_made_before() {
        assert_eq!(ProcessingEntry::for_status(Pending), ProcessingEntry::Reserve);
        assert_eq!(ProcessingEntry::for_status(Processing), ProcessingEntry::Reserve);
        assert_eq!(ProcessingEntry::for_status(Shipped), ProcessingEntry::OnlyIfReserved);
        assert_eq!(ProcessingEntry::for_status(Delivered), ProcessingEntry::OnlyIfReserved);
        assert_eq!(ProcessingEntry::for_status(Cancelled), ProcessingEntry::Stop(OrderStopped::Cancelled));
        assert_eq!(
            ProcessingFailure::HandOffTimedOut.cause(),
            "fulfilment hand-off timed out after 24 hours",
            "the reason an order fails with"
        );
    }

    #[test]
    fn given_a_wait_for_cancelled_then_a_cancelled_order_resumes_it() {
        assert_eq!(WaitOutcome::of(Cancelled, Cancelled), WaitOutcome::Reached);
    }
}
