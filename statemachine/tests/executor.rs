//! Executor behaviour: task-token callbacks, heartbeats and timeouts, retries, restart and resume,
//! idempotent starts, stopping, concurrency, history and the context object.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Harness, ScriptedInvoker, executor_on, machine_arn, no_tasks, t0};
use serde_json::{Value, json};
use statemachine::{
    Definition, ExecutionStatus, ExecutionStore, Executor, ExecutorError, HistoryEventType, InMemoryStore, ManualClock,
    StateMachineArn, SystemClock, TaskFailure, TaskInvoker, TaskOutcome, TaskRequest, WaitingFor,
};
use tokio::sync::{Barrier, Notify, mpsc};

const SQS_TOKEN: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";

fn approval_machine(task_extra: Value) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": SQS_TOKEN,
        "Parameters": {"QueueUrl": "approvals", "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
        "ResultPath": "$.approval",
        "Next": "Done"
    });
    let mentioned = task_extra.to_string();
    task.as_object_mut().unwrap().extend(task_extra.as_object().unwrap().clone());
    let mut definition = json!({"StartAt": "Ask", "States": {"Ask": task, "Done": {"Type": "Succeed"}}});
    // Only states something transitions to: unreachable states are refused at load.
    for extra in ["Rejected", "Late"] {
        if mentioned.contains(&format!("\"{extra}\"")) {
            definition["States"][extra] = json!({"Type": "Pass", "End": true});
        }
    }
    definition
}

fn awaiting(_: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    Ok(TaskOutcome::AwaitingCallback)
}

fn types(events: &[statemachine::HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test]
async fn given_a_wait_for_task_token_task_when_the_callback_succeeds_then_the_execution_continues_with_its_output() {
    // Given a task that hands its token on and waits
    let h = Harness::new(approval_machine(json!({})), awaiting);
    let waiting = h.run("order-1", json!({"order": "o-1"})).await;
    // Then the token reached the invoker both in the request and through $$.Task.Token
    let request = &h.invoker.requests()[0];
    let token = request.task_token.clone().unwrap();
    assert_eq!(request.parameters, json!({"QueueUrl": "approvals", "MessageBody": {"token": token, "order": "o-1"}}));
    assert_eq!((waiting.status, waiting.task_token.as_deref()), (ExecutionStatus::Running, Some(token.as_str())));
    assert!(types(&h.history("order-1").await).ends_with(&["TaskScheduled", "TaskStarted", "TaskSubmitted"]));
    // When the application calls back
    h.executor.send_task_success(&token, json!({"approved": true})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    // Then
    let done = h.describe("order-1").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"order": "o-1", "approval": {"approved": true}})));
    // And a repeated or stale callback is recognisable, a made-up token is invalid
    assert!(matches!(h.executor.send_task_success(&token, json!(1)).await, Err(ExecutorError::TaskTimedOut)));
    assert!(matches!(h.executor.send_task_heartbeat(&token).await, Err(ExecutorError::TaskTimedOut)));
    assert!(matches!(h.executor.send_task_failure(&token, "E", "c").await, Err(ExecutorError::TaskTimedOut)));
    assert!(matches!(h.executor.send_task_success("made-up", json!(1)).await, Err(ExecutorError::InvalidToken)));
    let unknown = format!("smtt1-{}", "a".repeat(64));
    assert!(matches!(h.executor.send_task_success(&unknown, json!(1)).await, Err(ExecutorError::TaskTimedOut)));
}

#[tokio::test]
async fn given_a_wait_for_task_token_task_when_the_callback_fails_then_catch_routes_with_the_error_output() {
    let h = Harness::new(
        approval_machine(json!({"Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.why", "Next": "Rejected"}]})),
        awaiting,
    );
    h.run("order-2", json!({"order": "o-2"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    h.executor.send_task_failure(&token, "Rejected", "customer said no").await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    let done = h.describe("order-2").await;
    assert_eq!(done.output, Some(json!({"order": "o-2", "why": {"Error": "Rejected", "Cause": "customer said no"}})));
    let history = h.history("order-2").await;
    let failed = history.iter().find(|e| e.event_type == HistoryEventType::TaskFailed).unwrap();
    assert_eq!(
        (failed.details.error.as_deref(), failed.details.cause.as_deref()),
        (Some("Rejected"), Some("customer said no"))
    );
}

#[tokio::test]
async fn given_heartbeat_seconds_when_heartbeats_stop_then_states_heartbeat_timeout_is_caught() {
    // Given HeartbeatSeconds 10 and a Catcher for the heartbeat timeout
    let h = Harness::new(
        approval_machine(json!({"TimeoutSeconds": 100, "HeartbeatSeconds": 10,
            "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Late"}]})),
        awaiting,
    );
    h.run("hb", json!({"order": "o-3"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    // When heartbeats arrive within 10 s of each other, the task keeps waiting
    h.advance(9.0).await;
    h.executor.send_task_heartbeat(&token).await.unwrap();
    h.advance(9.0).await;
    h.executor.send_task_heartbeat(&token).await.unwrap();
    h.advance(9.9).await;
    assert_eq!(h.describe("hb").await.status, ExecutionStatus::Running);
    // When 10 s pass without one
    h.advance(0.1).await;
    // Then the Catcher routes to Late with the error output
    let done = h.describe("hb").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output.unwrap()["error"]["Error"], json!("States.HeartbeatTimeout"));
    assert!(types(&h.history("hb").await).contains(&"TaskTimedOut"));
    assert!(matches!(h.executor.send_task_success(&token, json!(1)).await, Err(ExecutorError::TaskTimedOut)));
}

#[tokio::test]
async fn given_a_deadline_that_passed_unnoticed_when_a_callback_arrives_then_the_timeout_wins() {
    // Given a heartbeat deadline that has passed, though nothing has processed it yet
    let h = Harness::new(
        approval_machine(
            json!({"HeartbeatSeconds": 10, "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]}),
        ),
        awaiting,
    );
    h.run("too-late", json!({"order": "o"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    h.clock.advance(Duration::from_secs(10));
    // When the callback arrives
    let answer = h.executor.send_task_success(&token, json!("yes")).await;
    // Then it is too late, and the timeout is what happened
    assert!(matches!(answer, Err(ExecutorError::TaskTimedOut)), "{answer:?}");
    h.executor.run_until_idle().await.unwrap();
    assert_eq!(h.describe("too-late").await.output.unwrap()["Error"], json!("States.HeartbeatTimeout"));
}

#[tokio::test]
async fn given_timeout_seconds_when_the_callback_never_comes_then_the_task_times_out_despite_heartbeats() {
    let h = Harness::new(approval_machine(json!({"TimeoutSeconds": 30, "HeartbeatSeconds": 10})), awaiting);
    h.run("slow", json!({"order": "o-4"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    for _ in 0..3 {
        h.advance(9.0).await;
        h.executor.send_task_heartbeat(&token).await.unwrap();
    }
    assert_eq!(h.describe("slow").await.status, ExecutionStatus::Running);
    h.advance(3.0).await;
    let done = h.describe("slow").await;
    assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::Failed, Some("States.Timeout")));
    let history = h.history("slow").await;
    let timed_out = history.iter().find(|e| e.event_type == HistoryEventType::TaskTimedOut).unwrap();
    assert_eq!(timed_out.timestamp, t0() + chrono::TimeDelta::seconds(30));
}

#[tokio::test]
async fn given_a_catcher_for_states_timeout_when_the_heartbeat_times_out_then_it_catches_too() {
    let h = Harness::new(
        approval_machine(
            json!({"HeartbeatSeconds": 5, "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]}),
        ),
        awaiting,
    );
    h.run("hb-timeout", json!({"order": "o"})).await;
    h.advance(5.0).await;
    assert_eq!(h.describe("hb-timeout").await.output.unwrap()["Error"], json!("States.HeartbeatTimeout"));
}

#[tokio::test]
async fn given_states_task_failed_and_all_catchers_when_failures_and_timeouts_occur_then_task_failed_skips_timeouts() {
    let definition = approval_machine(json!({"TimeoutSeconds": 5, "Catch": [
        {"ErrorEquals": ["States.TaskFailed"], "Next": "Rejected"},
        {"ErrorEquals": ["States.ALL"], "Next": "Late"}]}));
    let h = Harness::new(definition.clone(), awaiting);
    h.run("timeout", json!({"order": "o"})).await;
    h.advance(5.0).await;
    let names: Vec<_> = h.history("timeout").await.into_iter().filter_map(|e| e.details.name).collect();
    assert!(names.contains(&"Late".to_owned()) && !names.contains(&"Rejected".to_owned()), "{names:?}");
    let h = Harness::new(definition, |_| Err(TaskFailure::new("Queue.Full", "no room")));
    h.run("failure", json!({"order": "o"})).await;
    let names: Vec<_> = h.history("failure").await.into_iter().filter_map(|e| e.details.name).collect();
    assert!(names.contains(&"Rejected".to_owned()), "{names:?}");
}

/// An invoker whose invocations hang until released, announcing each one.
struct HangingInvoker {
    started: mpsc::UnboundedSender<TaskRequest>,
    release: Arc<Notify>,
    result: Value,
}

#[async_trait::async_trait]
impl TaskInvoker for HangingInvoker {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        self.started.send(request).unwrap();
        self.release.notified().await;
        Ok(TaskOutcome::Completed(self.result.clone()))
    }
}

#[tokio::test]
async fn given_a_plain_task_with_timeout_seconds_when_the_invocation_hangs_then_states_timeout_and_the_late_result_is_ignored()
 {
    // Given a task whose invocation does not return
    let (started, mut invocations) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let invoker = Arc::new(HangingInvoker { started, release: release.clone(), result: json!("late") });
    let clock = Arc::new(ManualClock::new(t0()));
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 5, "End": true}}});
    let executor = executor_on(&definition, invoker, Arc::new(InMemoryStore::new()), clock.clone());
    let arn = executor.start_execution("hang", json!({})).await.unwrap().execution_arn;
    invocations.recv().await.unwrap();
    // When its TimeoutSeconds pass
    clock.advance(Duration::from_secs(5));
    assert_eq!(executor.tick().await.unwrap(), 1);
    let done = tokio::time::timeout(Duration::from_secs(5), executor.wait_for_execution(&arn)).await.unwrap().unwrap();
    // Then the state fails with States.Timeout
    assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::Failed, Some("States.Timeout")));
    // And when the invocation finally returns, its result changes nothing
    release.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let history = executor.get_execution_history(&arn).await.unwrap();
    assert_eq!(types(&history).last(), Some(&"ExecutionFailed"));
    assert!(!types(&history).contains(&"TaskSucceeded"));
}

#[tokio::test]
async fn given_a_retrier_with_backoff_when_the_task_fails_twice_then_it_retries_after_2_and_6_seconds_counting_retries()
{
    // Given a task failing twice, whose Parameters show $$.State.RetryCount
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "reserve", "Parameters": {"attempt.$": "$$.State.RetryCount"},
            "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}],
            "End": true}}}),
        move |r| match counter.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err(TaskFailure::new("DynamoDB.ProvisionedThroughputExceededException", "slow down")),
            _ => Ok(TaskOutcome::Completed(r.parameters.clone())),
        },
    );
    // When
    h.run("retry", json!({})).await;
    for _ in 0..10 {
        h.advance(1.0).await;
    }
    // Then
    let attempts: Vec<Value> = h.invoker.requests().iter().map(|r| r.parameters["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(0), json!(1), json!(2)]);
    let scheduled: Vec<i64> = h
        .history("retry")
        .await
        .iter()
        .filter(|e| e.event_type == HistoryEventType::TaskScheduled)
        .map(|e| (e.timestamp - t0()).num_seconds())
        .collect();
    assert_eq!(scheduled, [0, 2, 8]);
    assert_eq!(h.describe("retry").await.output, Some(json!({"attempt": 2})));
}

#[tokio::test]
async fn given_full_jitter_when_retrying_then_each_delay_is_random_within_the_interval() {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 1, "JitterStrategy": "FULL"}]}}}),
        |_| Err(TaskFailure::new("E", "e")),
    );
    let mut delays = Vec::new();
    for i in 0..20 {
        let name = format!("jitter-{i}");
        h.run(&name, json!({})).await;
        let record = h.store.load_execution(&h.executor.execution_arn(&name)).await.unwrap().unwrap();
        // A delay drawn as 0 is no wait at all: the retry has run, and failed, already.
        let delay = match record.current.map(|current| current.waiting_for) {
            Some(WaitingFor::RetryInterval { until }) => (until - t0()).num_milliseconds(),
            None if record.status == ExecutionStatus::Failed => 0,
            other => panic!("not retrying: {other:?}"),
        };
        delays.push(delay);
    }
    assert!(delays.iter().all(|d| (0..=10_000).contains(d)), "{delays:?}");
    assert!(delays.iter().any(|d| *d != 10_000), "{delays:?}");
}

async fn restart(h: &Harness, definition: &Value, invoker: Arc<dyn TaskInvoker>) -> Executor {
    // The old executor is gone; a new one on the same store picks the executions up.
    let executor = executor_on(definition, invoker, h.store.clone(), h.clock.clone());
    assert_eq!(executor.resume_running().await.unwrap(), 1);
    executor
}

#[tokio::test]
async fn given_an_execution_in_a_wait_when_the_process_restarts_then_the_new_executor_finishes_it_on_time() {
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "Next": "P"},
        "P": {"Type": "Pass", "Result": "after", "End": true}}});
    let h = Harness::new(definition.clone(), no_tasks);
    h.run("wait", json!({})).await;
    h.clock.advance(Duration::from_secs(30));
    let executor = restart(&h, &definition, ScriptedInvoker::new(no_tasks)).await;
    executor.run_until_idle().await.unwrap();
    assert_eq!(
        executor.describe_execution(&executor.execution_arn("wait")).await.unwrap().status,
        ExecutionStatus::Running
    );
    h.clock.advance(Duration::from_secs(30));
    executor.run_until_idle().await.unwrap();
    let done = executor.describe_execution(&executor.execution_arn("wait")).await.unwrap();
    assert_eq!((done.status, done.output), (ExecutionStatus::Succeeded, Some(json!("after"))));
    let history = executor.get_execution_history(&executor.execution_arn("wait")).await.unwrap();
    assert_eq!(history.iter().map(|e| e.id).collect::<Vec<_>>(), (1..=history.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        types(&history),
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn given_an_execution_in_a_retry_interval_when_the_process_restarts_then_the_retry_happens_at_its_time() {
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "charge", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30}]}}});
    let h = Harness::new(definition.clone(), |_| Err(TaskFailure::new("Payments.Unavailable", "down")));
    h.run("charge", json!({"amount": 5})).await;
    let second = ScriptedInvoker::new(|r| {
        Ok(TaskOutcome::Completed(json!({"charged": r.parameters["amount"], "retries": r.retry_count})))
    });
    let executor = restart(&h, &definition, second.clone()).await;
    h.clock.advance(Duration::from_secs(29));
    executor.run_until_idle().await.unwrap();
    assert!(second.requests().is_empty());
    h.clock.advance(Duration::from_secs(1));
    executor.run_until_idle().await.unwrap();
    let done = executor.describe_execution(&executor.execution_arn("charge")).await.unwrap();
    assert_eq!(done.output, Some(json!({"charged": 5, "retries": 1})));
}

#[tokio::test]
async fn given_an_execution_awaiting_a_callback_when_the_process_restarts_then_the_token_still_works() {
    let definition = approval_machine(json!({"HeartbeatSeconds": 60}));
    let h = Harness::new(definition.clone(), awaiting);
    h.run("approve", json!({"order": "o-5"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    let second = ScriptedInvoker::new(no_tasks);
    let executor = restart(&h, &definition, second.clone()).await;
    executor.run_until_idle().await.unwrap();
    assert!(second.requests().is_empty(), "a task whose invocation returned is not invoked again");
    executor.send_task_success(&token, json!("yes")).await.unwrap();
    executor.run_until_idle().await.unwrap();
    let done = executor.describe_execution(&executor.execution_arn("approve")).await.unwrap();
    assert_eq!(done.output, Some(json!({"order": "o-5", "approval": "yes"})));
}

#[tokio::test]
async fn given_a_heartbeat_deadline_when_the_process_restarts_then_the_deadline_still_applies() {
    let definition = approval_machine(
        json!({"HeartbeatSeconds": 60, "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]}),
    );
    let h = Harness::new(definition.clone(), awaiting);
    h.run("deadline", json!({"order": "o"})).await;
    h.clock.advance(Duration::from_secs(59));
    let executor = restart(&h, &definition, ScriptedInvoker::new(no_tasks)).await;
    executor.run_until_idle().await.unwrap();
    h.clock.advance(Duration::from_secs(1));
    executor.run_until_idle().await.unwrap();
    let done = executor.describe_execution(&executor.execution_arn("deadline")).await.unwrap();
    assert_eq!(done.output.unwrap()["Error"], json!("States.HeartbeatTimeout"));
}

#[tokio::test]
async fn given_an_invocation_under_way_when_the_process_restarts_then_the_task_is_invoked_again() {
    // Given an executor whose invocation never returns (the process "dies" during it)
    let (started, mut invocations) = mpsc::unbounded_channel();
    let hanging = Arc::new(HangingInvoker { started, release: Arc::new(Notify::new()), result: json!(null) });
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(InMemoryStore::new());
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "ship", "End": true}}});
    let first = executor_on(&definition, hanging, store.clone(), clock.clone());
    let arn = first.start_execution("ship-1", json!({"parcel": 7})).await.unwrap().execution_arn;
    invocations.recv().await.unwrap();
    drop(first);
    // When a new executor resumes
    let invoker = ScriptedInvoker::new(|r| Ok(TaskOutcome::Completed(json!({"shipped": r.parameters["parcel"]}))));
    let second = executor_on(&definition, invoker.clone(), store, clock);
    assert_eq!(second.resume_running().await.unwrap(), 1);
    second.run_until_idle().await.unwrap();
    // Then the task ran again and the execution finished
    assert_eq!(invoker.requests().len(), 1);
    assert_eq!(invoker.requests()[0].state_name, "T");
    assert_eq!(second.describe_execution(&arn).await.unwrap().output, Some(json!({"shipped": 7})));
}

#[tokio::test]
async fn given_another_process_changed_the_execution_during_a_task_when_the_task_returns_then_its_change_stands() {
    // Given an execution whose task is under way in this executor
    let (started, mut invocations) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let invoker = Arc::new(HangingInvoker { started, release: release.clone(), result: json!({"shipped": true}) });
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(InMemoryStore::new());
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "ship", "Next": "U"},
        "U": {"Type": "Task", "Resource": "ship", "End": true}}});
    let executor = executor_on(&definition, invoker, store.clone(), clock.clone());
    let arn = executor.start_execution("ship-1", json!({})).await.unwrap().execution_arn;
    invocations.recv().await.unwrap();
    // When another process on the same store stops it, and then the task returns
    let operator = executor_on(&definition, ScriptedInvoker::new(|_| panic!("no task here")), store, clock);
    operator.stop_execution(&arn, Some("Operator"), Some("stopped by hand")).await.unwrap();
    release.notify_one();
    // Then the stop stands (the task's result, applied to the record this executor held, is not
    // saved over it), nothing more is invoked, and the executor reports no error
    executor.run_until_idle().await.unwrap();
    let description = executor.describe_execution(&arn).await.unwrap();
    assert_eq!(description.status, ExecutionStatus::Aborted);
    assert!(invocations.try_recv().is_err(), "the next task was not invoked");
    let history = executor.get_execution_history(&arn).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.event_type.to_string()).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("ExecutionAborted"), "{kinds:?}");
}

#[tokio::test]
async fn given_an_execution_name_when_started_again_then_it_is_idempotent_only_while_running_with_equal_input() {
    let h = Harness::new(approval_machine(json!({})), awaiting);
    let first = h.executor.start_execution("order-9", json!({"order": "o-9"})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    // Same name, same input, still running: the same execution
    let again = h.executor.start_execution("order-9", json!({"order": "o-9"})).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(h.executor.list_executions(None).await.unwrap().len(), 1);
    assert_eq!(h.invoker.requests().len(), 1);
    // Different input: refused
    let different = h.executor.start_execution("order-9", json!({"order": "other"})).await.unwrap_err();
    assert!(
        matches!(
            different,
            ExecutorError::ExecutionAlreadyExists { same_input: false, status: ExecutionStatus::Running, .. }
        ),
        "{different}"
    );
    // Once ended, even the same input is refused (as Step Functions does)
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    h.executor.send_task_success(&token, json!(true)).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    let ended = h.executor.start_execution("order-9", json!({"order": "o-9"})).await.unwrap_err();
    assert!(
        matches!(
            ended,
            ExecutorError::ExecutionAlreadyExists { same_input: true, status: ExecutionStatus::Succeeded, .. }
        ),
        "{ended}"
    );
    assert!(matches!(h.executor.start_execution("bad name", json!({})).await, Err(ExecutorError::InvalidName { .. })));
}

#[tokio::test]
async fn given_a_running_execution_when_stopped_then_it_is_aborted_and_its_token_and_timers_are_dead() {
    let definition = json!({"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": SQS_TOKEN, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 5, "End": true}}});
    let h = Harness::new(definition, awaiting);
    h.run("stop-me", json!({})).await;
    let arn = h.executor.execution_arn("stop-me");
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    // When
    let stopped_at = h.executor.stop_execution(&arn, Some("Cancelled"), Some("customer cancelled")).await.unwrap();
    // Then
    let done = h.describe("stop-me").await;
    assert_eq!(
        (done.status, done.error.as_deref(), done.cause.as_deref()),
        (ExecutionStatus::Aborted, Some("Cancelled"), Some("customer cancelled"))
    );
    assert_eq!(done.stop_date, Some(stopped_at));
    assert_eq!(types(&h.history("stop-me").await).last(), Some(&"ExecutionAborted"));
    assert!(matches!(h.executor.send_task_success(&token, json!(1)).await, Err(ExecutorError::TaskTimedOut)));
    h.advance(10.0).await;
    assert_eq!(h.describe("stop-me").await.status, ExecutionStatus::Aborted);
    // Stopping again changes nothing; unknown and malformed ARNs are errors
    h.executor.stop_execution(&arn, None, None).await.unwrap();
    assert_eq!(
        h.history("stop-me").await.iter().filter(|e| e.event_type == HistoryEventType::ExecutionAborted).count(),
        1
    );
    assert!(matches!(
        h.executor.stop_execution(&h.executor.execution_arn("nope"), None, None).await,
        Err(ExecutorError::ExecutionDoesNotExist(_))
    ));
    assert!(matches!(h.executor.describe_execution("not-an-arn").await, Err(ExecutorError::InvalidArn(_))));
}

#[tokio::test]
async fn given_top_level_timeout_seconds_when_the_execution_runs_longer_then_it_is_timed_out() {
    let h = Harness::new(
        json!({"TimeoutSeconds": 60, "StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": SQS_TOKEN, "End": true}}}),
        awaiting,
    );
    h.run("too-long", json!({})).await;
    h.advance(59.0).await;
    assert_eq!(h.describe("too-long").await.status, ExecutionStatus::Running);
    h.advance(1.0).await;
    let done = h.describe("too-long").await;
    assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::TimedOut, Some("States.Timeout")));
    assert_eq!(types(&h.history("too-long").await).last(), Some(&"ExecutionTimedOut"));
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    assert!(matches!(h.executor.send_task_success(&token, json!(1)).await, Err(ExecutorError::TaskTimedOut)));
}

/// An invoker that only returns once `parties` invocations are under way at the same time.
struct BarrierInvoker(Barrier);

#[async_trait::async_trait]
impl TaskInvoker for BarrierInvoker {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        self.0.wait().await;
        Ok(TaskOutcome::Completed(request.parameters))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_many_executions_when_started_then_their_tasks_run_at_the_same_time() {
    // Given an invoker that blocks until 25 invocations are in progress together
    let executions = 25;
    let invoker = Arc::new(BarrierInvoker(Barrier::new(executions)));
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}});
    let executor = executor_on(&definition, invoker, Arc::new(InMemoryStore::new()), Arc::new(ManualClock::new(t0())));
    // When they are all started
    for i in 0..executions {
        executor.start_execution(&format!("c-{i}"), json!({"i": i})).await.unwrap();
    }
    // Then they all complete (one-at-a-time execution would never get past the barrier)
    tokio::time::timeout(Duration::from_secs(10), executor.run_until_idle())
        .await
        .expect("executions did not run concurrently")
        .unwrap();
    let done = executor.list_executions(Some(ExecutionStatus::Succeeded)).await.unwrap();
    assert_eq!(done.len(), executions);
    assert!(done.iter().all(|d| d.output == Some(d.input.clone())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_racing_callbacks_on_one_token_when_they_arrive_together_then_exactly_one_wins() {
    let h = Harness::new(approval_machine(json!({})), awaiting);
    h.run("race", json!({"order": "o-7"})).await;
    let token = h.invoker.requests()[0].task_token.clone().unwrap();
    let mut calls = Vec::new();
    for i in 0..16 {
        let executor = h.executor.clone();
        let token = token.clone();
        calls.push(tokio::spawn(async move {
            if i % 4 == 3 {
                executor.send_task_failure(&token, "Lost", "race").await.map(|()| "failure")
            } else {
                executor.send_task_success(&token, json!(i)).await.map(|()| "success")
            }
        }));
    }
    let mut winners = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(kind) => winners.push(kind),
            Err(ExecutorError::TaskTimedOut) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    h.executor.run_until_idle().await.unwrap();
    let history = h.history("race").await;
    let outcomes = history
        .iter()
        .filter(|e| matches!(e.event_type, HistoryEventType::TaskSucceeded | HistoryEventType::TaskFailed))
        .count();
    assert_eq!(outcomes, 1);
    let ends = history.iter().filter(|e| e.event_type.as_str().starts_with("Execution") && e.id > 1).count();
    assert_eq!(ends, 1);
}

#[tokio::test]
async fn given_a_task_machine_when_it_succeeds_then_the_history_has_the_step_functions_shape() {
    let h = Harness::new(
        json!({"StartAt": "Reserve", "States": {"Reserve": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:reserve",
            "TimeoutSeconds": 20, "End": true}}}),
        |_| Ok(TaskOutcome::Completed(json!({"reserved": true}))),
    );
    h.run("shape", json!({"sku": "A"})).await;
    let history = h.history("shape").await;
    assert_eq!(
        types(&history),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, event) in history.iter().enumerate() {
        assert_eq!((event.id, event.previous_event_id), (i as u64 + 1, i as u64));
        assert_eq!(event.timestamp, t0());
    }
    assert_eq!(history[0].details.input.as_deref(), Some(&json!({"sku": "A"})));
    assert_eq!(history[1].details.name.as_deref(), Some("Reserve"));
    assert_eq!(history[2].details.resource.as_deref(), Some("arn:aws:lambda:us-east-1:1:function:reserve"));
    assert_eq!(history[2].details.parameters.as_deref(), Some(&json!({"sku": "A"})));
    assert_eq!(history[2].details.timeout_in_seconds, Some(20));
    assert_eq!(history[4].details.output.as_deref(), Some(&json!({"reserved": true})));
    assert_eq!(history[6].details.output.as_deref(), Some(&json!({"reserved": true})));
    let serialised = serde_json::to_value(&history[2]).unwrap();
    assert_eq!(serialised["type"], json!("TaskScheduled"));
    assert_eq!(serialised["previousEventId"], json!(2));
    assert_eq!(serialised["details"]["timeoutInSeconds"], json!(20));
}

#[tokio::test]
async fn given_context_paths_when_a_state_reads_them_then_they_describe_the_execution_and_state() {
    let h = Harness::new(
        json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 3, "Next": "P"},
            "P": {"Type": "Pass", "End": true, "Parameters": {
                "id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "start.$": "$$.Execution.StartTime",
                "input.$": "$$.Execution.Input", "inputField.$": "$$.Execution.Input.order",
                "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime", "redrives.$": "$$.Execution.RedriveCount",
                "machine.$": "$$.StateMachine.Id", "machineName.$": "$$.StateMachine.Name"}}}}),
        no_tasks,
    );
    h.run("ctx-1", json!({"order": "o-1"})).await;
    h.advance(3.0).await;
    assert_eq!(
        h.describe("ctx-1").await.output,
        Some(json!({
            "id": "arn:aws:states:us-east-1:123456789012:execution:test-machine:ctx-1",
            "name": "ctx-1",
            "start": "2024-01-01T00:00:00.000Z",
            "input": {"order": "o-1"},
            "inputField": "o-1",
            "state": "P",
            "entered": "2024-01-01T00:00:03.000Z",
            "redrives": 0,
            "machine": "arn:aws:states:us-east-1:123456789012:stateMachine:test-machine",
            "machineName": "test-machine"
        }))
    );
}

#[tokio::test]
async fn given_an_invoker_breaking_its_contract_when_it_asks_for_a_callback_on_a_plain_task_then_the_execution_fails_uncatchably()
 {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "plain", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}]}, "C": {"Type": "Succeed"}}}),
        awaiting,
    );
    let done = h.run("contract", json!({})).await;
    assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::Failed, Some("States.Runtime")));
    assert!(done.cause.unwrap().contains("waitForTaskToken"));
}

#[tokio::test]
async fn given_a_panicking_invoker_when_the_task_runs_then_the_state_fails_and_catch_applies() {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "boom", "End": true,
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "C"}]}, "C": {"Type": "Pass", "End": true}}}),
        |_| panic!("invoker bug"),
    );
    let done = h.run("panic", json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output.unwrap()["Error"], json!("States.TaskFailed"));
}

/// A store that fails its first `fail_saves` saves, and counts the saves that succeed.
struct FlakyStore {
    inner: InMemoryStore,
    fail_saves: AtomicUsize,
    saves: AtomicUsize,
}

impl FlakyStore {
    fn failing(fail_saves: usize) -> Self {
        FlakyStore { inner: InMemoryStore::new(), fail_saves: AtomicUsize::new(fail_saves), saves: AtomicUsize::new(0) }
    }
}

#[async_trait::async_trait]
impl ExecutionStore for FlakyStore {
    async fn create_execution(
        &self,
        record: &statemachine::ExecutionRecord,
        events: &[statemachine::HistoryEvent],
    ) -> Result<statemachine::CreateOutcome, statemachine::StoreError> {
        self.inner.create_execution(record, events).await
    }
    async fn load_execution(
        &self,
        arn: &str,
    ) -> Result<Option<statemachine::ExecutionRecord>, statemachine::StoreError> {
        self.inner.load_execution(arn).await
    }
    async fn save_execution(
        &self,
        record: &statemachine::ExecutionRecord,
        expected_version: u64,
        events: &[statemachine::HistoryEvent],
    ) -> Result<(), statemachine::StoreError> {
        if self.fail_saves.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(statemachine::StoreError::backend("database is locked"));
        }
        self.inner.save_execution(record, expected_version, events).await?;
        self.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn load_history(&self, arn: &str) -> Result<Vec<statemachine::HistoryEvent>, statemachine::StoreError> {
        self.inner.load_history(arn).await
    }
    async fn list_executions(
        &self,
        machine: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<statemachine::ExecutionRecord>, statemachine::StoreError> {
        self.inner.list_executions(machine, status).await
    }
    async fn find_by_task_token(&self, token: &str) -> Result<Option<String>, statemachine::StoreError> {
        self.inner.find_by_task_token(token).await
    }
}

#[tokio::test]
async fn given_a_store_failure_when_advancing_then_the_error_is_reported_and_the_step_is_retried_later() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(FlakyStore::failing(1));
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "work", "Next": "P"},
        "P": {"Type": "Pass", "Result": 1, "End": true}}});
    let invoker = ScriptedInvoker::new(|_| Ok(TaskOutcome::Completed(json!({}))));
    let executor = executor_on(&definition, invoker.clone(), store, clock.clone());
    let arn = executor.start_execution("flaky", json!({})).await.unwrap().execution_arn;
    // The task's result cannot be saved: the step is not durable, and the execution stays running
    let error = executor.run_until_idle().await.unwrap_err();
    assert!(matches!(error, ExecutorError::Store(_)), "{error}");
    assert_eq!(executor.describe_execution(&arn).await.unwrap().status, ExecutionStatus::Running);
    // Retried later, the step is replayed from the last durable point: the task is invoked again
    clock.advance(Duration::from_secs(1));
    executor.run_until_idle().await.unwrap();
    assert_eq!(executor.describe_execution(&arn).await.unwrap().output, Some(json!(1)));
    assert_eq!(invoker.requests().len(), 2);
}

#[tokio::test]
async fn given_a_start_through_pass_states_to_a_task_then_one_write_holds_it_all_before_the_task_runs() {
    // Given a workflow that passes two states before its task
    let store = Arc::new(FlakyStore::failing(0));
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "T"},
        "T": {"Type": "Task", "Resource": "work", "End": true}}});
    let saves_when_invoked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, counted) = (saves_when_invoked.clone(), store.clone());
    let invoker = ScriptedInvoker::new(move |_| {
        seen.lock().unwrap().push(counted.saves.load(Ordering::SeqCst));
        Ok(TaskOutcome::Completed(json!("done")))
    });
    let clock = Arc::new(ManualClock::new(t0()));
    let executor = executor_on(&definition, invoker, store.clone(), clock);
    // When it starts and runs
    let arn = executor.start_execution("one-write", json!({})).await.unwrap().execution_arn;
    let started = store.inner.load_history(&arn).await.unwrap();
    executor.run_until_idle().await.unwrap();
    // Then the start's one write held everything up to the task, which ran before any other write
    let types = |events: &[statemachine::HistoryEvent]| -> Vec<String> {
        events.iter().map(|e| e.event_type.as_str().to_owned()).collect()
    };
    assert_eq!(
        types(&started),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted"
        ]
    );
    assert_eq!(*saves_when_invoked.lock().unwrap(), [0]);
    // And the task's result and the end were the one write after it
    assert_eq!(store.saves.load(Ordering::SeqCst), 1);
    assert_eq!(executor.describe_execution(&arn).await.unwrap().output, Some(json!("done")));
}

#[tokio::test]
async fn given_the_background_driver_and_the_system_clock_when_a_wait_passes_then_the_execution_finishes_by_itself() {
    let definition =
        Definition::from_json(&json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}))
            .unwrap();
    let executor =
        Executor::builder(definition, machine_arn(), ScriptedInvoker::new(no_tasks), Arc::new(InMemoryStore::new()))
            .clock(Arc::new(SystemClock))
            .build();
    let driver = executor.spawn_driver();
    let arn = executor.start_execution("real-time", json!({"x": 1})).await.unwrap().execution_arn;
    let done = tokio::time::timeout(Duration::from_secs(5), executor.wait_for_execution(&arn)).await.unwrap().unwrap();
    assert_eq!((done.status, done.output), (ExecutionStatus::Succeeded, Some(json!({"x": 1}))));
    let elapsed = done.stop_date.unwrap() - done.start_date;
    assert!(elapsed >= chrono::TimeDelta::seconds(1), "{elapsed}");
    driver.shutdown().await;
}

#[tokio::test]
async fn given_an_execution_of_another_state_machine_when_its_token_is_used_here_then_it_is_refused() {
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::new(t0()));
    let definition = approval_machine(json!({}));
    let first = executor_on(&definition, ScriptedInvoker::new(awaiting), store.clone(), clock.clone());
    let arn = first.start_execution("mine", json!({"order": "o"})).await.unwrap().execution_arn;
    first.run_until_idle().await.unwrap();
    let token = first.describe_execution(&arn).await.unwrap().task_token.unwrap();
    let other_arn = StateMachineArn::new("us-east-1", "123456789012", "other-machine").unwrap();
    let other = Executor::builder(common::load(&definition), other_arn, ScriptedInvoker::new(awaiting), store)
        .clock(clock)
        .build();
    assert!(matches!(other.send_task_success(&token, json!(1)).await, Err(ExecutorError::WrongStateMachine { .. })));
    assert!(matches!(other.stop_execution(&arn, None, None).await, Err(ExecutorError::WrongStateMachine { .. })));
    assert_eq!(other.resume_running().await.unwrap(), 0);
}

#[test]
fn given_the_executor_type_then_it_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Executor>();
}

/// Prepares `name`, invokes its first task in the caller's own "write" (here: noting the request),
/// records the outcome, stores the execution and runs it, as the embedded workflow's start does.
async fn start_with_invocation(h: &Harness, name: &str, input: Value) -> (TaskRequest, bool) {
    let mut prepared = h.executor.prepare_start(name, input).unwrap();
    let request = prepared.task_to_invoke().cloned().unwrap();
    let applied = h.executor.invoked_with_start(&mut prepared, Ok(TaskOutcome::AwaitingCallback));
    h.store.create_execution(&prepared.record, &prepared.events).await.unwrap();
    h.executor.run_stored(prepared);
    h.executor.run_until_idle().await.unwrap();
    (request, applied)
}

#[tokio::test]
async fn given_a_first_task_invoked_in_the_start_when_its_callback_comes_then_the_execution_completes_without_the_invoker()
 {
    // Given a start whose first task was invoked by the caller in the start's own write
    let h = Harness::new(approval_machine(json!({})), |_| panic!("the invoker must not be called"));
    let (request, applied) = start_with_invocation(&h, "order-2", json!({"order": "o-2"})).await;
    // Then the stored history already says the task was submitted, and nothing invoked it again
    assert!(applied);
    assert_eq!(
        h.history_types("order-2").await,
        ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted"]
    );
    assert!(h.invoker.requests().is_empty());
    // When the application calls back with the token the caller sent
    let token = request.task_token.unwrap();
    h.executor.send_task_success(&token, json!({"approved": true})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    // Then the execution completes with it
    let done = h.describe("order-2").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"order": "o-2", "approval": {"approved": true}})));
}

#[tokio::test]
async fn given_a_first_task_invoked_in_the_start_when_no_callback_comes_then_its_timeout_still_fires() {
    // Given a task with a timeout, invoked in the start's own write (so no drive ran after it)
    let h = Harness::new(approval_machine(json!({"TimeoutSeconds": 30})), |_| panic!("the invoker must not be called"));
    start_with_invocation(&h, "order-3", json!({"order": "o-3"})).await;
    h.advance(29.0).await;
    assert_eq!(h.describe("order-3").await.status, ExecutionStatus::Running);
    // When its deadline passes
    h.advance(2.0).await;
    // Then the task times out, as one invoked by a drive would
    let done = h.describe("order-3").await;
    assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::Failed, Some("States.Timeout")));
}
