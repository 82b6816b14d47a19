//! Fuzz target `asl_paths`: the `statemachine` crate's definition loader, and its reference paths,
//! payload templates (`Parameters`, `ResultSelector`), intrinsic functions, Choice rules and Wait
//! paths applied to arbitrary JSON documents by really running the loaded definition.
//!
//! Input: the first byte picks a mode; the rest is split at NUL bytes into text pieces, so seeds are
//! readable files (`fuzz/seeds/asl_paths/`):
//! - 0: `DEFINITION \0 INPUT \0 SCRIPT`: any definition text, run on INPUT if it loads;
//! - 1: `INPUTPATH \0 PARAMETER \0 RESULTPATH \0 OUTPUTPATH \0 INPUT`: a Pass state with these;
//! - 2: `PARAMETER \0 SELECTOR \0 RESULTPATH \0 CATCHPATH \0 CAUSE \0 INPUT \0 SCRIPT`: a Task state,
//!   its Catcher and a Fail state;
//! - 3: `VARIABLE \0 OPERATOR \0 OPERAND \0 WAITPATH \0 INPUT`: a Choice rule and a Wait state;
//! - 4: `TEXT \0 NAME \0 VALUE \0 NAME \0 VALUE …`: definition substitutions.
//!
//! A PARAMETER is either a path or an intrinsic function; a piece that is empty leaves its field
//! out; INPUT is read as JSON, or taken as a JSON string when it is not JSON. SCRIPT bytes decide
//! what each task invocation and callback returns.
//!
//! Properties: loading never panics, and a definition that loads starts at one of its states and
//! loads again from its own source; an execution never panics and ends (or waits) in a consistent
//! state: succeeded with an output, failed with an error, or still running in a state (waiting for
//! a timer or a callback); its history starts with `ExecutionStarted`. Substitution leaves no
//! placeholder in a text it accepts, and never grows a text past 1 MiB (Step Functions' limit for a
//! definition). Definitions whose states can loop without waiting for a timer or a callback are
//! only loaded, not run: this executor has no equivalent of Step Functions' 25,000-event history
//! limit, so it would run them for ever.

#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use statemachine::{
    Definition, ExecutionStatus, Executor, HistoryEventType, InMemoryStore, ManualClock, StateMachineArn, TaskFailure,
    TaskInvoker, TaskOutcome, TaskRequest, placeholders, substitute,
};

thread_local! {
    /// `FUZZ_DEBUG=1` prints why a definition was refused and how each run ended (for writing seeds).
    static DEBUG: bool = std::env::var_os("FUZZ_DEBUG").is_some();
}

/// How many times a run may move the clock on (further each time) or answer a callback before it is
/// left as it is.
const ROUNDS: u32 = 6;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let pieces: Vec<String> = rest.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    let piece = |i: usize| pieces.get(i).map(String::as_str).unwrap_or("");
    match mode % 5 {
        0 => load_and_run(piece(0), piece(1), piece(2).as_bytes()),
        1 => {
            let mut state = Map::from_iter([("Type".to_owned(), json!("Pass")), ("End".to_owned(), json!(true))]);
            path_field(&mut state, "InputPath", piece(0));
            template_field(&mut state, "Parameters", piece(1));
            path_field(&mut state, "ResultPath", piece(2));
            path_field(&mut state, "OutputPath", piece(3));
            let definition = json!({"StartAt": "S", "States": {"S": state}});
            load_and_run(&definition.to_string(), piece(4), b"");
        }
        2 => {
            let mut task = Map::from_iter([
                ("Type".to_owned(), json!("Task")),
                ("Resource".to_owned(), json!("arn:aws:states:::lambda:invoke")),
                ("End".to_owned(), json!(true)),
            ]);
            template_field(&mut task, "Parameters", piece(0));
            template_field(&mut task, "ResultSelector", piece(1));
            path_field(&mut task, "ResultPath", piece(2));
            let mut catcher = Map::from_iter([
                ("ErrorEquals".to_owned(), json!(["States.ALL"])),
                ("Next".to_owned(), json!("Failed")),
            ]);
            path_field(&mut catcher, "ResultPath", piece(3));
            task.insert("Catch".to_owned(), Value::Array(vec![Value::Object(catcher)]));
            let mut fail = Map::from_iter([("Type".to_owned(), json!("Fail")), ("Error".to_owned(), json!("Fuzz"))]);
            path_field(&mut fail, "CausePath", piece(4));
            let definition = json!({"StartAt": "T", "States": {"T": task, "Failed": fail}});
            load_and_run(&definition.to_string(), piece(5), piece(6).as_bytes());
        }
        3 => {
            let operand = serde_json::from_str(piece(2)).unwrap_or_else(|_| json!(piece(2)));
            let rule = json!({"Variable": piece(0), piece(1): operand, "Next": "W"});
            let mut wait = Map::from_iter([("Type".to_owned(), json!("Wait")), ("End".to_owned(), json!(true))]);
            match piece(3) {
                "" => {
                    wait.insert("Seconds".to_owned(), json!(1));
                }
                path if path.contains("Time") => path_field(&mut wait, "TimestampPath", path),
                path => path_field(&mut wait, "SecondsPath", path),
            }
            let definition = json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [rule], "Default": "D"},
                "W": wait,
                "D": {"Type": "Succeed"},
            }});
            load_and_run(&definition.to_string(), piece(4), b"");
        }
        _ => substitutions(&pieces),
    }
});

/// Sets a path field: an empty piece leaves it out, `null` is JSON null (allowed for some paths).
fn path_field(state: &mut Map<String, Value>, name: &str, piece: &str) {
    match piece {
        "" => {}
        "null" => {
            state.insert(name.to_owned(), Value::Null);
        }
        path => {
            state.insert(name.to_owned(), json!(path));
        }
    }
}

/// Sets a payload template with one dynamic field (a path or an intrinsic) beside a literal one.
fn template_field(state: &mut Map<String, Value>, name: &str, piece: &str) {
    if !piece.is_empty() {
        state.insert(name.to_owned(), json!({"value.$": piece, "literal": [1, "two", null]}));
    }
}

fn load_and_run(text: &str, input: &str, script: &[u8]) {
    let definition = match Definition::load(text) {
        Ok(definition) => definition,
        Err(error) => {
            if DEBUG.with(|debug| *debug) {
                eprintln!("asl_paths: refused: {error}");
            }
            return;
        }
    };
    let names: BTreeSet<&str> = definition.state_names().collect();
    assert!(names.contains(definition.start_at()), "StartAt {:?} is not a state", definition.start_at());
    let again = Definition::from_json(definition.source()).expect("a loaded definition loads from its source");
    assert!(again.state_names().eq(definition.state_names()));
    if may_loop_without_waiting(definition.source()) {
        if DEBUG.with(|debug| *debug) {
            eprintln!("asl_paths: loaded, not run: its states may loop without waiting");
        }
        return;
    }
    let input = serde_json::from_str(input).unwrap_or_else(|_| Value::String(input.to_owned()));
    RUNTIME.with(|runtime| runtime.block_on(run(definition, input, script)));
}

/// Runs one execution to its end, or until it has waited `ROUNDS` times, and checks its state.
async fn run(definition: Definition, input: Value, script: &[u8]) {
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u8>>()));
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000)));
    let arn = StateMachineArn::new("us-east-1", "123456789012", "fuzz").expect("a valid ARN");
    let invoker = Arc::new(ScriptedInvoker { script: script.clone() });
    let executor =
        Executor::builder(definition, arn, invoker, Arc::new(InMemoryStore::new())).clock(clock.clone()).build();
    let started = executor.start_execution("fuzz", input).await.expect("a first start succeeds");
    let arn = started.execution_arn;
    let mut description = None;
    for round in 0..ROUNDS {
        // An error here is one a background step hit (e.g. a store refusal): the execution must
        // still be described consistently below, so it is not a failure of the target by itself.
        let _ = executor.run_until_idle().await;
        let now = executor.describe_execution(&arn).await.expect("the execution exists");
        if now.status != ExecutionStatus::Running {
            description = Some(now);
            break;
        }
        match &now.task_token {
            Some(token) => {
                let answer = next(&script);
                let sent = if answer % 3 == 2 {
                    executor.send_task_failure(token, "Fuzz.Callback", "scripted").await
                } else {
                    executor.send_task_success(token, json!({"callback": answer})).await
                };
                sent.expect("a callback with the execution's own token is accepted");
            }
            // 1 s, 100 s, about 3 hours, 12 days, 3 years, 317 years: short waits, retries and
            // timeouts fire in the early rounds, long ones later.
            None => clock.advance(Duration::from_secs(100_u64.saturating_pow(round))),
        }
        description = Some(now);
    }
    let description = description.expect("at least one round ran");
    match description.status {
        ExecutionStatus::Succeeded => assert!(description.output.is_some(), "succeeded without an output"),
        ExecutionStatus::Failed => assert!(description.error.is_some(), "failed without an error"),
        ExecutionStatus::Running => assert!(description.current_state.is_some(), "running, but in no state"),
        ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
    }
    if DEBUG.with(|debug| *debug) {
        eprintln!(
            "asl_paths: ran: {:?} in {:?}, output {:?}, error {:?}, cause {:?}",
            description.status, description.current_state, description.output, description.error, description.cause
        );
    }
    let history = executor.get_execution_history(&arn).await.expect("the history exists");
    assert_eq!(history.first().map(|e| e.event_type), Some(HistoryEventType::ExecutionStarted));
}

fn next(script: &Mutex<VecDeque<u8>>) -> u8 {
    script.lock().map(|mut s| s.pop_front().unwrap_or(0)).unwrap_or(0)
}

/// Answers task invocations from the script: the parameters back, another value, or a failure.
/// A `.waitForTaskToken` task always waits for its callback (the integration only hands the token on).
struct ScriptedInvoker {
    script: Arc<Mutex<VecDeque<u8>>>,
}

#[async_trait::async_trait]
impl TaskInvoker for ScriptedInvoker {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        if request.resource.ends_with(".waitForTaskToken") {
            return Ok(TaskOutcome::AwaitingCallback);
        }
        match next(&self.script) % 6 {
            0 | 1 => Ok(TaskOutcome::Completed(request.parameters)),
            2 => Ok(TaskOutcome::Completed(json!({"Payload": {"n": 1, "list": [1, 2, 3]}}))),
            3 => Err(TaskFailure::new("DynamoDB.ConditionalCheckFailedException", "scripted")),
            4 => Err(TaskFailure::new("States.TaskFailed", "scripted")),
            _ => Ok(TaskOutcome::AwaitingCallback),
        }
    }
}

/// Whether some cycle of states can be followed without waiting: every state of the cycle may
/// finish at once. Only a Wait state with literal `Seconds` of at least 1 and a `.waitForTaskToken`
/// Task (whose callback comes from the next round) always wait; Retry intervals wait too, but a
/// Catch edge can loop at once.
fn may_loop_without_waiting(source: &Value) -> bool {
    let Some(states) = source.get("States").and_then(Value::as_object) else { return false };
    let waits = |state: &Value| match state.get("Type").and_then(Value::as_str) {
        Some("Wait") => state.get("Seconds").and_then(Value::as_u64).is_some_and(|s| s >= 1),
        Some("Task") => state.get("Resource").and_then(Value::as_str).is_some_and(|r| r.ends_with(".waitForTaskToken")),
        _ => false,
    };
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, state) in states {
        if waits(state) {
            continue;
        }
        let mut targets: Vec<&str> = Vec::new();
        targets.extend(["Next", "Default"].iter().filter_map(|k| state.get(*k).and_then(Value::as_str)));
        for list in ["Choices", "Catch"] {
            if let Some(items) = state.get(list).and_then(Value::as_array) {
                targets.extend(items.iter().filter_map(|i| i.get("Next").and_then(Value::as_str)));
            }
        }
        edges.insert(name.as_str(), targets);
    }
    // Depth-first search for a back edge among the states that do not wait.
    let mut finished: BTreeSet<&str> = BTreeSet::new();
    for start in edges.keys() {
        let mut on_path: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((node, index)) = stack.pop() {
            if index == 0 {
                if finished.contains(node) {
                    continue;
                }
                on_path.insert(node);
            }
            let targets = edges.get(node).map(Vec::as_slice).unwrap_or(&[]);
            match targets.get(index) {
                Some(target) => {
                    stack.push((node, index + 1));
                    if on_path.contains(target) {
                        return true;
                    }
                    if edges.contains_key(target) && !finished.contains(target) {
                        stack.push((target, 0));
                    }
                }
                None => {
                    on_path.remove(node);
                    finished.insert(node);
                }
            }
        }
    }
    false
}

/// Substitution: a text it accepts has no placeholder left and has not grown past Step Functions'
/// limit for a definition (1,048,576 bytes); the result is loaded and run like any definition.
/// (`Definition::load_with_substitutions` is exactly `substitute` and then `Definition::load`, so
/// it is not called a second time: substituting near the limit is the slow part of this target.)
fn substitutions(pieces: &[String]) {
    let Some((text, pairs)) = pieces.split_first() else { return };
    let map: BTreeMap<String, String> =
        pairs.chunks(2).map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default())).collect();
    let Ok(out) = substitute(text, &map) else { return };
    assert!(placeholders(&out).is_empty(), "placeholders left in {out:?}");
    assert!(out.len() <= text.len().max(1_048_576), "substitution grew the text to {} bytes", out.len());
    load_and_run(&out, "{}", b"");
}
