//! JSONPath in payload templates, end to end: `Parameters` and `ResultSelector` read full JSONPath
//! (wildcards, slices, filters, recursive descent, unions) the way Step Functions does, and a path
//! that selects nothing fails the execution with an uncatchable `States.Runtime`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, no_tasks};
use serde_json::{Value, json};
use statemachine::{ExecutionStatus, TaskOutcome};

/// A machine of one Pass state with these `Parameters`.
fn pass_with(parameters: Value) -> Value {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": true}}})
}

fn order() -> Value {
    json!({"orderId": "o-1", "lines": [
        {"sku": "A", "qty": 1, "price": 5, "tags": ["new"]},
        {"sku": "B", "qty": 3, "price": 12.5, "gift": true},
        {"sku": "C", "qty": 2, "price": 40}
    ]})
}

#[tokio::test]
async fn given_indefinite_paths_in_parameters_when_the_pass_state_runs_then_each_gives_an_array() {
    // Given
    let h = Harness::new(
        pass_with(json!({
            "skus.$": "$.lines[*].sku",
            "expensive.$": "$.lines[?(@.price > 10)].sku",
            "cheapOrGift.$": "$.lines[?(@.price < 10 || @.gift == true)].sku",
            "firstTwo.$": "$.lines[:2].sku",
            "last.$": "$.lines[-1:].sku",
            "picked.$": "$.lines[0,2].qty",
            "tags.$": "$..tags",
            "gifts.$": "$.lines[?(@.gift)].sku",
            "none.$": "$.lines[?(@.qty > 99)]",
            "oneSku.$": "$.lines[0].sku",
            "line.$": "$.lines[1]['sku','qty']"
        })),
        no_tasks,
    );
    // When
    let done = h.run("paths", order()).await;
    // Then
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    assert_eq!(
        done.output,
        Some(json!({
            "skus": ["A", "B", "C"],
            "expensive": ["B", "C"],
            "cheapOrGift": ["A", "B"],
            "firstTwo": ["A", "B"],
            "last": ["C"],
            "picked": [1, 2],
            "tags": [["new"]],
            "gifts": ["B"],
            "none": [],
            "oneSku": "A",
            "line": {"sku": "B", "qty": 3}
        }))
    );
}

#[tokio::test]
async fn given_a_filter_in_result_selector_and_an_intrinsic_when_the_task_returns_then_both_read_the_result() {
    // Given a task whose result is the order, selected with a filter and counted with an intrinsic
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "r", "End": true,
        "ResultSelector": {
            "big.$": "$.lines[?(@.qty >= 2)].sku",
            "count.$": "States.ArrayLength($.lines[?(@.qty >= 2)])",
            "skus.$": "States.JsonToString($.lines[*].sku)"
        }}}}),
        |_| Ok(TaskOutcome::Completed(order())),
    );
    // When
    let done = h.run("selector", json!({})).await;
    // Then
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    assert_eq!(done.output, Some(json!({"big": ["B", "C"], "count": 2, "skus": "[\"A\",\"B\",\"C\"]"})));
}

#[tokio::test]
async fn given_a_parameters_path_that_selects_nothing_when_a_catcher_exists_then_states_runtime_fails_the_execution() {
    // Given a Task with Parameters reading a missing field, and a Catcher for everything
    let h = Harness::new(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "r", "Next": "Done",
                  "Parameters": {"order": {"id.$": "$.order.id"}},
                  "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
            "Caught": {"Type": "Succeed"},
            "Done": {"Type": "Succeed"}}}),
        no_tasks,
    );
    // When
    let done = h.run("missing", json!({"flagged": false})).await;
    // Then: neither retried nor caught, with Step Functions' cause
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        done.cause.as_deref(),
        Some(
            r#"An error occurred while executing the state 'T' (entered at the event id #2). The JSONPath '$.order.id' specified for the field 'id.$' could not be found in the input '{"flagged":false}'"#
        )
    );
    assert!(h.invoker.requests().is_empty());
}

#[tokio::test]
async fn given_an_indefinite_path_whose_definite_start_is_missing_when_run_then_it_fails_like_a_missing_field() {
    // Given "$.missing[*]": Jayway fails on "missing" before reaching the wildcard
    let h = Harness::new(pass_with(json!({"x.$": "$.missing[*]", "y.$": "$.lines[*].missing"})), no_tasks);
    // When
    let done = h.run("start", json!({"lines": [{"a": 1}]})).await;
    // Then
    assert_eq!(done.error.as_deref(), Some("States.Runtime"));
    assert!(
        done.cause
            .unwrap()
            .contains("(entered at the event id #2). The JSONPath '$.missing[*]' specified for the field 'x.$'")
    );
}
