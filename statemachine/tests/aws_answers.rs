//! Answers the engine gives as Step Functions gives them: the 256 KiB payload limit, the context
//! object's fields (RoleArn, RedriveCount, and RetryCount only where a state can retry), and the
//! cause of a runtime error naming the state and the event that entered it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Harness, ScriptedInvoker, machine_arn, no_tasks, t0};
use serde_json::json;
use statemachine::{Definition, ExecutionStatus, Executor, InMemoryStore, ManualClock, TaskOutcome};

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
    let h = Harness::new(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.until", "End": true}}}),
        no_tasks,
    );
    // Given t0 is 2024-01-01: 99,999,999 s later is early March 2027
    let done = h.run("far", json!({"until": "2030-01-01T00:00:00Z"})).await;
    assert_eq!(done.error.as_deref(), Some("States.Runtime"));
    assert!(done.cause.unwrap().contains("more than 99999999 seconds away"));
    // And a timestamp within the bound waits
    assert_eq!(h.run("near", json!({"until": "2026-01-01T00:00:00Z"})).await.status, ExecutionStatus::Running);
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
    assert_eq!(
        run(
            json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "InputPath": "$.order.lines[2]", "End": true}}}),
            json!({})
        )
        .await,
        "Invalid path '$.order.lines[2]' : No results for path: $['order']['lines'][2]"
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
