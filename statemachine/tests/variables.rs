//! Workflow variables (`Assign`, `$name`) in JSONPath states: what each state's `Assign` reads
//! (`$` is its result, its input or a Catcher's error output), that a state's fields read the
//! values it was entered with, where variables can be used, the scope rules of Parallel branches
//! and Map iterations, and that they survive a restart.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, executor_on, no_tasks};
use serde_json::json;
use statemachine::{ExecutionStatus, TaskFailure, TaskOutcome, TaskRequest};

const QUOTE: &str = "arn:aws:lambda:us-east-1:123456789012:function:quote";
const REFUSE: &str = "arn:aws:lambda:us-east-1:123456789012:function:refuse";

fn tasks(request: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    match request.resource.as_str() {
        QUOTE => Ok(TaskOutcome::Completed(json!({"total": 120, "currency": "EUR"}))),
        REFUSE => Err(TaskFailure::new("OutOfStock", "sku-1 is gone")),
        other => panic!("unexpected task {other}"),
    }
}

#[tokio::test]
async fn given_a_task_result_assigned_when_later_states_read_it_then_parameters_choices_and_intrinsics_see_it() {
    let h = Harness::new(
        json!({"StartAt": "Quote", "States": {
            "Quote": {"Type": "Task", "Resource": QUOTE, "ResultPath": null, "Next": "Route",
                "Assign": {"total.$": "$.total", "quote.$": "$", "source": "quote-service"}},
            "Route": {"Type": "Choice", "Default": "Small",
                "Choices": [{"Variable": "$total", "NumericGreaterThan": 100, "Next": "Large"}]},
            "Large": {"Type": "Pass", "End": true, "Parameters": {
                "order.$": "$.order", "currency.$": "$quote.currency", "from.$": "$source",
                "label.$": "States.Format('{} {}', $total, $quote.currency)"}},
            "Small": {"Type": "Fail", "Error": "Small"}}}),
        tasks,
    );
    // When the quote comes back at 120 EUR
    let done = h.run("quoted", json!({"order": "o-1"})).await;
    // Then the Choice read $total and the Pass state built its payload from the variables
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(
        done.output.unwrap(),
        json!({"order": "o-1", "currency": "EUR", "from": "quote-service", "label": "120 EUR"})
    );
}

#[tokio::test]
async fn given_a_state_that_reassigns_when_it_runs_then_its_assign_and_fields_read_the_values_it_was_entered_with() {
    let h = Harness::new(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"count": 1}, "Next": "Bump"},
            "Bump": {"Type": "Pass", "Parameters": {"seen.$": "$count"}, "Next": "Show",
                "Assign": {"count.$": "States.MathAdd($count, 1)", "previous.$": "$count"}},
            "Show": {"Type": "Pass", "Parameters": {"count.$": "$count", "previous.$": "$previous", "seen.$": "$.seen"}, "End": true}}}),
        no_tasks,
    );
    let done = h.run("bumped", json!({})).await;
    assert_eq!(done.output.unwrap(), json!({"count": 2, "previous": 1, "seen": 1}));
}

#[tokio::test]
async fn given_a_choice_when_a_rule_or_the_default_is_taken_then_the_states_assign_applies_and_a_rules_wins() {
    // AWS's Choice page: a rule's Assign applies "when this specific choice rule matches", and the
    // state-level Assign "applies regardless of which choice rule matches"
    // (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html). For a name both
    // assign, the matched rule's value is the one AWS keeps: LocalStack's snapshot recorded
    // against AWS, tests/aws/services/stepfunctions/v2/assign/test_assign_base.snapshot.json,
    // test_assign_in_choice[CONDITION_TRUE], assigns only "Condition assignment".
    let h = Harness::new(
        json!({"StartAt": "Route", "States": {
            "Route": {"Type": "Choice", "Default": "Show", "Assign": {"route": "default", "seen.$": "$.name"},
                "Choices": [{"Variable": "$.vip", "BooleanEquals": true, "Next": "Show", "Assign": {"route": "vip"}}]},
            "Show": {"Type": "Pass", "Parameters": {"route.$": "$route", "seen.$": "$seen"}, "End": true}}}),
        no_tasks,
    );
    let vip = h.run("vip", json!({"vip": true, "name": "Ada"})).await.output.unwrap();
    assert_eq!(vip, json!({"route": "vip", "seen": "Ada"}));
    let plain = h.run("plain", json!({"vip": false, "name": "Bob"})).await.output.unwrap();
    assert_eq!(plain, json!({"route": "default", "seen": "Bob"}));
}

#[tokio::test]
async fn given_a_catcher_with_assign_when_it_catches_then_the_error_output_is_what_it_reads() {
    let h = Harness::new(
        json!({"StartAt": "Reserve", "States": {
            "Reserve": {"Type": "Task", "Resource": REFUSE, "Next": "Done",
                "Catch": [{"ErrorEquals": ["OutOfStock"], "Next": "Report", "ResultPath": null,
                    "Assign": {"reason.$": "$.Cause", "error.$": "$.Error"}}]},
            "Report": {"Type": "Pass", "Parameters": {"reason.$": "$reason", "error.$": "$error"}, "End": true},
            "Done": {"Type": "Succeed"}}}),
        tasks,
    );
    let done = h.run("refused", json!({})).await;
    assert_eq!(done.output.unwrap(), json!({"reason": "sku-1 is gone", "error": "OutOfStock"}));
}

#[tokio::test]
async fn given_parallel_branches_when_they_read_and_assign_then_outer_values_are_read_and_their_own_stay_inside() {
    let branch = |name: &str, assign: serde_json::Value| {
        json!({"StartAt": name, "States": {name: {"Type": "Pass", "Assign": assign,
            "Next": format!("{name}Show")}, format!("{name}Show"): {"Type": "Pass", "End": true,
            "Parameters": {"customer.$": "$customer", "mine.$": "$mine"}}}})
    };
    let h = Harness::new(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"customer": "c-9"}, "Next": "Both"},
            "Both": {"Type": "Parallel", "Next": "After", "Branches": [
                branch("A", json!({"mine": "a"})), branch("B", json!({"mine": "b"}))]},
            "After": {"Type": "Pass", "Parameters": {"results.$": "$", "customer.$": "$customer"}, "End": true}}}),
        no_tasks,
    );
    // Then each branch saw the outer variable and its own, and neither leaked out
    let done = h.run("scoped", json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    assert_eq!(
        done.output.unwrap(),
        json!({"results": [{"customer": "c-9", "mine": "a"}, {"customer": "c-9", "mine": "b"}], "customer": "c-9"})
    );
    // And a branch cannot assign a variable of the outer scope
    let h = Harness::new(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"customer": "c-9"}, "Next": "Both"},
            "Both": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "Overwrite", "States": {"Overwrite": {"Type": "Pass", "Assign": {"customer": "other"}, "End": true}}}]}}}),
        no_tasks,
    );
    let refused = h.run("overwrite", json!({})).await;
    assert_eq!(refused.error.as_deref(), Some("States.Runtime"));
    assert!(refused.cause.unwrap().contains("outer scope"));
}

#[tokio::test]
async fn given_a_distributed_map_when_an_iteration_reads_an_outer_variable_then_it_is_not_in_scope() {
    let h = Harness::new(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"customer": "c-9"}, "Next": "Lines"},
            "Lines": {"Type": "Map", "End": true, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Line", "States": {"Line": {"Type": "Pass", "Parameters": {"c.$": "$customer"}, "End": true}}}}}}),
        no_tasks,
    );
    let done = h.run("isolated", json!([1])).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("States.ExceedToleratedFailureThreshold"));
    // Whereas an inline Map's iterations read it
    let h = Harness::new(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"customer": "c-9"}, "Next": "Lines"},
            "Lines": {"Type": "Map", "End": true, "ItemProcessor": {
                "StartAt": "Line", "States": {"Line": {"Type": "Pass", "Parameters": {"c.$": "$customer", "n.$": "$"}, "End": true}}}}}}),
        no_tasks,
    );
    assert_eq!(
        h.run("inline", json!([1, 2])).await.output.unwrap(),
        json!([{"c": "c-9", "n": 1}, {"c": "c-9", "n": 2}])
    );
}

#[tokio::test]
async fn given_variables_assigned_before_a_wait_when_the_process_restarts_then_they_are_still_there() {
    let definition = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"customer": "c-9"}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 60, "Next": "Show"},
        "Show": {"Type": "Pass", "Parameters": {"customer.$": "$customer"}, "End": true}}});
    let h = Harness::new(definition.clone(), no_tasks);
    assert_eq!(h.run("kept", json!({})).await.status, ExecutionStatus::Running);
    // When a new executor on the same store takes over and the wait ends
    let after = executor_on(&definition, common::ScriptedInvoker::new(no_tasks), h.store.clone(), h.clock.clone());
    after.resume_running().await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(60));
    after.run_until_idle().await.unwrap();
    // Then the variable assigned before the restart is read after it
    let done = after.describe_execution(&after.execution_arn("kept")).await.unwrap();
    assert_eq!(done.output.unwrap(), json!({"customer": "c-9"}));
}
