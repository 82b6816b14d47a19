//! The typed model of a loaded definition, what the engine runs: the definition and its states,
//! each state's fields compiled (paths, payload templates, choice rules, wait times, reasons,
//! JSONata templates and expressions), transitions, retriers and catchers, and how an
//! `ErrorEquals` list matches an error.
//!
//! A JSONata state is modelled as a JSONPath state whose JSONPath fields all have their defaults
//! (each passes its value on unchanged), with its JSONata fields beside them: `output` replaces
//! what `ResultPath` and `OutputPath` would make, an `Assign` or a payload is a [`Payload`] in
//! either language, a Choice rule a [`Condition`]. A state written in JSONPath has none of these,
//! so it runs the code it ran before JSONata was supported.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use crate::choice::Rule;
use crate::error::{Failure, error_names};
use crate::intrinsics::Call;
use crate::jsonata::{self, Scope};
use crate::path::RefPath;
use crate::payload::Template;

/// A loaded, validated state machine definition. Cheap to share behind an `Arc`.
///
/// State names are unique across the whole definition, branches and item processors included (as
/// the States Language requires), so every state is kept in one map by name: a state inside a
/// Parallel branch is found the same way as a top-level one.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(super) comment: Option<String>,
    pub(super) start_at: String,
    pub(super) timeout_seconds: Option<u64>,
    /// Every state of the definition, at any depth.
    pub(super) states: BTreeMap<String, State>,
    pub(super) source: Value,
}

impl Definition {
    /// The state the machine starts at.
    pub fn start_at(&self) -> &str {
        &self.start_at
    }

    /// The top-level `Comment`.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The top-level `TimeoutSeconds`: how long an execution may run before it is TIMED_OUT.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.timeout_seconds
    }

    /// The names of the states, in name order, including those inside Parallel branches and Map
    /// item processors.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The `Resource` of every Task state, so an application can check its
    /// [`TaskInvoker`](crate::TaskInvoker) handles them all.
    pub fn task_resources(&self) -> BTreeSet<&str> {
        self.states
            .values()
            .filter_map(|s| match &s.kind {
                StateKind::Task(task) => Some(task.resource.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The definition as it was loaded (after substitutions).
    pub fn source(&self) -> &Value {
        &self.source
    }

    pub(crate) fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}

/// A compiled state.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub kind: StateKind,
    /// What its fields may read besides their data: the engine builds only that (the context
    /// object holds a copy of the execution's input).
    pub reads: EnvReads,
}

/// What a state's fields may read besides their data, as its definition shows (a superset), from
/// least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EnvReads {
    /// Neither the context object nor a variable.
    Nothing,
    /// The context object and variables, but not `$$.Execution.Input`.
    AllButInput,
    /// Anything (JSONata states: `$states.context` may be read whole).
    Everything,
}

#[derive(Debug, Clone)]
pub(crate) enum StateKind {
    Pass(PassState),
    Task(Box<TaskState>),
    Choice(ChoiceState),
    Wait(WaitState),
    Succeed(SucceedState),
    Fail(FailState),
    Parallel(Box<ParallelState>),
    Map(Box<MapState>),
}

impl StateKind {
    /// The `Type` name, which prefixes the state's history event types.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed(_) => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }

    /// What a Task, Parallel or Map state does with its result and errors.
    pub(crate) fn result_handling(&self) -> Option<&ResultHandling> {
        match self {
            StateKind::Task(task) => Some(&task.result),
            StateKind::Parallel(parallel) => Some(&parallel.result),
            StateKind::Map(map) => Some(&map.result),
            _ => None,
        }
    }

    /// The state's Retriers and Catchers (only Task, Parallel and Map states have any).
    pub(crate) fn error_handling(&self) -> (&[Retrier], &[Catcher]) {
        self.result_handling().map_or((&[], &[]), |handling| (&handling.retry, &handling.catch))
    }
}

/// A payload in its state's query language: an `Assign`, a Task's or Parallel's `Parameters` or
/// `Arguments`, a Map's `ItemSelector`.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// A JSONPath payload template, reading `data` and the context object and variables.
    Path(Template),
    /// A JSONata template, reading `$states` and the variables.
    Jsonata(jsonata::Template),
}

impl Payload {
    /// The payload: a JSONPath template's from `data`, a JSONata template's from `scope` (whose
    /// environment both read).
    pub(crate) fn eval(&self, data: &Value, scope: &Scope<'_>) -> Result<Value, Failure> {
        match self {
            Payload::Path(template) => template.eval(data, scope.env()),
            Payload::Jsonata(template) => template.eval(scope),
        }
    }
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

/// `InputPath` / `OutputPath`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IoPath {
    /// Absent: the whole value (`$`).
    Whole,
    /// `null`: an empty object.
    Empty,
    Path(RefPath),
}

impl IoPath {
    pub(crate) fn apply(&self, value: &Value, context: &Value) -> Result<Value, Failure> {
        match self {
            IoPath::Whole => Ok(value.clone()),
            IoPath::Empty => Ok(json!({})),
            // Step Functions' wording, with the path as Jayway JsonPath (which it uses) prints it.
            IoPath::Path(path) => path.resolve(value, context).cloned().ok_or_else(|| {
                Failure::runtime(format!("Invalid path '{path}' : {}", path.no_results(value, context)))
            }),
        }
    }
}

/// `ResultPath` (of a state or a Catcher).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResultPath {
    /// `null`: the result is discarded; the output is the raw input.
    Discard,
    /// A reference path (`$` by default).
    Path(RefPath),
}

impl ResultPath {
    pub(crate) fn apply(&self, raw_input: &Value, result: Value) -> Result<Value, Failure> {
        match self {
            ResultPath::Discard => Ok(raw_input.clone()),
            ResultPath::Path(path) if path.is_whole_data() => Ok(result),
            ResultPath::Path(path) => path
                .set(raw_input.clone(), result)
                .map_err(|message| Failure::new(error_names::RESULT_PATH_MATCH_FAILURE, message)),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PassState {
    pub assign: Option<Payload>,
    pub input_path: IoPath,
    pub parameters: Option<Template>,
    pub result: Option<Value>,
    pub result_path: ResultPath,
    pub output_path: IoPath,
    /// JSONata's `Output`.
    pub output: Option<jsonata::Template>,
    pub transition: Transition,
}

/// What a Task, Parallel or Map state does with its result (assign variables from it, select
/// from it, place it in the input, filter the output, go on) and with its errors (retry, catch).
#[derive(Debug, Clone)]
pub(crate) struct ResultHandling {
    pub assign: Option<Payload>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub output_path: IoPath,
    /// JSONata's `Output`, reading `$states.result`.
    pub output: Option<jsonata::Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    pub resource: String,
    pub wait_for_task_token: bool,
    pub input_path: IoPath,
    /// `Parameters`, or JSONata's `Arguments`.
    pub parameters: Option<Payload>,
    pub timeout_seconds: Option<Seconds>,
    pub heartbeat_seconds: Option<Seconds>,
    pub result: ResultHandling,
}

/// A Task's `TimeoutSeconds` or `HeartbeatSeconds`: a number, or (JSONata) an expression
/// evaluated as the task starts.
#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Literal(u64),
    Expression(jsonata::Expression),
}

impl Seconds {
    /// The number of seconds, if given as one.
    pub(crate) fn literal(&self) -> Option<u64> {
        match self {
            Seconds::Literal(seconds) => Some(*seconds),
            Seconds::Expression(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ChoiceState {
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub choices: Vec<ChoiceBranch>,
    pub default: Option<String>,
    /// Assigned when no rule matches and the `Default` is taken.
    pub assign: Option<Payload>,
    /// JSONata's `Output`, unless the matching rule has its own.
    pub output: Option<jsonata::Template>,
}

/// A top-level Choice rule: when it matches, its `Assign` (and, in JSONata, `Output`) and where
/// it goes.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceBranch {
    pub condition: Condition,
    pub next: String,
    pub assign: Option<Payload>,
    pub output: Option<jsonata::Template>,
}

/// When a Choice rule matches: a JSONPath rule, or a JSONata `Condition` (an expression giving a
/// boolean, or a boolean).
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Rule(Rule),
    Jsonata(jsonata::Template),
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(RefPath),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(RefPath),
    /// JSONata's `Seconds` as an expression.
    SecondsExpression(jsonata::Expression),
    /// JSONata's `Timestamp` as an expression.
    TimestampExpression(jsonata::Expression),
}

#[derive(Debug, Clone)]
pub(crate) struct WaitState {
    pub assign: Option<Payload>,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub wait: WaitFor,
    pub output: Option<jsonata::Template>,
    pub transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct SucceedState {
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub output: Option<jsonata::Template>,
}

/// A Parallel state: its branches (each named by its `StartAt`; their states are in the
/// definition's map) run on the same input, and its result is the array of their outputs.
#[derive(Debug, Clone)]
pub(crate) struct ParallelState {
    pub input_path: IoPath,
    /// `Parameters`, or JSONata's `Arguments`.
    pub parameters: Option<Payload>,
    pub branches: Vec<String>,
    pub result: ResultHandling,
}

/// How many iterations of a Map may fail before the Map does (Distributed mode only; inline Maps
/// fail on the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ToleratedFailure {
    pub count: Option<u64>,
    pub percentage: Option<f64>,
}

/// A Map state: its item processor (named by its `StartAt`) runs once per item of the array
/// `ItemsPath` selects, at most `max_concurrency` at a time (0: no limit), and its result is the
/// array of the iterations' outputs, in item order.
#[derive(Debug, Clone)]
pub(crate) struct MapState {
    pub input_path: IoPath,
    /// `ItemsPath` (`$` by default).
    pub items_path: RefPath,
    /// JSONata's `Items`, in place of `ItemsPath`.
    pub items: Option<jsonata::Template>,
    /// The state is a JSONata one: items that are not an array fail it with
    /// `States.QueryEvaluationError`, as AWS fails it.
    pub jsonata: bool,
    /// `ItemSelector` (or the older `Parameters`): each iteration's input, with `$$.Map.Item`.
    pub item_selector: Option<Payload>,
    pub processor: String,
    pub max_concurrency: u64,
    /// `ProcessorConfig.Mode` is `DISTRIBUTED`: each iteration is a child workflow run in a Map
    /// Run, and failures up to `tolerated` are tolerated.
    pub distributed: bool,
    pub tolerated: ToleratedFailure,
    pub result: ResultHandling,
}

/// A Fail state's `Error` or `Cause`: literal, path, intrinsic function, or JSONata expression.
#[derive(Debug, Clone)]
pub(crate) enum Reason {
    Literal(String),
    Path(RefPath),
    Intrinsic(Call),
    Expression(jsonata::Expression),
}

#[derive(Debug, Clone)]
pub(crate) struct FailState {
    pub error: Option<Reason>,
    pub cause: Option<Reason>,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
    pub assign: Option<Payload>,
    /// JSONata's `Output`, reading `$states.errorOutput`.
    pub output: Option<jsonata::Template>,
}

/// Whether an error named `error` is matched by an `ErrorEquals` list. `States.ALL` matches every
/// error, `States.TaskFailed` every error but the timeouts, `States.Timeout` also matches
/// `States.HeartbeatTimeout`; nothing matches `States.Runtime`.
pub(crate) fn error_matches(error_equals: &[String], error: &str) -> bool {
    if error == error_names::RUNTIME {
        return false;
    }
    let is_timeout = error == error_names::TIMEOUT || error == error_names::HEARTBEAT_TIMEOUT;
    error_equals.iter().any(|name| {
        name == error
            || name == error_names::ALL
            || (name == error_names::TASK_FAILED && !is_timeout)
            || (name == error_names::TIMEOUT && error == error_names::HEARTBEAT_TIMEOUT)
    })
}
