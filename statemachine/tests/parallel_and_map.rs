//! Parallel and Map states: branches and iterations run side by side, with their tasks, waits and
//! callbacks; results gathered in order; a failure failing the state (or tolerated, in a
//! Distributed Map), Retry and Catch on the state as on a Task; history events as Step Functions
//! writes them; and a restart in the middle continuing where the branches were.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Harness, executor_on};
use serde_json::{Value, json};
use statemachine::{ExecutionStatus, HistoryEventType, TaskFailure, TaskOutcome, TaskRequest};

const DOUBLE: &str = "arn:aws:lambda:us-east-1:123456789012:function:double";
const FAIL: &str = "arn:aws:lambda:us-east-1:123456789012:function:fail";
const APPROVE: &str = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";

/// Doubles `n`; fails on resource FAIL; waits for a callback on APPROVE.
fn tasks(request: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    match request.resource.as_str() {
        DOUBLE => {
            let n = request.parameters["n"].as_i64().unwrap_or_default();
            if n < 0 {
                return Err(TaskFailure::new("Negative", format!("{n} is negative")));
            }
            Ok(TaskOutcome::Completed(json!({ "n": n * 2 })))
        }
        FAIL => Err(TaskFailure::new("Broken", "always")),
        _ => Ok(TaskOutcome::AwaitingCallback),
    }
}

fn count(history: &[statemachine::HistoryEvent], event_type: HistoryEventType) -> usize {
    history.iter().filter(|e| e.event_type == event_type).count()
}

/// The task tokens the executor handed to APPROVE tasks so far, in order.
fn tokens(h: &Harness) -> Vec<String> {
    h.invoker.requests().iter().filter_map(|r| r.task_token.clone()).collect()
}

fn map_of(processor_states: Value, extra: Value) -> Value {
    let mut map = json!({"Type": "Map", "ItemsPath": "$.lines",
        "ItemProcessor": {"StartAt": "Line", "States": processor_states}, "End": true});
    map.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "Lines", "States": {"Lines": map}})
}

#[tokio::test]
async fn given_a_parallel_state_when_its_branches_succeed_then_its_output_is_their_outputs_in_branch_order() {
    let h = Harness::new(
        json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Done",
            "Branches": [
                {"StartAt": "Double", "States": {"Double": {"Type": "Task", "Resource": DOUBLE, "End": true}}},
                {"StartAt": "Label", "States": {"Label": {"Type": "Pass", "Parameters": {"label.$": "States.Format('n={}', $.n)"}, "End": true}}}
            ]},
            "Done": {"Type": "Succeed"}}}),
        tasks,
    );
    // When an execution runs with n = 21
    let done = h.run("both", json!({"n": 21})).await;
    // Then each branch saw the same input and the results are in branch order
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.unwrap(), json!({"n": 21, "both": [{"n": 42}, {"label": "n=21"}]}));
    let types = h.history_types("both").await;
    let position = |t: &str| types.iter().position(|x| x == t).unwrap_or_else(|| panic!("no {t} in {types:?}"));
    assert!(position("ParallelStateEntered") < position("ParallelStateStarted"));
    assert!(position("ParallelStateStarted") < position("TaskScheduled"));
    assert!(position("PassStateExited") < position("ParallelStateSucceeded"));
    assert!(position("TaskSucceeded") < position("ParallelStateSucceeded"));
    assert_eq!(
        types[types.len() - 4..],
        ["ParallelStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]
    );
}

#[tokio::test]
async fn given_a_branch_that_fails_when_the_parallel_state_catches_then_the_other_branch_is_stopped_and_its_token_refused()
 {
    let h = Harness::new(
        json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "Next": "Done",
            "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.error", "Next": "Handled"}],
            "Branches": [
                {"StartAt": "Approve", "States": {"Approve": {"Type": "Task", "Resource": APPROVE,
                    "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, "End": true}}},
                {"StartAt": "Wait", "States": {
                    "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Break"},
                    "Break": {"Type": "Task", "Resource": FAIL, "End": true}}}
            ]},
            "Handled": {"Type": "Pass", "End": true},
            "Done": {"Type": "Succeed"}}}),
        tasks,
    );
    // Given one branch waiting for its approval and the other waiting 5 s before it fails
    let waiting = h.run("caught", json!({"order": 1})).await;
    assert_eq!(waiting.status, ExecutionStatus::Running);
    let approval = tokens(&h).pop().unwrap();
    // When the 5 s pass and the second branch fails
    h.advance(5.0).await;
    // Then the Parallel state's Catcher routes with the branch's error
    let done = h.describe("caught").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.unwrap(), json!({"order": 1, "error": {"Error": "Broken", "Cause": "always"}}));
    assert_eq!(count(&h.history("caught").await, HistoryEventType::ParallelStateFailed), 1);
    // And the stopped branch's approval is no longer accepted
    let late = h.executor.send_task_success(&approval, json!({})).await;
    assert!(matches!(late, Err(statemachine::ExecutorError::TaskTimedOut)), "{late:?}");
}

#[tokio::test]
async fn given_a_parallel_state_with_a_retrier_when_a_branch_fails_once_then_the_whole_state_runs_again() {
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = attempts.clone();
    let h = Harness::new(
        json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 1}],
            "Branches": [{"StartAt": "Try", "States": {"Try": {"Type": "Task", "Resource": DOUBLE, "End": true}}}]}}}),
        move |request| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(TaskFailure::new("Flaky", "first time"));
            }
            tasks(request)
        },
    );
    // When the branch's first attempt fails
    let retrying = h.run("retried", json!({"n": 2})).await;
    assert_eq!(retrying.status, ExecutionStatus::Running);
    // Then after the interval the Parallel state runs again and succeeds
    h.advance(2.0).await;
    let done = h.describe("retried").await;
    assert_eq!(done.output.unwrap(), json!([{"n": 4}]));
    assert_eq!(count(&h.history("retried").await, HistoryEventType::ParallelStateStarted), 2);
}

#[tokio::test]
async fn given_an_inline_map_when_it_runs_then_each_item_is_processed_with_its_selector_and_results_keep_item_order() {
    let h = Harness::new(
        map_of(
            json!({"Line": {"Type": "Task", "Resource": DOUBLE, "End": true}}),
            json!({"ItemSelector": {"n.$": "$$.Map.Item.Value.qty", "index.$": "$$.Map.Item.Index", "order.$": "$.order"},
                   "ResultPath": "$.doubled"}),
        ),
        tasks,
    );
    // When an order with three lines runs
    let done = h.run("lines", json!({"order": "o-1", "lines": [{"qty": 1}, {"qty": 2}, {"qty": 3}]})).await;
    // Then every line went through the processor with the selected input, results in item order
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.unwrap()["doubled"], json!([{"n": 2}, {"n": 4}, {"n": 6}]));
    let mut inputs: Vec<Value> = h.invoker.requests().iter().map(|r| r.parameters.clone()).collect();
    inputs.sort_by_key(|p| p["index"].as_u64());
    assert_eq!(inputs[2], json!({"n": 3, "index": 2, "order": "o-1"}));
    let history = h.history("lines").await;
    let started = history.iter().find(|e| e.event_type == HistoryEventType::MapStateStarted).unwrap();
    assert_eq!(started.details.length, Some(3));
    assert_eq!(count(&history, HistoryEventType::MapIterationStarted), 3);
    assert_eq!(count(&history, HistoryEventType::MapIterationSucceeded), 3);
    assert_eq!(count(&history, HistoryEventType::MapStateSucceeded), 1);
}

#[tokio::test]
async fn given_max_concurrency_two_when_five_items_wait_for_callbacks_then_at_most_two_run_at_once() {
    let h = Harness::new(
        map_of(
            json!({"Line": {"Type": "Task", "Resource": APPROVE,
                "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token", "line.$": "$"}}, "End": true}}),
            json!({"MaxConcurrency": 2}),
        ),
        tasks,
    );
    // Given five lines, two at a time
    h.run("throttled", json!({"lines": [1, 2, 3, 4, 5]})).await;
    let mut answered = 0;
    // When each waiting line is approved in turn
    while answered < 5 {
        let issued = tokens(&h);
        // Then no more than two lines ever wait at once
        assert!(issued.len() - answered <= 2, "{} waiting", issued.len() - answered);
        assert!(issued.len() > answered, "nothing is waiting, {answered} answered");
        h.executor.send_task_success(&issued[answered], json!(answered)).await.unwrap();
        h.executor.run_until_idle().await.unwrap();
        answered += 1;
    }
    // And the results are each item's answer, in item order
    let done = h.describe("throttled").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let lines: Vec<Value> = h.invoker.requests().iter().map(|r| r.parameters["MessageBody"]["line"].clone()).collect();
    assert_eq!(lines, [json!(1), json!(2), json!(3), json!(4), json!(5)]);
    assert_eq!(done.output.unwrap(), json!([0, 1, 2, 3, 4]));
}

#[tokio::test]
async fn given_an_inline_map_when_an_iteration_fails_then_the_map_fails_with_its_error_and_the_rest_are_aborted() {
    let h = Harness::new(
        map_of(
            json!({"Line": {"Type": "Task", "Resource": DOUBLE, "Parameters": {"n.$": "$"}, "Next": "Hold"},
                   "Hold": {"Type": "Wait", "Seconds": 60, "End": true}}),
            json!({}),
        ),
        tasks,
    );
    // When one of three lines is negative
    let done = h.run("negative", json!({"lines": [1, -1, 3]})).await;
    // Then the Map fails with that iteration's error, and the iterations still waiting are aborted
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("Negative"));
    assert_eq!(done.cause.as_deref(), Some("-1 is negative"));
    let history = h.history("negative").await;
    assert_eq!(count(&history, HistoryEventType::MapIterationFailed), 1);
    assert_eq!(count(&history, HistoryEventType::MapIterationAborted), 2);
    assert_eq!(count(&history, HistoryEventType::MapStateFailed), 1);
}

#[tokio::test]
async fn given_a_distributed_map_when_failures_are_within_the_tolerance_then_it_succeeds_and_past_it_it_fails() {
    let definition = map_of(
        json!({"Line": {"Type": "Task", "Resource": DOUBLE, "Parameters": {"n.$": "$"}, "End": true}}),
        json!({"ToleratedFailureCount": 1}),
    );
    let mut definition = definition;
    definition["States"]["Lines"]["ItemProcessor"]["ProcessorConfig"] =
        json!({"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"});
    let h = Harness::new(definition, tasks);
    // When one item of three fails, with one tolerated
    let tolerated = h.run("one-bad", json!({"lines": [1, -2, 3]})).await;
    // Then the Map succeeds, the failed item's result being its error
    assert_eq!(tolerated.status, ExecutionStatus::Succeeded, "{tolerated:?}");
    assert_eq!(
        tolerated.output.unwrap(),
        json!([{"n": 2}, {"Error": "Negative", "Cause": "-2 is negative"}, {"n": 6}])
    );
    assert_eq!(count(&h.history("one-bad").await, HistoryEventType::MapRunSucceeded), 1);
    // When two fail
    let exceeded = h.run("two-bad", json!({"lines": [-1, -2, 3]})).await;
    // Then the tolerance is exceeded
    assert_eq!(exceeded.status, ExecutionStatus::Failed);
    assert_eq!(exceeded.error.as_deref(), Some("States.ExceedToleratedFailureThreshold"));
    assert_eq!(count(&h.history("two-bad").await, HistoryEventType::MapRunFailed), 1);
}

#[tokio::test]
async fn given_an_empty_item_list_when_the_map_runs_then_its_result_is_an_empty_array() {
    let h = Harness::new(map_of(json!({"Line": {"Type": "Task", "Resource": DOUBLE, "End": true}}), json!({})), tasks);
    let done = h.run("empty", json!({"lines": []})).await;
    assert_eq!(done.output.unwrap(), json!([]));
    // And items that are not an array fail the execution, saying what they were
    let not_array = h.run("not-array", json!({"lines": {"a": 1}})).await;
    assert_eq!(not_array.error.as_deref(), Some("States.Runtime"));
    assert!(not_array.cause.unwrap().contains("not an array"));
}

#[tokio::test]
async fn given_a_map_inside_a_parallel_branch_when_it_runs_then_the_nested_results_come_back_in_place() {
    let h = Harness::new(
        json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "Lines", "States": {"Lines": {"Type": "Map", "ItemsPath": "$.lines", "End": true,
                "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": "Line", "States": {"Line": {"Type": "Task", "Resource": DOUBLE, "End": true}}}}}},
            {"StartAt": "Count", "States": {"Count": {"Type": "Pass", "Parameters": {"lines.$": "States.ArrayLength($.lines)"}, "End": true}}}
        ]}}}),
        tasks,
    );
    let done = h.run("nested", json!({"lines": [5, 6]})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.unwrap(), json!([[{"n": 10}, {"n": 12}], {"lines": 2}]));
}

#[tokio::test]
async fn given_branches_waiting_on_callbacks_when_the_process_restarts_then_the_new_executor_accepts_them() {
    let definition = json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": APPROVE,
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": APPROVE,
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, "End": true}}}
    ]}}});
    let h = Harness::new(definition.clone(), tasks);
    // Given both branches waiting for their callbacks
    h.run("restarted", json!({})).await;
    let issued = tokens(&h);
    assert_eq!(issued.len(), 2);
    // When a new executor on the same store takes over
    let after = executor_on(&definition, common::ScriptedInvoker::new(tasks), h.store.clone(), h.clock.clone());
    after.resume_running().await.unwrap();
    after.run_until_idle().await.unwrap();
    // Then it accepts both callbacks, in either order, and the execution completes
    after.send_task_success(&issued[1], json!("b")).await.unwrap();
    after.send_task_success(&issued[0], json!("a")).await.unwrap();
    after.run_until_idle().await.unwrap();
    let done = after.describe_execution(&after.execution_arn("restarted")).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(done.output.unwrap(), json!(["a", "b"]));
}

#[tokio::test]
async fn given_a_wait_inside_a_branch_when_its_time_comes_then_the_driver_wakes_the_execution() {
    let h = Harness::new(
        json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "Later", "States": {"Later": {"Type": "Wait", "Seconds": 30, "End": true}}},
            {"StartAt": "Now", "States": {"Now": {"Type": "Pass", "End": true}}}
        ]}}}),
        tasks,
    );
    assert_eq!(h.run("waits", json!({"x": 1})).await.status, ExecutionStatus::Running);
    h.advance(29.0).await;
    assert_eq!(h.describe("waits").await.status, ExecutionStatus::Running);
    h.advance(1.0).await;
    let done = h.describe("waits").await;
    assert_eq!(done.output.unwrap(), json!([{"x": 1}, {"x": 1}]));
}
