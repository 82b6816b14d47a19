//! The States Language specification's own examples (states-language.net), run end to end through
//! the executor: their inputs, and the outputs the specification says they produce.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeDelta, TimeZone, Utc};
use common::{Harness, no_tasks, t0};
use serde_json::{Value, json};
use statemachine::{ExecutionStatus, HistoryEventType, TaskFailure, TaskOutcome};

fn add(request: &statemachine::TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    let p = &request.parameters;
    Ok(TaskOutcome::Completed(json!(p["val1"].as_i64().unwrap() + p["val2"].as_i64().unwrap())))
}

#[tokio::test]
async fn given_the_spec_add_machine_when_started_with_3_and_4_then_the_output_is_7() {
    // Given the "Data" section's machine and its Add Lambda
    let h = Harness::new(
        json!({"StartAt": "Add", "States": {"Add": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Add", "End": true}}}),
        add,
    );
    // When
    let done = h.run("add", json!({"val1": 3, "val2": 4})).await;
    // Then
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!(7)));
}

#[tokio::test]
async fn given_the_spec_input_output_example_when_input_path_and_result_path_are_set_then_the_sum_joins_the_input() {
    // Given "InputPath": "$.numbers", "ResultPath": "$.sum" on the Add task
    let h = Harness::new(
        json!({"StartAt": "Add", "States": {"Add": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Add",
            "InputPath": "$.numbers", "ResultPath": "$.sum", "End": true}}}),
        add,
    );
    // When
    let done = h.run("sum", json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}})).await;
    // Then the task saw only the numbers, and the output is the input plus the sum
    assert_eq!(h.invoker.requests()[0].parameters, json!({"val1": 3, "val2": 4}));
    assert_eq!(done.output, Some(json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7})));
}

#[tokio::test]
async fn given_the_spec_result_path_b_greeting_example_when_the_task_says_hi_then_objects_are_built() {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "greet", "ResultPath": "$.b.greeting", "End": true}}}),
        |_| Ok(TaskOutcome::Completed(json!("Hi!"))),
    );
    let done = h.run("hi", json!({"a": 1})).await;
    assert_eq!(done.output, Some(json!({"a": 1, "b": {"greeting": "Hi!"}})));
}

#[tokio::test]
async fn given_the_spec_master_detail_examples_when_the_result_is_6_then_detail_is_overwritten_or_a_chain_is_built() {
    for (result_path, expected) in [
        ("$.master.detail", json!({"master": {"detail": 6}})),
        ("$.master.result.sum", json!({"master": {"detail": [1, 2, 3], "result": {"sum": 6}}})),
    ] {
        let h = Harness::new(
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 6, "ResultPath": result_path, "End": true}}}),
            no_tasks,
        );
        let done = h.run("md", json!({"master": {"detail": [1, 2, 3]}})).await;
        assert_eq!(done.output, Some(expected), "{result_path}");
    }
}

#[tokio::test]
async fn given_null_paths_when_run_then_input_is_discarded_result_is_discarded_or_output_is_empty() {
    // Spec: InputPath null → effective input {}; ResultPath null → output is the raw input;
    // OutputPath null → output {}.
    let h = Harness::new(
        json!({"StartAt": "In", "States": {
            "In": {"Type": "Task", "Resource": "echo", "InputPath": null, "ResultPath": "$.seen", "Next": "Res"},
            "Res": {"Type": "Task", "Resource": "echo", "ResultPath": null, "Next": "Out"},
            "Out": {"Type": "Pass", "OutputPath": null, "Next": "Check"},
            "Check": {"Type": "Pass", "End": true}}}),
        |r| Ok(TaskOutcome::Completed(json!({"echo": r.parameters.clone()}))),
    );
    let started = h.executor.start_execution("nulls", json!({"keep": true})).await.unwrap();
    h.executor.run_until_idle().await.unwrap();
    let history = h.executor.get_execution_history(&started.execution_arn).await.unwrap();
    let exited = |name: &str| {
        history
            .iter()
            .find(|e| e.details.name.as_deref() == Some(name) && e.event_type.as_str().ends_with("StateExited"))
            .and_then(|e| e.details.output.as_deref().cloned())
            .unwrap()
    };
    assert_eq!(h.invoker.requests()[0].parameters, json!({}));
    assert_eq!(exited("In"), json!({"keep": true, "seen": {"echo": {}}}));
    assert_eq!(exited("Res"), json!({"keep": true, "seen": {"echo": {}}}));
    assert_eq!(exited("Out"), json!({}));
    assert_eq!(h.describe("nulls").await.output, Some(json!({})));
}

#[tokio::test]
async fn given_the_spec_pass_state_example_when_home_is_input_then_coords_are_injected() {
    let h = Harness::new(
        json!({"StartAt": "ProvideTestData", "States": {"ProvideTestData": {
            "Type": "Pass",
            "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
            "ResultPath": "$.coords",
            "End": true}}}),
        no_tasks,
    );
    let done = h.run("pass", json!({"georefOf": "Home"})).await;
    assert_eq!(
        done.output,
        Some(json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}))
    );
}

#[tokio::test]
async fn given_the_spec_hello_world_pass_when_run_then_the_result_is_the_output() {
    let h = Harness::new(
        json!({"Comment": "A Hello World example of the Amazon States Language using a Pass state",
               "StartAt": "HelloWorld", "States": {"HelloWorld": {"Type": "Pass", "Result": "Hello World!", "End": true}}}),
        no_tasks,
    );
    assert_eq!(h.run("hello", json!({})).await.output, Some(json!("Hello World!")));
}

#[tokio::test]
async fn given_the_spec_payload_template_example_when_the_task_runs_then_its_effective_input_is_the_spec_payload() {
    // Given the spec's Task "X" Parameters, with one adaptation this executor needs: the
    // interpreter-defined $$.DayOfWeek is read from $$.Execution.Name, the execution being named
    // TUESDAY.
    let h = Harness::new(
        json!({"StartAt": "X", "States": {
            "X": {
                "Type": "Task",
                "Resource": "arn:aws:states:us-east-1:123456789012:task:X",
                "Next": "Y",
                "Parameters": {
                    "flagged": true,
                    "parts": {
                        "first.$": "$.vals[0]",
                        "last3.$": "$.vals[-3:]"
                    },
                    "weekday.$": "$$.Execution.Name",
                    "formattedOutput.$": "States.Format('Today is {}', $$.Execution.Name)"
                }
            },
            "Y": {"Type": "Succeed"}}}),
        |_| Ok(TaskOutcome::Completed(json!(null))),
    );
    // When
    h.run("TUESDAY", json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]})).await;
    // Then the effective input is the spec's
    assert_eq!(
        h.invoker.requests()[0].parameters,
        json!({
            "flagged": true,
            "parts": {"first": 0, "last3": [30, 40, 50]},
            "weekday": "TUESDAY",
            "formattedOutput": "Today is TUESDAY"
        })
    );
}

#[tokio::test]
async fn given_the_spec_intrinsic_function_examples_when_run_in_pass_parameters_then_payloads_match_the_spec() {
    let cases = [
        (
            json!({"foo.$": "States.Format('Your name is {}, we are in the year {}', $.name, 2020)"}),
            json!({"name": "Foo", "zebra": "stripe"}),
            json!({"foo": "Your name is Foo, we are in the year 2020"}),
        ),
        (
            json!({"foo.$": "States.StringToJson($.someString)"}),
            json!({"someString": "{\"number\": 20}", "zebra": "stripe"}),
            json!({"foo": {"number": 20}}),
        ),
        (
            json!({"foo.$": "States.JsonToString($.someJson)"}),
            json!({"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"}),
            json!({"foo": "{\"name\":\"Foo\",\"year\":2020}"}),
        ),
        (
            json!({"foo.$": "States.Array('Foo', 2020, $.someJson, null)"}),
            json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe"}),
            json!({"foo": ["Foo", 2020, {"random": "abcdefg"}, null]}),
        ),
        (
            json!({"item.$": "States.ArrayGetItem($.inputArray, $.index)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5}),
            json!({"item": 6}),
        ),
        (
            json!({"length.$": "States.ArrayLength($.inputArray)"}),
            json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
            json!({"length": 9}),
        ),
        (
            json!({"value1.$": "States.MathAdd($.value1, $.step)"}),
            json!({"value1": 111, "step": -1}),
            json!({"value1": 110}),
        ),
        (
            json!({"greeting.$": "States.Format('Welcome to {} {}\\'s playlist.', $.firstName, $.lastName)"}),
            json!({"firstName": "Ada", "lastName": "Lovelace"}),
            json!({"greeting": "Welcome to Ada Lovelace's playlist."}),
        ),
    ];
    for (parameters, input, expected) in cases {
        let h = Harness::new(
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": true}}}),
            no_tasks,
        );
        let done = h.run("intrinsic", input).await;
        assert_eq!(done.output, Some(expected), "{parameters}");
    }
    let h = Harness::new(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"uuid.$": "States.UUID()"}, "End": true}}}),
        no_tasks,
    );
    let uuid = h.run("uuid", json!({})).await.output.unwrap()["uuid"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&uuid).unwrap().get_version_num(), 4);
}

fn dispatch_event() -> Value {
    // The spec's JSONPath Choice example, without its "Assign" fields (variables are refused).
    json!({"StartAt": "DispatchEvent", "States": {
        "DispatchEvent": {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"And": [
                    {"Variable": "$.value", "IsPresent": true},
                    {"Variable": "$.value", "IsNumeric": true},
                    {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                    {"Variable": "$.value", "NumericLessThan": 30}
                 ],
                 "Next": "ValueInTwenties"},
                {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"}
            ],
            "Default": "RecordEvent"
        },
        "Public": {"Type": "Pass", "Result": "Public", "End": true},
        "ValueInTwenties": {"Type": "Pass", "Result": "ValueInTwenties", "End": true},
        "StartAudit": {"Type": "Pass", "Result": "StartAudit", "End": true},
        "RecordEvent": {"Type": "Pass", "Result": "RecordEvent", "End": true}
    }})
}

#[tokio::test]
async fn given_the_spec_choice_example_when_input_is_private_22_then_it_goes_to_value_in_twenties() {
    let h = Harness::new(dispatch_event(), no_tasks);
    let done = h.run("spec-input", json!({"type": "Private", "value": 22})).await;
    assert_eq!(done.output, Some(json!("ValueInTwenties")));
    assert_eq!(
        h.history_types("spec-input").await,
        [
            "ExecutionStarted",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn given_the_spec_choice_example_when_other_inputs_arrive_then_each_rule_and_the_default_route() {
    let h = Harness::new(dispatch_event(), no_tasks);
    for (name, input, expected) in [
        ("public", json!({"type": "Public"}), "Public"),
        ("audit", json!({"type": "Private", "value": 5, "rating": 53, "auditThreshold": 50}), "StartAudit"),
        ("default", json!({"type": "Private", "value": "x", "rating": 1, "auditThreshold": 50}), "RecordEvent"),
    ] {
        assert_eq!(h.run(name, input).await.output, Some(json!(expected)), "{name}");
    }
    // The third rule's Variable missing is a runtime error, not "false".
    let failed = h.run("no-rating", json!({"type": "Private"})).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn given_no_matching_rule_and_no_default_when_run_then_no_choice_matched() {
    let h = Harness::new(
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": true, "Next": "D"}]},
            "D": {"Type": "Succeed"}}}),
        no_tasks,
    );
    let done = h.run("nomatch", json!({"x": false})).await;
    assert_eq!(done.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[tokio::test]
async fn given_the_spec_jsonpath_runtime_error_when_input_is_foo_and_result_path_is_x_then_result_path_match_failure() {
    let h = Harness::new(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.x", "End": true}}}),
        no_tasks,
    );
    let done = h.run("foo", json!("foo")).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.ResultPathMatchFailure"));
}

/// The seconds after t0 at which each TaskScheduled event happened.
async fn scheduled_at(h: &Harness, name: &str) -> Vec<f64> {
    h.history(name)
        .await
        .iter()
        .filter(|e| e.event_type == HistoryEventType::TaskScheduled)
        .map(|e| (e.timestamp - t0()).num_milliseconds() as f64 / 1000.0)
        .collect()
}

fn timing_out_task(retrier: Value) -> Value {
    json!({"StartAt": "X", "States": {"X": {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "TimeoutSeconds": 10,
        "Retry": [retrier],
        "End": true}}})
}

#[tokio::test]
async fn given_the_spec_retrier_3_2_2_when_the_task_keeps_timing_out_then_retries_wait_3_then_6_seconds() {
    // Given the spec's Retrier (States.Timeout, IntervalSeconds 3, MaxAttempts 2, BackoffRate 2.0)
    // on a task that never calls back within its 10 s TimeoutSeconds
    let h = Harness::new(
        timing_out_task(
            json!({"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 2.0}),
        ),
        |_| Ok(TaskOutcome::AwaitingCallback),
    );
    h.run("retry", json!({})).await;
    // When time passes: attempt 1 times out at 10 s, attempt 2 starts at 13 s and times out at 23 s,
    // attempt 3 starts at 29 s and times out at 39 s
    h.advance(10.0).await;
    h.advance(2.9).await;
    assert_eq!(scheduled_at(&h, "retry").await, [0.0]);
    h.advance(0.1).await;
    h.advance(10.0).await;
    h.advance(5.9).await;
    assert_eq!(scheduled_at(&h, "retry").await, [0.0, 13.0]);
    h.advance(0.1).await;
    assert_eq!(scheduled_at(&h, "retry").await, [0.0, 13.0, 29.0]);
    assert_eq!(h.describe("retry").await.status, ExecutionStatus::Running);
    h.advance(10.0).await;
    // Then, retries exhausted, the execution fails with the timeout
    let done = h.describe("retry").await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.Timeout"));
    assert_eq!(h.invoker.requests().iter().map(|r| r.retry_count).collect::<Vec<_>>(), [0, 1, 2]);
}

#[tokio::test]
async fn given_the_spec_retrier_with_max_delay_4_when_retrying_then_the_second_wait_is_4_not_6_seconds() {
    let h = Harness::new(
        timing_out_task(json!({"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2,
                               "BackoffRate": 2.0, "MaxDelaySeconds": 4})),
        |_| Ok(TaskOutcome::AwaitingCallback),
    );
    h.run("capped", json!({})).await;
    for _ in 0..40 {
        h.advance(1.0).await;
    }
    assert_eq!(scheduled_at(&h, "capped").await, [0.0, 13.0, 27.0]);
    assert_eq!(h.describe("capped").await.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn given_the_spec_complex_retry_scenario_when_errors_a_b_c_b_occur_then_waits_are_1_2_5_and_z_catches() {
    // Given the spec's state X, with ErrorA, ErrorB, ErrorC, ErrorB thrown in turn
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let h = Harness::new(
        json!({"StartAt": "X", "States": {
            "X": {
                "Type": "Task",
                "Resource": "arn:aws:states:us-east-1:123456789012:task:X",
                "Next": "Y",
                "Retry": [
                    {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2},
                    {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]
            },
            "Y": {"Type": "Succeed"},
            "Z": {"Type": "Pass", "End": true}}}),
        move |_| {
            let error = ["ErrorA", "ErrorB", "ErrorC", "ErrorB"][counter.fetch_add(1, Ordering::SeqCst)];
            Err(TaskFailure::new(error, format!("{error} happened")))
        },
    );
    // When
    h.run("complex", json!({})).await;
    for _ in 0..10 {
        h.advance(1.0).await;
    }
    // Then
    assert_eq!(scheduled_at(&h, "complex").await, [0.0, 1.0, 3.0, 8.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let done = h.describe("complex").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"Error": "ErrorB", "Cause": "ErrorB happened"})));
}

#[tokio::test]
async fn given_the_spec_retry_all_but_timeout_example_when_errors_occur_then_only_non_timeouts_are_retried() {
    let definition = json!({"StartAt": "X", "States": {"X": {
        "Type": "Task", "Resource": "flaky.waitForTaskToken", "TimeoutSeconds": 10, "End": true,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}]}}});
    // A failure is retried (default interval 1 s) and the retry succeeds
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let h = Harness::new(definition.clone(), move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 => Err(TaskFailure::new("Boom", "first try")),
        _ => Ok(TaskOutcome::Completed(json!("ok"))),
    });
    h.run("boom", json!({})).await;
    h.advance(1.0).await;
    assert_eq!(h.describe("boom").await.output, Some(json!("ok")));
    // A timeout is not retried
    let h = Harness::new(definition, |_| Ok(TaskOutcome::AwaitingCallback));
    h.run("slow", json!({})).await;
    h.advance(10.0).await;
    assert_eq!(h.describe("slow").await.error.as_deref(), Some("States.Timeout"));
    assert_eq!(h.invoker.requests().len(), 1);
}

fn catch_example() -> Value {
    // The spec's JSONPath Catchers (without the second one's "Assign").
    json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Work", "End": true,
            "Catch": [
                {"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "RecoveryState"},
                {"ErrorEquals": ["States.ALL"], "Next": "EndMachine"}
            ]
        },
        "RecoveryState": {"Type": "Pass", "End": true},
        "EndMachine": {"Type": "Pass", "End": true}}})
}

#[tokio::test]
async fn given_the_spec_catch_example_when_a_java_exception_is_thrown_then_recovery_gets_input_plus_error_info() {
    let h = Harness::new(catch_example(), |_| {
        Err(TaskFailure::new("java.lang.Exception", "NullPointerException at line 1"))
    });
    let done = h.run("java", json!({"order": 1})).await;
    assert_eq!(
        done.output,
        Some(
            json!({"order": 1, "error-info": {"Error": "java.lang.Exception", "Cause": "NullPointerException at line 1"}})
        )
    );
    assert!(h.history_types("java").await.contains(&"TaskFailed".to_owned()));
}

#[tokio::test]
async fn given_the_spec_catch_example_when_another_error_is_thrown_then_end_machine_gets_the_error_output() {
    let h = Harness::new(catch_example(), |_| {
        Err(TaskFailure::new("DynamoDB.ConditionalCheckFailedException", "The conditional request failed"))
    });
    let done = h.run("other", json!({"order": 1})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        done.output,
        Some(json!({"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "The conditional request failed"}))
    );
    let names: Vec<Option<String>> = h.history("other").await.into_iter().map(|e| e.details.name).collect();
    assert!(names.contains(&Some("EndMachine".to_owned())));
    assert!(!names.contains(&Some("RecoveryState".to_owned())));
}

#[tokio::test]
async fn given_the_spec_wait_ten_seconds_state_when_time_passes_then_it_continues_after_exactly_ten_seconds() {
    let h = Harness::new(
        json!({"StartAt": "wait_ten_seconds", "States": {
            "wait_ten_seconds": {"Type": "Wait", "Seconds": 10, "Next": "NextState"},
            "NextState": {"Type": "Succeed"}}}),
        no_tasks,
    );
    let waiting = h.run("ten", json!({"keep": 1})).await;
    assert_eq!(
        (waiting.status, waiting.current_state.as_deref()),
        (ExecutionStatus::Running, Some("wait_ten_seconds"))
    );
    h.advance(9.999).await;
    assert_eq!(h.describe("ten").await.status, ExecutionStatus::Running);
    h.advance(0.001).await;
    let done = h.describe("ten").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"keep": 1})));
    assert_eq!(done.stop_date, Some(t0() + TimeDelta::seconds(10)));
}

#[tokio::test]
async fn given_the_spec_wait_until_states_when_the_clock_reaches_the_timestamp_then_they_continue() {
    let definitions = [
        json!({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "Next": "NextState"}),
        json!({"Type": "Wait", "TimestampPath": "$.expirydate", "Next": "NextState"}),
        json!({"Type": "Wait", "SecondsPath": "$.delay", "Next": "NextState"}),
    ];
    for wait in definitions {
        let h = Harness::new(
            json!({"StartAt": "wait_until", "States": {"wait_until": wait, "NextState": {"Type": "Succeed"}}}),
            no_tasks,
        );
        h.clock.set(Utc.with_ymd_and_hms(2016, 3, 14, 1, 58, 30).unwrap());
        h.run("until", json!({"expirydate": "2016-03-14T01:59:00Z", "delay": 30})).await;
        h.advance(29.0).await;
        assert_eq!(h.describe("until").await.status, ExecutionStatus::Running, "{wait}");
        h.advance(1.0).await;
        assert_eq!(h.describe("until").await.status, ExecutionStatus::Succeeded, "{wait}");
    }
}

#[tokio::test]
async fn given_a_wait_path_that_is_not_a_number_or_timestamp_when_run_then_the_execution_fails() {
    for (wait, input) in [
        (json!({"Type": "Wait", "SecondsPath": "$.delay", "End": true}), json!({"delay": "soon"})),
        (json!({"Type": "Wait", "SecondsPath": "$.delay", "End": true}), json!({"delay": -1})),
        (json!({"Type": "Wait", "TimestampPath": "$.at", "End": true}), json!({"at": "tomorrow"})),
        (json!({"Type": "Wait", "TimestampPath": "$.at", "End": true}), json!({})),
    ] {
        let h = Harness::new(json!({"StartAt": "W", "States": {"W": wait}}), no_tasks);
        let done = h.run("bad-wait", input.clone()).await;
        assert_eq!((done.status, done.error.as_deref()), (ExecutionStatus::Failed, Some("States.Runtime")), "{input}");
    }
}

#[tokio::test]
async fn given_the_spec_fail_state_examples_when_reached_then_the_execution_fails_with_their_error_and_cause() {
    let h = Harness::new(
        json!({"StartAt": "FailState", "States": {"FailState": {"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"}}}),
        no_tasks,
    );
    let done = h.run("kaiju", json!({})).await;
    assert_eq!(
        (done.status, done.error.as_deref(), done.cause.as_deref()),
        (ExecutionStatus::Failed, Some("ErrorA"), Some("Kaiju attack"))
    );
    assert_eq!(h.history_types("kaiju").await, ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]);

    let h = Harness::new(
        json!({"StartAt": "FailState", "States": {"FailState": {
            "Type": "Fail", "Comment": "my error comment", "ErrorPath": "$.Error", "CausePath": "$.Cause"}}}),
        no_tasks,
    );
    let done = h.run("paths", json!({"Error": "OrderRejected", "Cause": "out of stock"})).await;
    assert_eq!((done.error.as_deref(), done.cause.as_deref()), (Some("OrderRejected"), Some("out of stock")));

    let h = Harness::new(
        json!({"StartAt": "F", "States": {"F": {
            "Type": "Fail", "Error": "OrderFailed", "CausePath": "States.Format('order {} failed', $.id)"}}}),
        no_tasks,
    );
    let done = h.run("intrinsic", json!({"id": 42})).await;
    assert_eq!(done.cause.as_deref(), Some("order 42 failed"));
}

#[tokio::test]
async fn given_the_spec_succeed_state_when_reached_then_input_and_output_paths_shape_the_output() {
    let h = Harness::new(
        json!({"StartAt": "SuccessState", "States": {"SuccessState": {
            "Type": "Succeed", "InputPath": "$.order", "OutputPath": "$.id"}}}),
        no_tasks,
    );
    let done = h.run("ok", json!({"order": {"id": "o-1", "lines": 3}})).await;
    assert_eq!((done.status, done.output), (ExecutionStatus::Succeeded, Some(json!("o-1"))));
    assert_eq!(
        h.history_types("ok").await,
        ["ExecutionStarted", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]
    );
}

#[tokio::test]
async fn given_a_result_selector_when_the_task_returns_then_the_selected_result_is_placed() {
    let h = Harness::new(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "ResultSelector": {"status.$": "$.Payload.status", "code": 200},
            "ResultPath": "$.result", "OutputPath": "$.result", "End": true}}}),
        |_| Ok(TaskOutcome::Completed(json!({"Payload": {"status": "ok", "noise": [1, 2]}, "StatusCode": 200}))),
    );
    assert_eq!(h.run("selector", json!({"in": 1})).await.output, Some(json!({"status": "ok", "code": 200})));
}
