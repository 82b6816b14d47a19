//! The transition logic: given an execution's record, the definition and the current time, take
//! the next step (run a state, end a wait, time out a task, apply a task result or a callback,
//! retry, catch, finish), updating the record and emitting history events. It does no I/O: the
//! executor loads the record, calls one step, persists the result, and performs the task
//! invocations the step asks for.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::definition::{
    Condition, Definition, EnvReads, MapState, ParallelState, Payload, Reason, Seconds, State, StateKind, TaskState,
    Transition, WaitFor, WaitState, error_matches,
};
use crate::error::{Failure, error_names};
use crate::history::{EventDetails, HistoryEvent, HistoryEventType};
use crate::jsonata::{self, Scope};
use crate::path::{self, kind_of};
use crate::store::{BranchRun, Branches, CurrentState, ExecutionRecord, ExecutionStatus, TaskWait, WaitingFor};
use crate::task::{TaskFailure, TaskOutcome, TaskRequest};
use crate::timestamp;

/// Step Functions' limit on a state's output: 256 KiB of JSON text.
const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Whether `value` as JSON text may reach `limit` bytes: a walk that bounds the text's length from
/// above (every string as if each character were escaped, every number at its longest) settles
/// it for all but values near the limit, which are measured exactly. Serialising every state's
/// output to measure it would double the cost of a simple state.
fn may_exceed(value: &Value, limit: usize) -> bool {
    fn bound(value: &Value, total: &mut usize, limit: usize) {
        if *total >= limit {
            return;
        }
        *total += match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(text) => text.len() * 6 + 2,
            Value::Array(items) => {
                for item in items {
                    bound(item, total, limit);
                }
                items.len() + 2
            }
            Value::Object(fields) => {
                for (name, item) in fields {
                    *total += name.len() * 6 + 3;
                    bound(item, total, limit);
                }
                fields.len() + 2
            }
        };
    }
    let mut total = 0;
    bound(value, &mut total, limit);
    total >= limit && json_size(value) >= limit
}

/// The length of `value` as JSON text, counted without building the text.
fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A value as a cause quotes it: a string as its text, anything else as JSON.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The prefix AWS gives the cause of a runtime error, naming the state and its entered event.
const RUNTIME_CAUSE_PREFIX: &str = "An error occurred while executing the state";

/// The largest number of seconds a wait or retry interval may last.
const MAX_WAIT_SECONDS: f64 = 99_999_999.0;

/// The longest a Wait state's timestamp may be ahead, in seconds: AWS waited for a timestamp
/// 24,855 days ahead and failed one 24,856 days ahead with "Wait state delay is too long."
/// (LocalStack's test_wait.snapshot.json, recorded against AWS:
/// test_timestamp_too_far_in_future_boundary[24855] and [24856]); 2^31 - 1 seconds lies between.
const MAX_TIMESTAMP_DELAY_SECONDS: i64 = i32::MAX as i64;

const TOKEN_PREFIX: &str = "smtt1-";

/// A new task token: unguessable (a v4 UUID's 122 random bits, besides a v7's 74), and
/// recognisably one of ours. The v7 half comes first, so tokens made later sort later and a
/// store's index on them grows at one end.
pub(crate) fn new_task_token() -> String {
    format!("{TOKEN_PREFIX}{}{}", uuid::Uuid::now_v7().simple(), uuid::Uuid::new_v4().simple())
}

/// A new task token for a task inside a Parallel branch or a Map iteration: a
/// [`new_task_token`] followed by the execution's ARN (hex-encoded). An execution may wait on many
/// of these at once, so they name their execution themselves instead of being looked up in the
/// store's index of each execution's one task token.
fn new_nested_task_token(execution_arn: &str) -> String {
    let mut token = new_task_token();
    token.push('-');
    for byte in execution_arn.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

fn is_lower_hex(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// Whether `token` has the shape of a token [`new_task_token`] (or a nested task's) makes.
pub(crate) fn is_well_formed_token(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else { return false };
    let (random, execution) = rest.split_at_checked(64).unwrap_or((rest, ""));
    random.len() == 64
        && is_lower_hex(random)
        && (execution.is_empty()
            || execution
                .strip_prefix('-')
                .is_some_and(|hex| !hex.is_empty() && hex.len() % 2 == 0 && is_lower_hex(hex)))
}

/// The execution a nested task's token names, if it is one.
pub(crate) fn execution_of_token(token: &str) -> Option<String> {
    if !is_well_formed_token(token) {
        return None;
    }
    let hex = token.strip_prefix(TOKEN_PREFIX)?.get(64..)?.strip_prefix('-')?;
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// The slot holding the state of the thread `path` names: the execution's own (an empty path), or
/// that of a run of a Parallel or Map state, each index choosing a run one level further in.
fn slot<'r>(current: &'r Option<CurrentState>, path: &[usize]) -> Option<&'r Option<CurrentState>> {
    let mut slot = current;
    for &index in path {
        slot = match slot {
            Some(CurrentState { waiting_for: WaitingFor::Branches(branches), .. }) => {
                &branches.runs.get(index)?.current
            }
            _ => return None,
        };
    }
    Some(slot)
}

fn slot_mut<'r>(current: &'r mut Option<CurrentState>, path: &[usize]) -> Option<&'r mut Option<CurrentState>> {
    let mut slot = current;
    for &index in path {
        slot = match slot {
            Some(CurrentState { waiting_for: WaitingFor::Branches(branches), .. }) => {
                &mut branches.runs.get_mut(index)?.current
            }
            _ => return None,
        };
    }
    Some(slot)
}

/// The path of the first thread (depth first) whose state waits on a task `matches` accepts.
fn find_task(current: &Option<CurrentState>, matches: &dyn Fn(&TaskWait) -> bool) -> Option<Vec<usize>> {
    match &current.as_ref()?.waiting_for {
        WaitingFor::Task(wait) if matches(wait) => Some(Vec::new()),
        WaitingFor::Branches(branches) => branches.runs.iter().enumerate().find_map(|(index, run)| {
            let mut path = find_task(&run.current, matches)?;
            path.insert(0, index);
            Some(path)
        }),
        _ => None,
    }
}

/// What the executor should do after a step.
#[derive(Debug)]
pub(crate) enum Action {
    /// Persist, then step again: more can happen now.
    Continue,
    /// Persist; nothing more until a timer is due, a callback arrives or an invocation returns.
    Idle,
    /// Persist, then invoke these tasks (without holding the execution's lock; several when
    /// Parallel branches or Map iterations wait on tasks together) and apply each outcome with
    /// [`Step::apply_invocation`].
    Invoke(Vec<Invocation>),
}

/// A task invocation to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invocation {
    pub request: Box<TaskRequest>,
    pub invocation_id: u64,
}

/// A task callback (`SendTaskSuccess` / `SendTaskFailure` / `SendTaskHeartbeat`).
#[derive(Debug, Clone)]
pub(crate) enum Callback {
    Success(Value),
    Failure { error: String, cause: String },
    Heartbeat,
}

/// Most states one write holds: a workflow that loops through Pass and Choice states without
/// waiting still writes its history every so many states, instead of only in memory.
pub(crate) const STEPS_PER_WRITE: usize = 256;

/// The state machine an execution belongs to, as its context object shows it.
pub(crate) struct Machine<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub role_arn: Option<&'a str>,
}

/// Builds the record and first history events of a new execution, entered into its StartAt state.
pub(crate) fn new_execution(
    definition: &Definition,
    machine: &Machine<'_>,
    execution_arn: String,
    name: String,
    input: Value,
    now: DateTime<Utc>,
) -> (ExecutionRecord, Vec<HistoryEvent>, Action) {
    let timeout_at = definition.timeout_seconds().and_then(|s| seconds_after(now, s as f64));
    let mut record = ExecutionRecord {
        execution_arn,
        state_machine_arn: machine.arn.to_owned(),
        name,
        status: ExecutionStatus::Running,
        input: input.clone(),
        output: None,
        error: None,
        cause: None,
        start_date: now,
        stop_date: None,
        timeout_at,
        version: 1,
        last_event_id: 0,
        last_invocation_id: 0,
        current: None,
        role_arn: machine.role_arn.map(str::to_owned),
        variables: serde_json::Map::new(),
    };
    let mut step = Step::new(definition, machine.name, &mut record, now);
    step.event(
        HistoryEventType::ExecutionStarted,
        EventDetails { input: Some(Box::new(input.clone())), ..EventDetails::default() },
    );
    step.enter_state(definition.start_at(), input);
    // The start runs in memory up to its first task, wait or end, so that the execution's first
    // write holds all of it. Nothing before that point reaches outside the engine, so a crash
    // before the write loses a start that never answered, and one after it replays nothing: a task
    // scheduled but not yet invoked is invoked when the execution is driven or resumed.
    let action = step.advance_to_durable_point(&|_| false);
    let events = step.into_events();
    (record, events, action)
}

fn seconds_after(at: DateTime<Utc>, seconds: f64) -> Option<DateTime<Utc>> {
    let millis = (seconds.clamp(0.0, MAX_WAIT_SECONDS) * 1000.0).round() as i64;
    at.checked_add_signed(TimeDelta::milliseconds(millis))
}

/// One step on one execution's record.
pub(crate) struct Step<'a> {
    definition: &'a Definition,
    state_machine_name: &'a str,
    record: &'a mut ExecutionRecord,
    now: DateTime<Utc>,
    events: Vec<HistoryEvent>,
    /// The thread being stepped: empty for the execution's own, else the run indexes leading to
    /// a Parallel branch or Map iteration (see [`slot`]).
    path: Vec<usize>,
    /// Variables the state being completed assigns: they take effect as it completes, so every
    /// field of a state reads the values the state was entered with.
    assigned: Option<Map<String, Value>>,
}

/// What an `Assign` gives: a JSONPath one reads `value` (the state's result, its input, or a
/// Catcher's error output), a JSONata one `scope`.
fn evaluate_assign(
    assign: &Option<Payload>,
    value: &Value,
    scope: &Scope<'_>,
) -> Result<Option<Map<String, Value>>, Failure> {
    match assign {
        None => Ok(None),
        Some(payload) => match payload.eval(value, scope)? {
            Value::Object(bindings) => Ok(Some(bindings)),
            _ => Ok(None),
        },
    }
}

/// A Task's `TimeoutSeconds` or `HeartbeatSeconds`: what an expression gave as the task started
/// (`resolved`), else the number in the definition.
fn task_seconds(setting: &Option<Seconds>, resolved: Option<u64>) -> Option<u64> {
    resolved.or_else(|| setting.as_ref().and_then(Seconds::literal))
}

/// The number of seconds a JSONata expression gave for a field taking `min..=max`.
fn expression_seconds(expression: &jsonata::Expression, scope: &Scope<'_>, min: u64, max: u64) -> Result<u64, Failure> {
    let value = scope.eval(expression)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1.0e15).map(|x| x as u64))
        .filter(|seconds| (min..=max).contains(seconds))
        .ok_or_else(|| expression.wrong_value(&format!("an integer from {min} to {max}"), &value))
}

impl<'a> Step<'a> {
    pub(crate) fn new(
        definition: &'a Definition,
        state_machine_name: &'a str,
        record: &'a mut ExecutionRecord,
        now: DateTime<Utc>,
    ) -> Self {
        Step { definition, state_machine_name, record, now, events: Vec::new(), path: Vec::new(), assigned: None }
    }

    /// The history events the step produced.
    pub(crate) fn into_events(self) -> Vec<HistoryEvent> {
        self.events
    }

    fn event(&mut self, event_type: HistoryEventType, details: EventDetails) {
        self.record.last_event_id += 1;
        let id = self.record.last_event_id;
        self.events.push(HistoryEvent { id, previous_event_id: id - 1, timestamp: self.now, event_type, details });
    }

    /// The state the thread being stepped is in.
    fn thread(&self) -> Option<&CurrentState> {
        slot(&self.record.current, &self.path)?.as_ref()
    }

    fn thread_mut(&mut self) -> Option<&mut CurrentState> {
        slot_mut(&mut self.record.current, &self.path)?.as_mut()
    }

    /// The runs of the Parallel or Map state the thread being stepped is in.
    fn branches(&self) -> Option<&Branches> {
        match &self.thread()?.waiting_for {
            WaitingFor::Branches(branches) => Some(branches),
            _ => None,
        }
    }

    fn branches_mut(&mut self) -> Option<&mut Branches> {
        match &mut self.thread_mut()?.waiting_for {
            WaitingFor::Branches(branches) => Some(branches),
            _ => None,
        }
    }

    /// What `state`'s fields read besides their data (see [`Step::context`]), or null when they
    /// read nothing of it: building it copies the execution's input.
    fn env_of(&self, state: &State, task_token: Option<&str>) -> Value {
        match state.reads {
            EnvReads::Nothing => Value::Null,
            EnvReads::AllButInput => self.context_holding(task_token, false),
            EnvReads::Everything => self.context_holding(task_token, true),
        }
    }

    /// [`Step::env_of`] the state named `name`.
    fn env_named(&self, name: &str, task_token: Option<&str>) -> Value {
        match self.definition.state(name) {
            Some(state) => self.env_of(state, task_token),
            None => self.context(task_token),
        }
    }

    fn context(&self, task_token: Option<&str>) -> Value {
        self.context_holding(task_token, true)
    }

    /// The context object (with the execution's input when `with_input`) and the variables in
    /// scope, as [`path::environment`] holds them.
    fn context_holding(&self, task_token: Option<&str>, with_input: bool) -> Value {
        let record = &*self.record;
        let (name, entered, retries) = match self.thread() {
            Some(c) => (c.name.as_str(), c.entered_time, c.retry_count),
            None => ("", self.now, 0),
        };
        // Built field by field: `json!` would copy the execution's input by serialising it.
        let object = |fields: Vec<(&str, Value)>| {
            Value::Object(fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect())
        };
        let mut execution = vec![
            ("Id", Value::String(record.execution_arn.clone())),
            ("Name", Value::String(record.name.clone())),
            ("StartTime", Value::String(timestamp::format(record.start_date))),
            ("RedriveCount", Value::from(0)),
        ];
        if with_input {
            execution.insert(1, ("Input", record.input.clone()));
        }
        if let Some(role_arn) = &record.role_arn {
            execution.push(("RoleArn", Value::String(role_arn.clone())));
        }
        let mut state = vec![("EnteredTime", Value::String(timestamp::format(entered))), ("Name", Value::from(name))];
        // Only states that can retry show their retry count, as in AWS.
        let retries_shown = self
            .thread()
            .and_then(|c| self.definition.state(&c.name))
            .is_some_and(|state| matches!(state.kind, StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)));
        if retries_shown {
            state.push(("RetryCount", Value::from(retries)));
        }
        let mut context = object(vec![
            ("Execution", object(execution)),
            ("State", object(state)),
            (
                "StateMachine",
                object(vec![
                    ("Id", Value::String(record.state_machine_arn.clone())),
                    ("Name", Value::from(self.state_machine_name)),
                ]),
            ),
        ]);
        if let Some(token) = task_token {
            context["Task"] = json!({ "Token": token });
        }
        path::environment(context, self.visible_variables())
    }

    /// The variable scopes the thread being stepped sees, outermost first: the execution's, then
    /// each enclosing branch's or iteration's. A Distributed Map's iterations see none from outside
    /// (each is a child workflow of its own).
    fn scopes(&self) -> Vec<&Map<String, Value>> {
        let mut scopes = vec![&self.record.variables];
        let mut slot = &self.record.current;
        for &index in &self.path {
            let Some(current) = slot.as_ref() else { break };
            let WaitingFor::Branches(branches) = &current.waiting_for else { break };
            if matches!(self.definition.state(&current.name).map(|s| &s.kind), Some(StateKind::Map(m)) if m.distributed)
            {
                scopes.clear();
            }
            let Some(run) = branches.runs.get(index) else { break };
            scopes.push(&run.variables);
            slot = &run.current;
        }
        scopes
    }

    fn visible_variables(&self) -> Map<String, Value> {
        if self.path.is_empty() {
            return self.record.variables.clone();
        }
        let mut visible = Map::new();
        for scope in self.scopes() {
            visible.extend(scope.iter().map(|(name, value)| (name.clone(), value.clone())));
        }
        visible
    }

    /// Writes the variables the completing state assigned into the thread's own scope. A name an
    /// outer scope holds cannot be assigned from inside a branch or iteration.
    fn write_assigned(&mut self) -> Result<(), Failure> {
        let Some(bindings) = self.assigned.take() else { return Ok(()) };
        let scopes = self.scopes();
        let outer = &scopes[..scopes.len().saturating_sub(1)];
        if let Some(name) = bindings.keys().find(|name| outer.iter().any(|scope| scope.contains_key(*name))) {
            return Err(Failure::runtime(format!(
                "Cannot assign the variable '{name}': it belongs to an outer scope, which a branch or iteration \
                 can read but not assign"
            )));
        }
        let scope = match self.path.split_last() {
            None => &mut self.record.variables,
            Some((&index, parent)) => {
                let parent = parent.to_vec();
                match slot_mut(&mut self.record.current, &parent) {
                    Some(Some(CurrentState { waiting_for: WaitingFor::Branches(branches), .. })) => {
                        match branches.runs.get_mut(index) {
                            Some(run) => &mut run.variables,
                            None => return Ok(()),
                        }
                    }
                    _ => return Ok(()),
                }
            }
        };
        scope.extend(bindings);
        Ok(())
    }

    /// The current state's record and definition, or `None` after failing the execution because
    /// there is none (which only a definition changed under a running execution can cause).
    fn current(&mut self) -> Option<(CurrentState, &'a State)> {
        let Some(current) = self.thread().cloned() else {
            if self.path.is_empty() {
                self.fail(Failure::runtime("the execution is running but has no current state"));
            }
            return None;
        };
        let definition = self.definition;
        match definition.state(&current.name) {
            Some(state) => Some((current, state)),
            None => {
                self.fail(Failure::runtime(format!(
                    "the execution is in state \"{}\", which the definition no longer has",
                    current.name
                )));
                None
            }
        }
    }

    fn set_waiting(&mut self, waiting_for: WaitingFor) {
        if let Some(current) = self.thread_mut() {
            current.waiting_for = waiting_for;
        }
    }

    /// Advances in memory until the execution waits (a Task to invoke, a timer, a callback) or
    /// ends, or [`STEPS_PER_WRITE`] states have run: what the next write makes durable. Returns
    /// `Continue` only when it stopped at that bound.
    pub(crate) fn advance_to_durable_point(&mut self, in_flight: &dyn Fn(u64) -> bool) -> Action {
        for _ in 0..STEPS_PER_WRITE {
            match self.advance(in_flight) {
                Action::Continue => {}
                other => return other,
            }
        }
        Action::Continue
    }

    /// Takes the next step. `in_flight(id)` says whether invocation `id` is running in this process.
    pub(crate) fn advance(&mut self, in_flight: &dyn Fn(u64) -> bool) -> Action {
        if self.record.status != ExecutionStatus::Running {
            return Action::Idle;
        }
        if self.record.timeout_at.is_some_and(|t| self.now >= t) {
            self.time_out();
            return Action::Idle;
        }
        self.path.clear();
        let mut invocations = Vec::new();
        if self.advance_thread(in_flight, &mut invocations) {
            // A task scheduled beside other progress is found again, not yet invoked, by the next
            // step.
            Action::Continue
        } else if invocations.is_empty() {
            Action::Idle
        } else {
            Action::Invoke(invocations)
        }
    }

    /// One step of the thread at `self.path` (and, for a Parallel or Map state, of each of its
    /// runs); whether it changed anything. Tasks scheduled but not running in this process are
    /// added to `invocations`.
    fn advance_thread(&mut self, in_flight: &dyn Fn(u64) -> bool, invocations: &mut Vec<Invocation>) -> bool {
        if self.branches().is_some() {
            return self.advance_branches(in_flight, invocations);
        }
        let events_before = self.record.last_event_id;
        let Some((current, state)) = self.current() else { return self.record.last_event_id != events_before };
        match &current.waiting_for {
            WaitingFor::Nothing => match self.run_state(&current, state) {
                // A task just scheduled is invoked once the step is saved.
                Action::Invoke(scheduled) => {
                    invocations.extend(scheduled);
                    false
                }
                _ => true,
            },
            WaitingFor::Timer { until } => {
                if self.now < *until {
                    return false;
                }
                if let StateKind::Wait(wait) = &state.kind {
                    self.finish_wait(&current, wait);
                } else {
                    self.fail(Failure::runtime(format!("state \"{}\" is not a Wait state", current.name)));
                }
                true
            }
            WaitingFor::RetryInterval { until } => {
                if self.now < *until {
                    return false;
                }
                self.set_waiting(WaitingFor::Nothing);
                true
            }
            WaitingFor::Task(wait) => {
                let StateKind::Task(task) = &state.kind else {
                    self.fail(Failure::runtime(format!("state \"{}\" is not a Task state", current.name)));
                    return true;
                };
                if wait.timeout_at.is_some_and(|t| self.now >= t) {
                    let cause = format!(
                        "The task ran longer than its TimeoutSeconds ({})",
                        task_seconds(&task.timeout_seconds, wait.timeout_seconds).unwrap_or_default()
                    );
                    self.task_timed_out(task, Failure::new(error_names::TIMEOUT, cause));
                    true
                } else if wait.heartbeat_at.is_some_and(|t| self.now >= t) {
                    let cause = format!(
                        "No heartbeat was received within HeartbeatSeconds ({})",
                        task_seconds(&task.heartbeat_seconds, wait.heartbeat_seconds).unwrap_or_default()
                    );
                    self.task_timed_out(task, Failure::new(error_names::HEARTBEAT_TIMEOUT, cause));
                    true
                } else {
                    if !wait.invoked && !in_flight(wait.invocation_id) {
                        // Scheduled but not running here: just scheduled, or the process stopped
                        // during the invocation.
                        invocations.push(Invocation {
                            request: Box::new(self.request(
                                task,
                                &current,
                                current.effective_input.clone().unwrap_or(Value::Null),
                                wait,
                            )),
                            invocation_id: wait.invocation_id,
                        });
                    }
                    false
                }
            }
            WaitingFor::Branches(_) => false,
        }
    }

    /// One step of a Parallel or Map state's runs: start the iterations `MaxConcurrency` allows,
    /// step each run, then fail the state if a run's failure fails it, or complete it once every
    /// run has succeeded.
    fn advance_branches(&mut self, in_flight: &dyn Fn(u64) -> bool, invocations: &mut Vec<Invocation>) -> bool {
        let Some(name) = self.thread().map(|c| c.name.clone()) else { return false };
        let definition = self.definition;
        let Some(state) = definition.state(&name) else {
            self.fail(Failure::runtime(format!("the definition has no state \"{name}\"")));
            return true;
        };
        let mut progressed = false;
        if let StateKind::Map(map) = &state.kind {
            progressed |= self.start_iterations(map, &name);
        }
        let runs = self.branches().map_or(0, |b| b.runs.len());
        for index in 0..runs {
            if self.branches().is_none_or(|b| b.runs[index].is_finished()) {
                continue;
            }
            self.path.push(index);
            progressed |= self.advance_thread(in_flight, invocations);
            self.path.pop();
            if let Some(failure) = self.failure_of_runs(state) {
                self.abort_runs(state);
                self.branches_failed(state, failure);
                return true;
            }
        }
        if let Some(failure) = self.failure_of_runs(state) {
            self.abort_runs(state);
            self.branches_failed(state, failure);
            return true;
        }
        let all_done = self.branches().is_some_and(|b| {
            b.runs.iter().all(BranchRun::is_finished) && (b.items.is_empty() || b.runs.len() == b.items.len())
        });
        if all_done {
            self.branches_succeeded(state);
            return true;
        }
        progressed
    }

    /// Starts a Map's next iterations, as many as `MaxConcurrency` allows; whether it started any.
    fn start_iterations(&mut self, map: &MapState, name: &str) -> bool {
        let mut started_any = false;
        loop {
            let Some(branches) = self.branches() else { return started_any };
            let running = branches.runs.iter().filter(|run| !run.is_finished()).count() as u64;
            let index = branches.runs.len();
            if index >= branches.items.len() || (map.max_concurrency != 0 && running >= map.max_concurrency) {
                return started_any;
            }
            let item = branches.items[index].clone();
            let effective = self.thread().and_then(|c| c.effective_input.clone()).unwrap_or(Value::Null);
            let input = match &map.item_selector {
                None => Ok(item),
                Some(selector) => {
                    let mut context = self.env_named(name, None);
                    // Items come from the state's input: AWS's `Source` for them is STATE_DATA.
                    context["context"]["Map"] =
                        json!({ "Item": { "Index": index, "Value": item, "Source": "STATE_DATA" } });
                    let raw_input = self.thread().map(|c| &c.raw_input).unwrap_or(&Value::Null);
                    selector.eval(&effective, &Scope::new(raw_input, &context))
                }
            };
            if let Some(branches) = self.branches_mut() {
                branches.runs.push(BranchRun::default());
            }
            self.event(
                HistoryEventType::MapIterationStarted,
                EventDetails {
                    name: Some(name.to_owned()),
                    index: u32::try_from(index).ok(),
                    ..EventDetails::default()
                },
            );
            self.path.push(index);
            match input {
                Ok(input) => self.enter_state(&map.processor, input),
                Err(failure) => self.finish_run(Err(failure)),
            }
            self.path.pop();
            started_any = true;
        }
    }

    /// The failure that fails a Parallel or Map state, if its runs' failures do: any failed
    /// branch fails a Parallel state and any failed iteration an inline Map; a Distributed Map
    /// fails once more iterations have failed than it tolerates.
    fn failure_of_runs(&self, state: &State) -> Option<Failure> {
        let branches = self.branches()?;
        let mut failed = branches.runs.iter().filter(|run| run.is_finished() && run.output.is_none());
        let run_failure = |run: &BranchRun| {
            Failure::new(run.error.as_deref().unwrap_or_default(), run.cause.clone().unwrap_or_default())
        };
        match &state.kind {
            StateKind::Map(map) if map.distributed => {
                let count = failed.count() as u64;
                let total = branches.items.len().max(1) as f64;
                let over_count = map.tolerated.count.is_none_or(|tolerated| count > tolerated);
                let over_percentage =
                    map.tolerated.percentage.is_none_or(|tolerated| count as f64 * 100.0 / total > tolerated);
                (count > 0 && over_count && over_percentage).then(|| {
                    Failure::new(
                        error_names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        "The specified tolerated failure threshold was exceeded",
                    )
                })
            }
            _ => failed.next().map(run_failure),
        }
    }

    /// Stops a Parallel or Map state's runs that are still going (their tasks' late results and
    /// callbacks are then ignored).
    fn abort_runs(&mut self, state: &State) {
        let Some(name) = self.thread().map(|c| c.name.clone()) else { return };
        let is_map = matches!(state.kind, StateKind::Map(_));
        let mut aborted = Vec::new();
        if let Some(branches) = self.branches_mut() {
            for (index, run) in branches.runs.iter_mut().enumerate() {
                if !run.is_finished() {
                    run.current = None;
                    aborted.push(index);
                }
            }
        }
        if is_map {
            for index in aborted {
                self.event(
                    HistoryEventType::MapIterationAborted,
                    EventDetails {
                        name: Some(name.clone()),
                        index: u32::try_from(index).ok(),
                        ..EventDetails::default()
                    },
                );
            }
        }
    }

    fn branches_failed(&mut self, state: &State, failure: Failure) {
        let failed = match &state.kind {
            StateKind::Map(map) => {
                if map.distributed {
                    self.event(
                        HistoryEventType::MapRunFailed,
                        EventDetails {
                            error: Some(failure.error.clone()),
                            cause: Some(failure.cause.clone()),
                            ..EventDetails::default()
                        },
                    );
                }
                HistoryEventType::MapStateFailed
            }
            _ => HistoryEventType::ParallelStateFailed,
        };
        self.event(failed, EventDetails::default());
        self.handle_error(failure);
    }

    /// Every run has ended and the state has not failed: its result is the array of the runs'
    /// outputs (a tolerated failed iteration's is its error output).
    fn branches_succeeded(&mut self, state: &State) {
        let Some((current, _)) = self.current() else { return };
        let outputs: Vec<Value> = self
            .branches()
            .map(|b| {
                b.runs
                    .iter()
                    .map(|run| run.output.clone().unwrap_or_else(|| json!({ "Error": run.error, "Cause": run.cause })))
                    .collect()
            })
            .unwrap_or_default();
        match &state.kind {
            StateKind::Map(map) => {
                if map.distributed {
                    self.event(HistoryEventType::MapRunSucceeded, EventDetails::default());
                }
                self.event(HistoryEventType::MapStateSucceeded, EventDetails::default());
            }
            _ => self.event(HistoryEventType::ParallelStateSucceeded, EventDetails::default()),
        }
        self.complete_with_result(state, &current, Value::Array(outputs));
    }

    /// Completes a Task, Parallel or Map state with its `result`, as its [`ResultHandling`] says:
    /// assign variables from it, select from it, place it in the raw input, filter the output.
    fn complete_with_result(&mut self, state: &State, current: &CurrentState, result: Value) {
        let Some(handling) = state.kind.result_handling() else { return };
        let context = self.env_of(state, None);
        let scope = Scope::new(&current.raw_input, &context).with_result(&result);
        match evaluate_assign(&handling.assign, &result, &scope) {
            Ok(assigned) => self.assigned = assigned,
            Err(failure) => return self.handle_error(failure),
        }
        if let Some(output) = &handling.output {
            return match output.eval(&scope) {
                Ok(output) => self.complete_state(state, output, &handling.transition),
                Err(failure) => self.handle_error(failure),
            };
        }
        let result = match &handling.result_selector {
            None => result,
            Some(template) => match template.eval(&result, &context) {
                Ok(selected) => selected,
                Err(failure) => return self.handle_error(failure),
            },
        };
        let output = match handling.result_path.apply(&current.raw_input, result) {
            Ok(output) => output,
            Err(failure) => return self.handle_error(failure),
        };
        match handling.output_path.apply(&output, &context) {
            Ok(output) => self.complete_state(state, output, &handling.transition),
            Err(failure) => self.fail(failure),
        }
    }

    /// Ends the run being stepped (a Parallel branch or a Map iteration) with its output or error.
    fn finish_run(&mut self, outcome: Result<Value, Failure>) {
        let Some((&index, parent)) = self.path.split_last() else { return };
        let parent = parent.to_vec();
        let Some(Some(parent_state)) = slot_mut(&mut self.record.current, &parent) else { return };
        let name = parent_state.name.clone();
        let WaitingFor::Branches(branches) = &mut parent_state.waiting_for else { return };
        let Some(run) = branches.runs.get_mut(index) else { return };
        run.current = None;
        let succeeded = outcome.is_ok();
        match outcome {
            Ok(output) => run.output = Some(output),
            Err(failure) => {
                run.error = Some(failure.error);
                run.cause = Some(failure.cause);
            }
        }
        if matches!(self.definition.state(&name).map(|s| &s.kind), Some(StateKind::Map(_))) {
            let event_type =
                if succeeded { HistoryEventType::MapIterationSucceeded } else { HistoryEventType::MapIterationFailed };
            self.event(
                event_type,
                EventDetails { name: Some(name), index: u32::try_from(index).ok(), ..EventDetails::default() },
            );
        }
    }

    fn run_state(&mut self, current: &CurrentState, state: &State) -> Action {
        let raw = &current.raw_input;
        match &state.kind {
            StateKind::Pass(pass) => {
                let context = self.env_of(state, None);
                let scope = Scope::new(raw, &context);
                let output = (|| {
                    let effective = pass.input_path.apply(raw, &context)?;
                    let effective = match &pass.parameters {
                        Some(template) => template.eval(&effective, &context)?,
                        None => effective,
                    };
                    let result = pass.result.clone().unwrap_or(effective);
                    let assigned = evaluate_assign(&pass.assign, &result, &scope)?;
                    if let Some(output) = &pass.output {
                        return Ok((output.eval(&scope)?, assigned));
                    }
                    let output = pass.result_path.apply(raw, result)?;
                    Ok((pass.output_path.apply(&output, &context)?, assigned))
                })();
                match output {
                    Ok((output, assigned)) => {
                        self.assigned = assigned;
                        self.complete_state(state, output, &pass.transition);
                    }
                    Err(failure) => self.fail(failure),
                }
            }
            StateKind::Choice(choice) => {
                let context = self.env_of(state, None);
                let scope = Scope::new(raw, &context);
                let chosen = (|| {
                    let effective = choice.input_path.apply(raw, &context)?;
                    let mut matched = None;
                    for branch in &choice.choices {
                        let holds = match &branch.condition {
                            Condition::Rule(rule) => rule.eval(&effective, &context)?,
                            Condition::Jsonata(condition) => match condition.eval(&scope)? {
                                Value::Bool(holds) => holds,
                                other => return Err(condition.wrong_value("Condition", "a boolean", &other)),
                            },
                        };
                        if holds {
                            matched = Some((branch.next.clone(), Some(&branch.assign), branch.output.as_ref()));
                            break;
                        }
                    }
                    let default = || choice.default.clone().map(|default| (default, None, None));
                    let Some((target, rule_assign, output)) = matched.or_else(default) else {
                        return Err(Failure::new(
                            error_names::NO_CHOICE_MATCHED,
                            "No Choice Rules matched and no Default is specified",
                        ));
                    };
                    // The state's own Assign applies whichever way the state goes (AWS's Choice
                    // page); a matched rule's Assign is applied after it, so its value wins for a
                    // name both assign (as AWS records it: LocalStack's
                    // test_assign_base.py::test_assign_in_choice[CONDITION_TRUE]).
                    let mut assigned = evaluate_assign(&choice.assign, &effective, &scope)?;
                    if let Some(rule_assign) = rule_assign
                        && let Some(rule_bindings) = evaluate_assign(rule_assign, &effective, &scope)?
                    {
                        match &mut assigned {
                            Some(bindings) => bindings.extend(rule_bindings),
                            None => assigned = Some(rule_bindings),
                        }
                    }
                    let output = match output.or(choice.output.as_ref()) {
                        Some(output) => output.eval(&scope)?,
                        None => choice.output_path.apply(&effective, &context)?,
                    };
                    Ok((output, target, assigned))
                })();
                match chosen {
                    Ok((output, target, assigned)) => {
                        self.assigned = assigned;
                        self.complete_state(state, output, &Transition::Next(target));
                    }
                    Err(failure) => self.fail(failure),
                }
            }
            StateKind::Wait(wait) => {
                let context = self.env_of(state, None);
                match self.wait_deadline(current, wait, &context) {
                    Ok((effective, until)) => {
                        if let Some(current) = self.thread_mut() {
                            current.effective_input = Some(effective);
                            current.waiting_for = WaitingFor::Timer { until };
                        }
                    }
                    Err(failure) => self.fail(failure),
                }
            }
            StateKind::Succeed(succeed) => {
                let context = self.env_of(state, None);
                let output = match &succeed.output {
                    Some(output) => output.eval(&Scope::new(raw, &context)),
                    None => succeed
                        .input_path
                        .apply(raw, &context)
                        .and_then(|effective| succeed.output_path.apply(&effective, &context)),
                };
                match output {
                    Ok(output) => self.complete_state(state, output, &Transition::End),
                    Err(failure) => self.fail(failure),
                }
            }
            StateKind::Fail(fail) => {
                let context = self.env_of(state, None);
                let scope = Scope::new(raw, &context);
                let resolve = |reason: &Option<Reason>, field: &str| -> Result<Option<String>, Failure> {
                    let value = match reason {
                        None => return Ok(None),
                        Some(Reason::Literal(text)) => return Ok(Some(text.clone())),
                        // AWS's wording (LocalStack's snapshots recorded against AWS:
                        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[…ERRORPATH] and
                        // [ST.INVALID_JSONPATH_IN_CAUSEPATH]), the input quoted as a Parameters
                        // path's failure quotes it.
                        Some(Reason::Path(path)) => path.resolve(raw, &context).cloned().ok_or_else(|| {
                            Failure::runtime(format!(
                                "The JSONPath '{path}' specified for the field '{field}' could not be found in the \
                                 input '{}'",
                                serde_json::to_string(path.start(raw, &context)).unwrap_or_default()
                            ))
                        })?,
                        Some(Reason::Intrinsic(call)) => call.eval(raw, &context)?,
                        Some(Reason::Expression(expression)) => match scope.eval(expression)? {
                            Value::String(text) => return Ok(Some(text)),
                            other => return Err(expression.wrong_value("a string", &other)),
                        },
                    };
                    match value {
                        Value::String(text) => Ok(Some(text)),
                        other => {
                            Err(Failure::runtime(format!("the {field} must give a string, not {}", kind_of(&other))))
                        }
                    }
                };
                match (resolve(&fail.error, "ErrorPath"), resolve(&fail.cause, "CausePath")) {
                    (Ok(error), Ok(cause)) => self.fail_with(error, cause),
                    (Err(failure), _) | (_, Err(failure)) => self.fail(failure),
                }
            }
            StateKind::Task(task) => return self.start_task(current, task),
            StateKind::Parallel(parallel) => self.start_branches(current, parallel),
            StateKind::Map(map) => self.start_map(current, map),
        }
        Action::Continue
    }

    /// Enters a Parallel state's branches, each with the state's effective input.
    fn start_branches(&mut self, current: &CurrentState, parallel: &ParallelState) {
        let context = self.env_named(&current.name, None);
        let effective = match parallel.input_path.apply(&current.raw_input, &context) {
            Ok(effective) => effective,
            Err(failure) => return self.fail(failure),
        };
        let input = match &parallel.parameters {
            None => effective,
            Some(payload) => match payload.eval(&effective, &Scope::new(&current.raw_input, &context)) {
                Ok(parameters) => parameters,
                Err(failure) => return self.handle_error(failure),
            },
        };
        self.event(HistoryEventType::ParallelStateStarted, EventDetails::default());
        let runs = vec![BranchRun::default(); parallel.branches.len()];
        self.set_waiting(WaitingFor::Branches(Box::new(Branches { items: Vec::new(), runs })));
        for (index, start_at) in parallel.branches.iter().enumerate() {
            self.path.push(index);
            self.enter_state(start_at, input.clone());
            self.path.pop();
        }
    }

    /// Starts a Map state: selects its items; the iterations start as the state is stepped.
    fn start_map(&mut self, current: &CurrentState, map: &MapState) {
        let context = self.env_named(&current.name, None);
        let effective = match map.input_path.apply(&current.raw_input, &context) {
            Ok(effective) => effective,
            Err(failure) => return self.fail(failure),
        };
        let path = &map.items_path;
        let selected = match &map.items {
            None => path.resolve(&effective, &context).map(std::borrow::Cow::Borrowed),
            Some(items) => match items.eval(&Scope::new(&current.raw_input, &context)) {
                Ok(Value::Array(items)) => Some(std::borrow::Cow::Owned(Value::Array(items))),
                // An object too: AWS's executions recorded by LocalStack
                // (test_map_state_items_variable_sampling[object]) fail, where its ItemsPath page
                // says an object's key-value pairs are iterated (see statemachine/README.md).
                Ok(other) => return self.items_failed(items.not_an_array(&other)),
                Err(failure) => return self.items_failed(failure),
            },
        };
        let items = match selected.as_deref() {
            Some(Value::Array(items)) => items.clone(),
            // A JSONata Map without Items iterates over its input (test_map_state_items_input_types).
            Some(other) if map.jsonata => {
                return self.items_failed(Failure::evaluation(
                    format!("Map state input must be an array but was: {other}"),
                    None,
                ));
            }
            Some(other) => {
                return self.fail(Failure::runtime(format!(
                    "Invalid path '{path}': the ItemsPath selects {}, not an array",
                    kind_of(other)
                )));
            }
            None => {
                return self.fail(Failure::runtime(format!(
                    "Invalid path '{path}': the ItemsPath references a field not present in the input"
                )));
            }
        };
        self.event(
            HistoryEventType::MapStateStarted,
            EventDetails { length: u32::try_from(items.len()).ok(), ..EventDetails::default() },
        );
        if map.distributed {
            self.event(HistoryEventType::MapRunStarted, EventDetails::default());
        }
        if let Some(current) = self.thread_mut() {
            current.effective_input = Some(effective);
            current.waiting_for = WaitingFor::Branches(Box::new(Branches { items, runs: Vec::new() }));
        }
    }

    /// A JSONata Map whose items could not be had: as AWS records it, the evaluation failure
    /// (`EvaluationFailed`) and then `MapStateFailed`, before Retriers and Catchers see it.
    fn items_failed(&mut self, failure: Failure) {
        let failure = self.located(failure);
        self.event(HistoryEventType::MapStateFailed, EventDetails::default());
        self.handle_error(failure);
    }

    fn wait_deadline(
        &self,
        current: &CurrentState,
        wait: &WaitState,
        context: &Value,
    ) -> Result<(Value, DateTime<Utc>), Failure> {
        let effective = wait.input_path.apply(&current.raw_input, context)?;
        let from = current.entered_time;
        let until = match &wait.wait {
            WaitFor::Seconds(seconds) => seconds_after(from, *seconds as f64),
            WaitFor::Timestamp(at) => Some(at.with_timezone(&Utc)),
            WaitFor::SecondsExpression(expression) => {
                let scope = Scope::new(&current.raw_input, context);
                let seconds = expression_seconds(expression, &scope, 0, MAX_WAIT_SECONDS as u64)?;
                seconds_after(from, seconds as f64)
            }
            WaitFor::TimestampExpression(expression) => {
                match Scope::new(&current.raw_input, context).eval(expression)? {
                    Value::String(text) => match timestamp::parse(&text) {
                        Some(at) => Some(at.with_timezone(&Utc)),
                        // AWS's wording, with the field as location (LocalStack's
                        // test_base_scenarios.snapshot.json, recorded against AWS:
                        // test_wait_timestamp_jsonata[NO_Z] and the others of that test).
                        None => {
                            return Err(expression.failure_in_field(format_args!(
                                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time \
                                 format string: {text}"
                            )));
                        }
                    },
                    other => {
                        return Err(expression.wrong_value(
                            "an RFC 3339 timestamp with an uppercase T and Z, e.g. \"2016-03-14T01:59:00Z\"",
                            &other,
                        ));
                    }
                }
            }
            WaitFor::SecondsPath(path) => match path.resolve(&effective, context) {
                Some(Value::Number(n)) if n.as_u64().is_some_and(|s| (s as f64) <= MAX_WAIT_SECONDS) => {
                    seconds_after(from, n.as_u64().unwrap_or_default() as f64)
                }
                // Step Functions' wording for each case.
                Some(Value::Number(n)) if n.as_i64().is_some_and(|s| s < 0) => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter references a negative value: {path} == {n}"
                    )));
                }
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter references {n} seconds, more than the {MAX_WAIT_SECONDS} a wait may last"
                    )));
                }
                Some(other) => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {path} == {}",
                        plain_text(other)
                    )));
                }
                None => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {path}"
                    )));
                }
            },
            WaitFor::TimestampPath(path) => match path.resolve(&effective, context) {
                Some(Value::String(text)) if timestamp::parse(text).is_some() => {
                    timestamp::parse(text).map(|at| at.with_timezone(&Utc))
                }
                Some(other) => {
                    return Err(Failure::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time \
                         format string: {path} == {}",
                        plain_text(other)
                    )));
                }
                None => {
                    return Err(Failure::runtime(format!(
                        "The JSONPath '{path}' specified for the field 'TimestampPath' could not be found in the input \
                         '{}'",
                        serde_json::to_string(&effective).unwrap_or_default()
                    )));
                }
            },
        };
        let until = until.ok_or_else(|| Failure::runtime("the wait ends beyond the representable time"))?;
        if (until - from).num_seconds() > MAX_TIMESTAMP_DELAY_SECONDS {
            return Err(Failure::runtime("Wait state delay is too long."));
        }
        Ok((effective, until))
    }

    fn finish_wait(&mut self, current: &CurrentState, wait: &WaitState) {
        let context = self.env_named(&current.name, None);
        let scope = Scope::new(&current.raw_input, &context);
        let effective = current.effective_input.clone().unwrap_or_else(|| current.raw_input.clone());
        let definition = self.definition;
        match evaluate_assign(&wait.assign, &effective, &scope) {
            Ok(assigned) => self.assigned = assigned,
            Err(failure) => return self.fail(failure),
        }
        let output = match &wait.output {
            Some(output) => output.eval(&scope),
            None => wait.output_path.apply(&effective, &context),
        };
        match output {
            Ok(output) => {
                if let Some(state) = definition.state(&current.name) {
                    self.complete_state(state, output, &wait.transition);
                }
            }
            Err(failure) => self.fail(failure),
        }
    }

    fn start_task(&mut self, current: &CurrentState, task: &TaskState) -> Action {
        let token = task.wait_for_task_token.then(|| {
            if self.path.is_empty() { new_task_token() } else { new_nested_task_token(&self.record.execution_arn) }
        });
        let context = self.env_named(&current.name, token.as_deref());
        let effective = match task.input_path.apply(&current.raw_input, &context) {
            Ok(effective) => effective,
            Err(failure) => {
                self.fail(failure);
                return Action::Continue;
            }
        };
        let scope = Scope::new(&current.raw_input, &context);
        let parameters = match &task.parameters {
            None => Ok(effective),
            Some(payload) => payload.eval(&effective, &scope),
        };
        let timeouts = parameters.and_then(|parameters| Ok((parameters, self.task_timeouts(task, &scope)?)));
        let (parameters, (timeout_seconds, heartbeat_seconds)) = match timeouts {
            Ok(evaluated) => evaluated,
            Err(failure) => {
                self.handle_error(failure);
                return Action::Continue;
            }
        };
        self.record.last_invocation_id += 1;
        let invocation_id = self.record.last_invocation_id;
        let timeout = task_seconds(&task.timeout_seconds, timeout_seconds);
        let heartbeat = task_seconds(&task.heartbeat_seconds, heartbeat_seconds);
        let wait = TaskWait {
            invocation_id,
            task_token: token,
            invoked: false,
            timeout_at: timeout.and_then(|s| seconds_after(self.now, s as f64)),
            heartbeat_at: heartbeat.and_then(|s| seconds_after(self.now, s as f64)),
            timeout_seconds,
            heartbeat_seconds,
        };
        let request = self.request(task, current, parameters.clone(), &wait);
        if let Some(current) = self.thread_mut() {
            current.effective_input = Some(parameters.clone());
            current.waiting_for = WaitingFor::Task(wait);
        }
        self.event(
            HistoryEventType::TaskScheduled,
            EventDetails {
                resource: Some(task.resource.clone()),
                parameters: Some(Box::new(parameters)),
                timeout_in_seconds: timeout.and_then(|s| u32::try_from(s).ok()),
                heartbeat_in_seconds: heartbeat.and_then(|s| u32::try_from(s).ok()),
                ..EventDetails::default()
            },
        );
        self.event(
            HistoryEventType::TaskStarted,
            EventDetails { resource: Some(task.resource.clone()), ..EventDetails::default() },
        );
        Action::Invoke(vec![Invocation { request: Box::new(request), invocation_id }])
    }

    /// The `TimeoutSeconds` and `HeartbeatSeconds` JSONata expressions give as a task starts
    /// (`None` for one given as a number, or not given). The heartbeat must stay below the
    /// timeout, as the definition's numbers must.
    fn task_timeouts(&self, task: &TaskState, scope: &Scope<'_>) -> Result<(Option<u64>, Option<u64>), Failure> {
        let evaluate = |setting: &Option<Seconds>| match setting {
            Some(Seconds::Expression(expression)) => {
                expression_seconds(expression, scope, 1, MAX_WAIT_SECONDS as u64).map(Some)
            }
            _ => Ok(None),
        };
        let (timeout, heartbeat) = (evaluate(&task.timeout_seconds)?, evaluate(&task.heartbeat_seconds)?);
        if let (Some(timeout_seconds), Some(heartbeat_seconds)) =
            (task_seconds(&task.timeout_seconds, timeout), task_seconds(&task.heartbeat_seconds, heartbeat))
            && heartbeat_seconds >= timeout_seconds
        {
            // A JSONata failure like the others, so it writes EvaluationFailed; its location is the
            // field whose expression gave the value the rule refuses: HeartbeatSeconds if it is
            // one, else TimeoutSeconds (one of them is, or the load would have refused the pair).
            let location =
                [&task.heartbeat_seconds, &task.timeout_seconds].into_iter().find_map(|setting| match setting {
                    Some(Seconds::Expression(expression)) => Some(expression.field().clone()),
                    _ => None,
                });
            return Err(Failure::evaluation(
                format!(
                    "The HeartbeatSeconds ({heartbeat_seconds}) must be smaller than the TimeoutSeconds \
                     ({timeout_seconds})"
                ),
                location,
            ));
        }
        Ok((timeout, heartbeat))
    }

    /// The request invoking `task` with `parameters` for the thread in `current`.
    fn request(&self, task: &TaskState, current: &CurrentState, parameters: Value, wait: &TaskWait) -> TaskRequest {
        TaskRequest {
            resource: task.resource.clone(),
            parameters,
            execution_arn: self.record.execution_arn.clone(),
            execution_name: self.record.name.clone(),
            state_machine_arn: self.record.state_machine_arn.clone(),
            state_name: current.name.clone(),
            task_token: wait.task_token.clone(),
            retry_count: current.retry_count,
            timeout_seconds: task_seconds(&task.timeout_seconds, wait.timeout_seconds),
            heartbeat_seconds: task_seconds(&task.heartbeat_seconds, wait.heartbeat_seconds),
        }
    }

    /// The current Task state and its outstanding task, if the thread is waiting on one.
    fn waiting_task(&self) -> Option<(&'a TaskState, TaskWait)> {
        let current = self.thread()?;
        let WaitingFor::Task(wait) = &current.waiting_for else { return None };
        let definition = self.definition;
        match &definition.state(&current.name)?.kind {
            StateKind::Task(task) => Some((task, wait.clone())),
            _ => None,
        }
    }

    /// Whether a deadline of the execution or of its outstanding task has passed: a result or
    /// callback arriving now is too late, even if the timeout has not been processed yet.
    fn deadline_passed(&self, wait: &TaskWait) -> bool {
        let due = |at: Option<DateTime<Utc>>| at.is_some_and(|t| self.now >= t);
        due(self.record.timeout_at) || due(wait.timeout_at) || due(wait.heartbeat_at)
    }

    /// Applies the outcome of invocation `invocation_id`; returns false (and changes nothing) if
    /// that invocation is no longer the one awaited (timed out, called back, stopped, …).
    pub(crate) fn apply_invocation(&mut self, invocation_id: u64, outcome: Result<TaskOutcome, TaskFailure>) -> bool {
        if self.record.status != ExecutionStatus::Running {
            return false;
        }
        let Some(path) = find_task(&self.record.current, &|wait| wait.invocation_id == invocation_id) else {
            return false;
        };
        self.path = path;
        let Some((task, wait)) = self.waiting_task() else { return false };
        if wait.invocation_id != invocation_id || wait.invoked || self.deadline_passed(&wait) {
            return false;
        }
        match outcome {
            Ok(TaskOutcome::Completed(result)) => self.task_succeeded(task, result),
            Ok(TaskOutcome::AwaitingCallback) if wait.task_token.is_some() => {
                self.set_waiting(WaitingFor::Task(TaskWait { invoked: true, ..wait }));
                self.event(
                    HistoryEventType::TaskSubmitted,
                    EventDetails { resource: Some(task.resource.clone()), ..EventDetails::default() },
                );
            }
            Ok(TaskOutcome::AwaitingCallback) => self.fail(Failure::runtime(format!(
                "the task invoker returned AwaitingCallback for resource \"{}\", which does not end with \
                 .waitForTaskToken; only .waitForTaskToken tasks can wait for a callback",
                task.resource
            ))),
            Err(failure) => self.task_failed(task, failure.error, failure.cause),
        }
        true
    }

    /// Applies a callback for `token`; returns false if no task of this execution is waiting on it
    /// (or its deadline has passed).
    pub(crate) fn apply_callback(&mut self, token: &str, callback: Callback) -> bool {
        if self.record.status != ExecutionStatus::Running {
            return false;
        }
        let Some(path) = find_task(&self.record.current, &|wait| wait.task_token.as_deref() == Some(token)) else {
            return false;
        };
        self.path = path;
        let Some((task, wait)) = self.waiting_task() else { return false };
        if wait.task_token.as_deref() != Some(token) || self.deadline_passed(&wait) {
            return false;
        }
        match callback {
            Callback::Success(output) => self.task_succeeded(task, output),
            Callback::Failure { error, cause } => self.task_failed(task, error, cause),
            Callback::Heartbeat => {
                if let Some(seconds) = task_seconds(&task.heartbeat_seconds, wait.heartbeat_seconds) {
                    let heartbeat_at = seconds_after(self.now, seconds as f64);
                    self.set_waiting(WaitingFor::Task(TaskWait { heartbeat_at, ..wait }));
                }
            }
        }
        true
    }

    /// Stops a running execution (ABORTED); returns false if it was not running.
    pub(crate) fn abort(&mut self, error: Option<String>, cause: Option<String>) -> bool {
        if self.record.status != ExecutionStatus::Running {
            return false;
        }
        self.finish(ExecutionStatus::Aborted, error.clone(), cause.clone());
        self.event(HistoryEventType::ExecutionAborted, EventDetails { error, cause, ..EventDetails::default() });
        true
    }

    fn task_succeeded(&mut self, task: &TaskState, result: Value) {
        self.event(
            HistoryEventType::TaskSucceeded,
            EventDetails {
                resource: Some(task.resource.clone()),
                output: Some(Box::new(result.clone())),
                ..EventDetails::default()
            },
        );
        let Some((current, state)) = self.current() else { return };
        self.complete_with_result(state, &current, result);
    }

    fn task_failed(&mut self, task: &TaskState, error: String, cause: String) {
        self.event(
            HistoryEventType::TaskFailed,
            EventDetails {
                resource: Some(task.resource.clone()),
                error: Some(error.clone()),
                cause: Some(cause.clone()),
                ..EventDetails::default()
            },
        );
        self.handle_error(Failure { error, cause, evaluation: None });
    }

    fn task_timed_out(&mut self, task: &TaskState, failure: Failure) {
        self.event(
            HistoryEventType::TaskTimedOut,
            EventDetails {
                resource: Some(task.resource.clone()),
                error: Some(failure.error.clone()),
                cause: Some(failure.cause.clone()),
                ..EventDetails::default()
            },
        );
        self.handle_error(failure);
    }

    /// The current Task, Parallel or Map state reported `failure`: retry it, catch it, or fail
    /// the thread (the execution, or the branch or iteration it is in).
    fn handle_error(&mut self, failure: Failure) {
        // What the state would have assigned, had it succeeded.
        self.assigned = None;
        let failure = self.located(failure);
        if failure.error == error_names::RUNTIME {
            return self.fail(failure);
        }
        let Some((current, state)) = self.current() else { return };
        let (retry, catch) = state.kind.error_handling();
        if let Some((index, retrier)) =
            retry.iter().enumerate().find(|(_, r)| error_matches(&r.error_equals, &failure.error))
        {
            let used = current.retrier_attempts.get(index).copied().unwrap_or(0);
            if used < retrier.max_attempts {
                let mut delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powf(used as f64);
                if let Some(max) = retrier.max_delay_seconds {
                    delay = delay.min(max as f64);
                }
                delay = delay.min(MAX_WAIT_SECONDS);
                if retrier.full_jitter {
                    delay = rand::random_range(0.0..=delay);
                }
                let until = seconds_after(self.now, delay).unwrap_or(self.now);
                if let Some(current) = self.thread_mut() {
                    if current.retrier_attempts.len() < retry.len() {
                        current.retrier_attempts.resize(retry.len(), 0);
                    }
                    current.retrier_attempts[index] = used + 1;
                    current.retry_count = current.retry_count.saturating_add(1);
                    current.effective_input = None;
                    current.waiting_for = WaitingFor::RetryInterval { until };
                }
                return;
            }
        }
        if let Some(catcher) = catch.iter().find(|c| error_matches(&c.error_equals, &failure.error)) {
            let error_output = json!({ "Error": failure.error, "Cause": failure.cause });
            let context = self.env_of(state, None);
            let scope = Scope::new(&current.raw_input, &context).with_error_output(&error_output);
            match evaluate_assign(&catcher.assign, &error_output, &scope) {
                Ok(assigned) => self.assigned = assigned,
                Err(failure) => return self.fail(failure),
            }
            if let Some(output) = &catcher.output {
                return match output.eval(&scope) {
                    Ok(output) => self.complete_state(state, output, &Transition::Next(catcher.next.clone())),
                    Err(failure) => self.fail(failure),
                };
            }
            match catcher.result_path.apply(&current.raw_input, error_output) {
                Ok(output) => self.complete_state(state, output, &Transition::Next(catcher.next.clone())),
                Err(result_path_failure) => self.fail(Failure::runtime(format!(
                    "the Catcher for {} could not apply its ResultPath: {}",
                    failure.error, result_path_failure.cause
                ))),
            }
            return;
        }
        self.fail(failure);
    }

    /// Emits the exit event of the current state and follows `transition`.
    fn complete_state(&mut self, state: &State, output: Value, transition: &Transition) {
        let name = self.thread().map(|c| c.name.clone()).unwrap_or_default();
        if may_exceed(&output, MAX_PAYLOAD_BYTES) {
            return self.fail(Failure::new(
                error_names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The state/task '{name}' returned a result with a size exceeding the maximum number of bytes \
                     service limit."
                ),
            ));
        }
        if let Err(failure) = self.write_assigned() {
            return self.fail(failure);
        }
        if let Some(exited) = HistoryEventType::exited(state.kind.type_name()) {
            self.event(
                exited,
                EventDetails { name: Some(name), output: Some(Box::new(output.clone())), ..EventDetails::default() },
            );
        }
        match transition {
            Transition::End if !self.path.is_empty() => self.finish_run(Ok(output)),
            Transition::End => {
                self.finish(ExecutionStatus::Succeeded, None, None);
                self.record.output = Some(output.clone());
                self.event(
                    HistoryEventType::ExecutionSucceeded,
                    EventDetails { output: Some(Box::new(output)), ..EventDetails::default() },
                );
            }
            Transition::Next(next) => self.enter_state(next, output),
        }
    }

    fn enter_state(&mut self, name: &str, input: Value) {
        let definition = self.definition;
        let Some(state) = definition.state(name) else {
            return self.fail(Failure::runtime(format!("the definition has no state \"{name}\"")));
        };
        let retriers = state.kind.error_handling().0.len();
        let Some(thread) = slot_mut(&mut self.record.current, &self.path) else { return };
        *thread = Some(CurrentState {
            name: name.to_owned(),
            entered_time: self.now,
            entered_event_id: self.record.last_event_id + 1,
            raw_input: input.clone(),
            effective_input: None,
            retry_count: 0,
            retrier_attempts: vec![0; retriers],
            waiting_for: WaitingFor::Nothing,
        });
        self.event(
            HistoryEventType::entered(state.kind.type_name()),
            EventDetails { name: Some(name.to_owned()), input: Some(Box::new(input)), ..EventDetails::default() },
        );
    }

    fn finish(&mut self, status: ExecutionStatus, error: Option<String>, cause: Option<String>) {
        self.record.status = status;
        self.record.error = error;
        self.record.cause = cause;
        self.record.stop_date = Some(self.now);
        self.record.current = None;
    }

    fn fail(&mut self, failure: Failure) {
        let failure = self.located(failure);
        self.fail_with(Some(failure.error), Some(failure.cause));
    }

    /// A JSONata evaluation failure's cause, begun as AWS begins it: naming the state and the event
    /// that entered it (as a runtime error's is, in [`Step::fail_with`]). A failed evaluation is
    /// also written as AWS writes it, once, before anything handles it: an `EvaluationFailed`
    /// event with the state, error, cause and field (LocalStack's snapshots recorded against AWS,
    /// e.g. test_base_scenarios.snapshot.json, test_map_state_items_variable_sampling[object]).
    fn located(&mut self, mut failure: Failure) -> Failure {
        if failure.error == error_names::QUERY_EVALUATION_ERROR
            && !failure.cause.starts_with(RUNTIME_CAUSE_PREFIX)
            && let Some(current) = self.thread()
        {
            failure.cause = format!(
                "{RUNTIME_CAUSE_PREFIX} '{}' (entered at the event id #{}). {}",
                current.name, current.entered_event_id, failure.cause
            );
        }
        if let Some(evaluation) = failure.evaluation.take() {
            let state = self.thread().map(|current| current.name.as_str().into());
            self.event(
                HistoryEventType::EvaluationFailed,
                EventDetails {
                    state,
                    error: Some(failure.error.clone()),
                    cause: Some(failure.cause.clone()),
                    location: evaluation.location.map(|location| (*location).into()),
                    ..EventDetails::default()
                },
            );
        }
        failure
    }

    /// Fails the thread: the execution, or the branch or iteration being stepped.
    fn fail_with(&mut self, error: Option<String>, mut cause: Option<String>) {
        self.assigned = None;
        if error.as_deref() == Some(error_names::RUNTIME)
            && let (Some(text), Some(current)) = (&cause, self.thread())
            && !text.starts_with(RUNTIME_CAUSE_PREFIX)
        {
            cause = Some(format!(
                "{RUNTIME_CAUSE_PREFIX} '{}' (entered at the event id #{}). {text}",
                current.name, current.entered_event_id
            ));
        }
        if !self.path.is_empty() {
            return self.finish_run(Err(Failure {
                error: error.unwrap_or_default(),
                cause: cause.unwrap_or_default(),
                evaluation: None,
            }));
        }
        self.finish(ExecutionStatus::Failed, error.clone(), cause.clone());
        self.event(HistoryEventType::ExecutionFailed, EventDetails { error, cause, ..EventDetails::default() });
    }

    fn time_out(&mut self) {
        let error = Some(error_names::TIMEOUT.to_owned());
        let cause = Some(format!(
            "The execution ran longer than the state machine's TimeoutSeconds ({})",
            self.definition.timeout_seconds().unwrap_or_default()
        ));
        self.finish(ExecutionStatus::TimedOut, error.clone(), cause.clone());
        self.event(HistoryEventType::ExecutionTimedOut, EventDetails { error, cause, ..EventDetails::default() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_new_tokens_when_checked_then_they_are_well_formed_and_distinct() {
        let (a, b) = (new_task_token(), new_task_token());
        assert!(is_well_formed_token(&a) && is_well_formed_token(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed_token("made-up"));
        assert!(!is_well_formed_token(&a[..a.len() - 1]));
    }
}
