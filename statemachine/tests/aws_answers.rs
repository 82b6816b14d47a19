//! Answers the engine gives as Step Functions gives them: the 256 KiB payload limit, the context
//! object's fields (RoleArn, RedriveCount, and RetryCount only where a state can retry), and the
//! cause of a runtime error naming the state and the event that entered it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Harness, ScriptedInvoker, machine_arn, no_tasks, t0};
use serde_json::json;
use statemachine::{
    Definition, ExecutionStatus, Executor, InMemoryStore, ManualClock, TaskFailure, TaskOutcome, TaskRequest,
};

/// The timestamps AWS refused in LocalStack's test_wait_timestamp_path and
/// test_wait_timestamp_jsonata (test_base_scenarios.snapshot.json): [INVALID_DATE], [INVALID_TIME],
/// [INVALID_ISO], [NO_T] and [NO_Z].
const MALFORMED_TIMESTAMPS: [&str; 5] = [
    "2016-13-05T21:29:29Z",
    "2016-12-05T25:29:29Z",
    "05-12-2016T21:29:29Z",
    "2016-12-05 21:29:29Z",
    "2016-12-05T21:29:29",
];

#[tokio::test]
async fn given_a_state_whose_output_passes_256_kib_when_it_completes_then_states_data_limit_exceeded() {
    let h = Harness::new(
        json!({"StartAt": "Grow", "States": {"Grow": {"Type": "Pass", "Parameters": {"a.$": "$.text", "b.$": "$.text"}, "End": true}}}),
        no_tasks,
    );
    // Given an input of 140 KiB, which the state doubles
    let done = h.run("big", json!({"text": "x".repeat(140 * 1024)})).await;
    // Then the state fails at Step Functions' limit, with its words
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(
        done.cause.as_deref(),
        Some(
            "The state/task 'Grow' returned a result with a size exceeding the maximum number of bytes service limit."
        )
    );
    // And 120 KiB doubled stays within it
    assert_eq!(h.run("fits", json!({"text": "x".repeat(120 * 1024)})).await.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn given_an_executor_with_a_role_when_a_task_reads_the_context_then_it_shows_the_role_retries_and_redrives() {
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
        "Parameters": {"role.$": "$$.Execution.RoleArn", "redrives.$": "$$.Execution.RedriveCount", "retries.$": "$$.State.RetryCount"}}}});
    let invoker = ScriptedInvoker::new(|request| Ok(TaskOutcome::Completed(request.parameters.clone())));
    let executor = Executor::builder(
        Definition::from_json(&definition).unwrap(),
        machine_arn(),
        invoker,
        Arc::new(InMemoryStore::new()),
    )
    .clock(Arc::new(ManualClock::new(t0())))
    .role_arn("arn:aws:iam::123456789012:role/orders-workflow")
    .build();
    let started = executor.start_execution("role", json!({})).await.unwrap();
    executor.run_until_idle().await.unwrap();
    let done = executor.describe_execution(&started.execution_arn).await.unwrap();
    assert_eq!(
        done.output.unwrap(),
        json!({"role": "arn:aws:iam::123456789012:role/orders-workflow", "redrives": 0, "retries": 0})
    );
}

#[tokio::test]
async fn given_a_pass_state_reading_its_retry_count_when_it_runs_then_the_field_is_absent_as_in_aws() {
    let h = Harness::new(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"r.$": "$$.State.RetryCount"}, "End": true}}}),
        no_tasks,
    );
    let done = h.run("no-retries", json!({})).await;
    assert_eq!(done.error.as_deref(), Some("States.Runtime"));
    // And the cause names the state and the event that entered it, as AWS words it
    assert!(
        done.cause.as_deref().unwrap().starts_with(
            "An error occurred while executing the state 'P' (entered at the event id #2). The JSONPath '$$.State.RetryCount'"
        ),
        "{:?}",
        done.cause
    );
}

#[tokio::test]
async fn given_a_wait_timestamp_further_away_than_step_functions_waits_when_reached_then_states_runtime() {
    // AWS (LocalStack's tests/aws/services/stepfunctions/v2/base/test_wait.snapshot.json,
    // recorded against AWS): test_timestamp_too_far_in_future_boundary[24855] waits,
    // [24856] fails with "… Wait state delay is too long." (its template, WAIT_TIMESTAMP_PATH).
    let h = Harness::new(
        json!({"StartAt": "State_1", "States": {"State_1": {"Type": "Wait", "TimestampPath": "$.start_at", "End": true}}}),
        no_tasks,
    );
    let days_ahead = |days: i64| format!("{}.000Z", (t0() + chrono::TimeDelta::days(days)).format("%Y-%m-%dT%H:%M:%S"));
    let done = h.run("far", json!({"start_at": days_ahead(24856)})).await;
    assert_eq!(
        (done.error.as_deref(), done.cause.as_deref()),
        (
            Some("States.Runtime"),
            Some(
                "An error occurred while executing the state 'State_1' (entered at the event id #2). Wait state delay is too long."
            )
        )
    );
    // And a timestamp 24,855 days ahead waits, as AWS's did
    assert_eq!(h.run("near", json!({"start_at": days_ahead(24855)})).await.status, ExecutionStatus::Running);
}

/// An execution's error and cause, and its `EvaluationFailed` events' (state, location).
async fn failure_of(
    definition: serde_json::Value,
    input: serde_json::Value,
    invoker: fn(&TaskRequest) -> Result<TaskOutcome, TaskFailure>,
) -> (String, String, Vec<(String, Option<String>)>) {
    let h = Harness::new(definition, invoker);
    let done = h.run("recorded", input).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    let evaluations = h
        .history("recorded")
        .await
        .into_iter()
        .filter(|e| e.event_type.to_string() == "EvaluationFailed")
        .map(|e| (e.details.state.unwrap().into(), e.details.location.map(String::from)))
        .collect();
    (done.error.unwrap(), done.cause.unwrap(), evaluations)
}

/// A Lambda that returns its input, as LocalStack's `LAMBDA_ID_FUNCTION`.
fn identity(request: &TaskRequest) -> Result<TaskOutcome, TaskFailure> {
    Ok(TaskOutcome::Completed(request.parameters.clone()))
}

#[tokio::test]
async fn given_the_runtime_failures_aws_recorded_when_run_then_error_and_cause_are_aws_word_for_word() {
    // Each row: a LocalStack template, its input, and the error and cause of AWS's execution as
    // recorded in LocalStack's snapshots (tests/aws/services/stepfunctions/v2/…, recorded against
    // AWS), in the file and test id named.
    let at = |state: &str, id: u32, rest: &str| {
        format!("An error occurred while executing the state '{state}' (entered at the event id #{id}). {rest}")
    };
    let pass = |field: &str, value: serde_json::Value| json!({"StartAt": "pass", "States": {"pass": {"Type": "Pass", field: value, "End": true}}});
    let fail = |fields: serde_json::Value| {
        let mut fail = json!({"Type": "Fail"});
        fail.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        json!({"StartAt": "pass", "States": {
            "pass": {"Type": "Pass", "Next": "fail", "Parameters": {"Error": "error-value"}},
            "fail": fail}})
    };
    let wait_seconds = json!({"StartAt": "WaitState", "States": {"WaitState": {"Type": "Wait", "SecondsPath": "$.input.waitSeconds", "End": true}}});
    let wait_until = json!({"StartAt": "WaitUntil", "States": {"WaitUntil": {"Type": "Wait", "TimestampPath": "$.TimestampValue", "End": true}}});
    let state_1 = json!({"StartAt": "State_1", "States": {"State_1": {"Type": "Wait", "TimestampPath": "$.start_at", "End": true}}});
    let catch_runtime = json!({"StartAt": "RaiseRuntime", "States": {
        "RaiseRuntime": {"Type": "Task", "Resource": "lambda", "OutputPath": "$.no.such.result.path",
            "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "CaughtRuntime"}], "Next": "Final"},
        "CaughtRuntime": {"Type": "Pass", "End": true},
        "Final": {"Type": "Pass", "End": true}}});
    let int_literal = json!({"int-literal": 0});
    // The recordings mask the input a "could not be found in the input '…'" cause quotes
    // ('<json-input:1>'); ours is compact JSON, as for Parameters (README, error names).
    let masked_error_value = r#"{"Error":"error-value"}"#;
    let masked_int_literal = r#"{"int-literal":0}"#;
    let runtime = "States.Runtime";
    let rows: Vec<(&str, serde_json::Value, serde_json::Value, String)> = vec![
        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_INPUTPATH]
        (
            "inputpath",
            pass("InputPath", json!("$.NoSuchInputPath")),
            int_literal.clone(),
            at("pass", 2, "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"),
        ),
        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_OUTPUTPATH]
        (
            "outputpath",
            pass("OutputPath", json!("$.NoSuchOutputPath")),
            int_literal.clone(),
            at("pass", 2, "Invalid path '$.NoSuchOutputPath' : No results for path: $['NoSuchOutputPath']"),
        ),
        // test_base_scenarios.snapshot.json, test_catch_states_runtime: not caught either
        (
            "outputpath-nested",
            catch_runtime,
            json!({}),
            at("RaiseRuntime", 2, "Invalid path '$.no.such.result.path' : Missing property in path $['no']"),
        ),
        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[INVALID_JSONPATH_IN_STRING_EXPR_JSONPATH]
        (
            "parameters",
            pass("Parameters", json!({"value.$": "$.no_such_jsonpath"})),
            int_literal.clone(),
            at(
                "pass",
                2,
                &format!(
                    "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{masked_int_literal}'"
                ),
            ),
        ),
        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[INVALID_JSONPATH_IN_ERRORPATH]
        (
            "errorpath",
            fail(json!({"ErrorPath": "$.ErrorX"})),
            int_literal.clone(),
            at(
                "fail",
                4,
                &format!(
                    "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{masked_error_value}'"
                ),
            ),
        ),
        // test_base_scenarios.snapshot.json, test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_CAUSEPATH]
        (
            "causepath",
            fail(json!({"ErrorPath": "$.Error", "CausePath": "$.NoSuchCausePath"})),
            int_literal.clone(),
            at(
                "fail",
                4,
                &format!(
                    "The JSONPath '$.NoSuchCausePath' specified for the field 'CausePath' could not be found in the input '{masked_error_value}'"
                ),
            ),
        ),
        // test_logs.snapshot.json, test_base[wait_seconds_path.json5_ALL_False] (input {})
        (
            "seconds-missing",
            wait_seconds.clone(),
            json!({}),
            at("WaitState", 2, "The SecondsPath parameter does not reference an input value: $.input.waitSeconds"),
        ),
        // test_wait.snapshot.json, test_base_wait_seconds_path[-1], [-1.5] and [1.5]
        (
            "seconds-negative",
            wait_seconds.clone(),
            json!({"input": {"waitSeconds": -1}}),
            at("WaitState", 2, "The SecondsPath parameter references a negative value: $.input.waitSeconds == -1"),
        ),
        (
            "seconds-negative-fraction",
            wait_seconds.clone(),
            json!({"input": {"waitSeconds": -1.5}}),
            at(
                "WaitState",
                2,
                "The SecondsPath parameter cannot be parsed as a long value: $.input.waitSeconds == -1.5",
            ),
        ),
        (
            "seconds-fraction",
            wait_seconds,
            json!({"input": {"waitSeconds": 1.5}}),
            at(
                "WaitState",
                2,
                "The SecondsPath parameter cannot be parsed as a long value: $.input.waitSeconds == 1.5",
            ),
        ),
        // test_wait.snapshot.json, test_wait_timestamppath[] and [.000000] (no Z); the recording
        // masks the timestamp (the time of the run), so one of that shape stands in for it
        (
            "timestamp-no-z",
            state_1.clone(),
            json!({"start_at": "2023-12-13T07:10:17"}),
            at(
                "State_1",
                2,
                "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.start_at == 2023-12-13T07:10:17",
            ),
        ),
        (
            "timestamp-fraction-no-z",
            state_1,
            json!({"start_at": "2023-12-13T07:10:17.000000"}),
            at(
                "State_1",
                2,
                "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.start_at == 2023-12-13T07:10:17.000000",
            ),
        ),
    ];
    let mut rows = rows;
    // test_base_scenarios.snapshot.json, test_wait_timestamp_path[INVALID_DATE], [INVALID_TIME],
    // [INVALID_ISO], [NO_T] and [NO_Z]
    for value in MALFORMED_TIMESTAMPS {
        rows.push(("timestamppath", wait_until.clone(), json!({"TimestampValue": value}),
            at("WaitUntil", 2, &format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: $.TimestampValue == {value}"))));
    }
    for (name, definition, input, cause) in rows {
        let (error, ours, evaluations) = failure_of(definition, input, identity).await;
        assert_eq!((error.as_str(), ours.as_str()), (runtime, cause.as_str()), "{name}");
        // A JSONPath state's failure writes no EvaluationFailed event
        assert!(evaluations.is_empty(), "{name}: {evaluations:?}");
    }
}

#[tokio::test]
async fn given_the_jsonata_failures_aws_recorded_when_run_then_error_cause_and_evaluation_failed_are_aws_word_for_word()
{
    let at = |state: &str, rest: &str| {
        format!("An error occurred while executing the state '{state}' (entered at the event id #2). {rest}")
    };
    let wait = json!({"QueryLanguage": "JSONata", "StartAt": "WaitState", "States": {
        "WaitState": {"Type": "Wait", "Timestamp": "{% $states.input.TimestampValue %}", "End": true}}});
    let mut rows = Vec::new();
    // test_base_scenarios.snapshot.json, test_wait_timestamp_jsonata[INVALID_DATE], [INVALID_TIME],
    // [INVALID_ISO], [NO_T] and [NO_Z]: EvaluationFailed at location 'Timestamp'
    for value in MALFORMED_TIMESTAMPS {
        rows.push((wait.clone(), json!({"TimestampValue": value}), "WaitState", "Timestamp",
            at("WaitState", &format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {value}"))));
    }
    // test_base_scenarios.snapshot.json, test_map_state_items_eval_jsonata_fail[function]
    // (its template, MAP_STATE_ITEMS_LITERAL, with Items "{% $fn := function($x){$x} %}")
    let map = json!({"QueryLanguage": "JSONata", "StartAt": "MapIterateState", "States": {
        "MapIterateState": {"Type": "Map", "MaxConcurrency": 1, "Items": "{% $fn := function($x){$x} %}",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": true}}},
            "End": true}}});
    rows.push((map, json!({}), "MapIterateState", "Items",
        at("MapIterateState", "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported result type.")));
    for (definition, input, state, location, cause) in rows {
        let (error, ours, evaluations) = failure_of(definition, input, no_tasks).await;
        assert_eq!((error.as_str(), ours.as_str()), ("States.QueryEvaluationError", cause.as_str()));
        assert_eq!(evaluations, [(state.to_owned(), Some(location.to_owned()))], "{cause}");
    }
}

#[tokio::test]
async fn given_paths_that_select_nothing_or_the_wrong_thing_when_run_then_the_causes_are_worded_as_step_functions_words_them()
 {
    let run = |definition: serde_json::Value, input: serde_json::Value| async move {
        let h = Harness::new(definition, no_tasks);
        let done = h.run("worded", input).await;
        assert_eq!(done.error.as_deref(), Some("States.Runtime"));
        let cause = done.cause.unwrap();
        let prefix = "An error occurred while executing the state 'S' (entered at the event id #2). ";
        assert!(cause.starts_with(prefix), "{cause}");
        cause[prefix.len()..].to_owned()
    };
    let wait =
        |field: &str, path: &str| json!({"StartAt": "S", "States": {"S": {"Type": "Wait", field: path, "End": true}}});
    // Jayway's two wordings: the whole path when its last step (or an index) finds nothing, the
    // path up to a field missing before the last step (AWS's recorded cases: the table above).
    let lines =
        json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "InputPath": "$.order.lines[2]", "End": true}}});
    assert_eq!(
        run(lines.clone(), json!({"order": {"lines": [0]}})).await,
        "Invalid path '$.order.lines[2]' : No results for path: $['order']['lines'][2]"
    );
    assert_eq!(
        run(lines, json!({"order": {}})).await,
        "Invalid path '$.order.lines[2]' : Missing property in path $['order']['lines']"
    );
    assert_eq!(
        run(wait("SecondsPath", "$.delay"), json!({})).await,
        "The SecondsPath parameter does not reference an input value: $.delay"
    );
    assert_eq!(
        run(wait("SecondsPath", "$.delay"), json!({"delay": -5})).await,
        "The SecondsPath parameter references a negative value: $.delay == -5"
    );
    assert_eq!(
        run(wait("SecondsPath", "$.delay"), json!({"delay": "soon"})).await,
        "The SecondsPath parameter cannot be parsed as a long value: $.delay == soon"
    );
    assert_eq!(
        run(wait("TimestampPath", "$.at"), json!({"at": "tomorrow"})).await,
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: \
         $.at == tomorrow"
    );
    assert_eq!(
        run(wait("TimestampPath", "$.at"), json!({"x": 1})).await,
        r#"The JSONPath '$.at' specified for the field 'TimestampPath' could not be found in the input '{"x":1}'"#
    );
}
