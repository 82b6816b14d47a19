//! Execution history events, shaped like Step Functions' `GetExecutionHistory` events: an id, the
//! previous event's id, a timestamp, a type (`ExecutionStarted`, `TaskStateEntered`,
//! `TaskScheduled`, …) and the details that type carries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a history event (the Step Functions `HistoryEventType` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum HistoryEventType {
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    ExecutionAborted,
    PassStateEntered,
    PassStateExited,
    TaskStateEntered,
    TaskStateExited,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateAborted,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapStateSucceeded,
    MapStateFailed,
    MapStateAborted,
    MapStateExited,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    MapIterationAborted,
    MapRunStarted,
    MapRunSucceeded,
    MapRunFailed,
    TaskScheduled,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    EvaluationFailed,
}

impl HistoryEventType {
    /// The name, e.g. `TaskStateEntered`.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryEventType::ExecutionStarted => "ExecutionStarted",
            HistoryEventType::ExecutionSucceeded => "ExecutionSucceeded",
            HistoryEventType::ExecutionFailed => "ExecutionFailed",
            HistoryEventType::ExecutionTimedOut => "ExecutionTimedOut",
            HistoryEventType::ExecutionAborted => "ExecutionAborted",
            HistoryEventType::PassStateEntered => "PassStateEntered",
            HistoryEventType::PassStateExited => "PassStateExited",
            HistoryEventType::TaskStateEntered => "TaskStateEntered",
            HistoryEventType::TaskStateExited => "TaskStateExited",
            HistoryEventType::ChoiceStateEntered => "ChoiceStateEntered",
            HistoryEventType::ChoiceStateExited => "ChoiceStateExited",
            HistoryEventType::WaitStateEntered => "WaitStateEntered",
            HistoryEventType::WaitStateExited => "WaitStateExited",
            HistoryEventType::SucceedStateEntered => "SucceedStateEntered",
            HistoryEventType::SucceedStateExited => "SucceedStateExited",
            HistoryEventType::FailStateEntered => "FailStateEntered",
            HistoryEventType::ParallelStateEntered => "ParallelStateEntered",
            HistoryEventType::ParallelStateStarted => "ParallelStateStarted",
            HistoryEventType::ParallelStateSucceeded => "ParallelStateSucceeded",
            HistoryEventType::ParallelStateFailed => "ParallelStateFailed",
            HistoryEventType::ParallelStateAborted => "ParallelStateAborted",
            HistoryEventType::ParallelStateExited => "ParallelStateExited",
            HistoryEventType::MapStateEntered => "MapStateEntered",
            HistoryEventType::MapStateStarted => "MapStateStarted",
            HistoryEventType::MapStateSucceeded => "MapStateSucceeded",
            HistoryEventType::MapStateFailed => "MapStateFailed",
            HistoryEventType::MapStateAborted => "MapStateAborted",
            HistoryEventType::MapStateExited => "MapStateExited",
            HistoryEventType::MapIterationStarted => "MapIterationStarted",
            HistoryEventType::MapIterationSucceeded => "MapIterationSucceeded",
            HistoryEventType::MapIterationFailed => "MapIterationFailed",
            HistoryEventType::MapIterationAborted => "MapIterationAborted",
            HistoryEventType::MapRunStarted => "MapRunStarted",
            HistoryEventType::MapRunSucceeded => "MapRunSucceeded",
            HistoryEventType::MapRunFailed => "MapRunFailed",
            HistoryEventType::TaskScheduled => "TaskScheduled",
            HistoryEventType::TaskStarted => "TaskStarted",
            HistoryEventType::TaskSubmitted => "TaskSubmitted",
            HistoryEventType::TaskSucceeded => "TaskSucceeded",
            HistoryEventType::TaskFailed => "TaskFailed",
            HistoryEventType::TaskTimedOut => "TaskTimedOut",
            HistoryEventType::EvaluationFailed => "EvaluationFailed",
        }
    }

    /// `{Type}StateEntered` for a state of type `type_name`.
    pub(crate) fn entered(type_name: &str) -> HistoryEventType {
        match type_name {
            "Pass" => HistoryEventType::PassStateEntered,
            "Task" => HistoryEventType::TaskStateEntered,
            "Choice" => HistoryEventType::ChoiceStateEntered,
            "Wait" => HistoryEventType::WaitStateEntered,
            "Succeed" => HistoryEventType::SucceedStateEntered,
            "Parallel" => HistoryEventType::ParallelStateEntered,
            "Map" => HistoryEventType::MapStateEntered,
            _ => HistoryEventType::FailStateEntered,
        }
    }

    /// `{Type}StateExited` for a state of type `type_name` (Fail states never exit).
    pub(crate) fn exited(type_name: &str) -> Option<HistoryEventType> {
        Some(match type_name {
            "Pass" => HistoryEventType::PassStateExited,
            "Task" => HistoryEventType::TaskStateExited,
            "Choice" => HistoryEventType::ChoiceStateExited,
            "Wait" => HistoryEventType::WaitStateExited,
            "Succeed" => HistoryEventType::SucceedStateExited,
            "Parallel" => HistoryEventType::ParallelStateExited,
            "Map" => HistoryEventType::MapStateExited,
            _ => return None,
        })
    }
}

impl fmt::Display for HistoryEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The details of an event; which fields are set depends on the type (as in Step Functions'
/// `…EventDetails` objects, with inputs and outputs as JSON values rather than strings).
///
/// Its counts are `u32` (Step Functions' limits fit: 99,999,999 seconds, Map items) and its JSON
/// values boxed so that four events, what a short execution writes, take no more than 1 KiB, which
/// the allocator serves from its per-thread cache: one word more each made such an execution a
/// third slower. (A `Value` is 80 bytes since serde_json keeps object keys in document order, a
/// feature JSONata needs; see docs/ARCHITECTURE.md.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetails {
    /// The state's name (state entered/exited events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The input (execution started, state entered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Box<Value>>,
    /// The output (state exited, task succeeded, execution succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<Value>>,
    /// The error name (failures, timeouts, aborts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The Task resource (task events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The effective parameters the task was scheduled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Box<Value>>,
    /// The task's `TimeoutSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u32>,
    /// The task's `HeartbeatSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_in_seconds: Option<u32>,
    /// The iteration's index (Map iteration events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// How many items the Map iterates over (`MapStateStarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// The state whose JSONata expression failed (`EvaluationFailed`). Boxed `str`s, two words
    /// each, as only that event carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Box<str>>,
    /// The field whose expression failed (`EvaluationFailed`), e.g. `Output/result` or `Items`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<str>>,
}

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct HistoryEvent {
    /// 1, 2, 3, … within the execution.
    pub id: u64,
    /// The id of the event before this one (0 for the first).
    pub previous_event_id: u64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: HistoryEventType,
    pub details: EventDetails,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_short_executions_four_events_then_they_fit_the_allocators_per_thread_cache() {
        // glibc serves blocks of up to 1,032 bytes from its per-thread cache; larger ones take the
        // slow path, which made a one-state execution a third slower.
        assert!(4 * std::mem::size_of::<HistoryEvent>() <= 1024, "{} bytes", std::mem::size_of::<HistoryEvent>());
    }
}
