//! Running one case on each side, owning what the comparison sees of an execution: its
//! [`Outcome`] (status, output, error, cause), taken from our engine's `describe_execution` and
//! from moto's DescribeExecution, with the values that legitimately differ between two runs
//! normalised away ([`normalise`]).
//!
//! Both sides use the same region, account, state machine name and execution name, so execution
//! and state machine ARNs are equal as they are and are compared, not normalised. What is
//! normalised: the execution's own dates (`$$.Execution.StartTime`, `$$.State.EnteredTime`: the
//! two runs start at different instants) and `States.UUID`'s values. Each is replaced by its shape
//! (digits become `#`, a v4 UUID becomes `<uuid-v4>`), so a date formatted differently still shows
//! as a difference. The generator's own timestamps are all before 2021, so only the runs' dates,
//! which are from this decade, are touched.

use std::sync::{Arc, LazyLock};

use aws_sdk_sfn::types::ExecutionStatus as MotoStatus;
use chrono::Utc;
use orders_testkit::eventually;
use regex_lite::Regex;
use serde_json::Value;
use statemachine::{
    Definition, ExecutionStatus, Executor, InMemoryStore, ManualClock, StateMachineArn, TaskFailure, TaskInvoker,
    TaskOutcome, TaskRequest,
};

use crate::generator::Case;

/// The region and account of both sides: moto's defaults, so that ARNs agree.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// moto does not check the role of a state machine; Step Functions would assume it.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/differential-test";

/// How an execution ended, as both sides report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `SUCCEEDED`, `FAILED`, … (or `RUNNING` if our engine stopped short, which would be a bug).
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl Outcome {
    /// The outcome as JSON, for reports and for matching known differences. An output of JSON null
    /// is `"output": null`; no output at all leaves `output` out.
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::json!({"status": self.status, "error": self.error, "cause": self.cause});
        if let Some(output) = &self.output {
            json["output"] = output.clone();
        }
        json
    }
}

/// Our engine never runs a Task in these definitions (the generator makes none).
struct NoTasks;

#[async_trait::async_trait]
impl TaskInvoker for NoTasks {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        Err(TaskFailure::new("Differential.NoTasks", format!("the differential test has no task {}", request.resource)))
    }
}

/// Runs `case` on our engine, on a manual clock set to now: every Wait the generator makes is over
/// at once, so running until idle runs the execution to its end.
pub async fn run_ours(case: &Case, definition: Definition) -> Outcome {
    let arn = StateMachineArn::new(REGION, ACCOUNT, &case.machine_name).expect("a valid state machine name");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let executor =
        Executor::builder(definition, arn, Arc::new(NoTasks), Arc::new(InMemoryStore::new())).clock(clock).build();
    let started = executor
        .start_execution(&case.name, case.input.clone())
        .await
        .unwrap_or_else(|error| panic!("{}: our engine did not start it: {error}", case.name));
    executor
        .run_until_idle()
        .await
        .unwrap_or_else(|error| panic!("{}: our engine failed to run it: {error}", case.name));
    let description = executor
        .describe_execution(&started.execution_arn)
        .await
        .unwrap_or_else(|error| panic!("{}: our engine cannot describe it: {error}", case.name));
    let succeeded = description.status == ExecutionStatus::Succeeded;
    let outcome = Outcome {
        status: description.status.as_str().to_owned(),
        // The executor's API gives a JSON null output as no output; Step Functions' is "null".
        output: description.output.or(succeeded.then_some(Value::Null)),
        error: description.error,
        cause: description.cause,
    };
    normalise(outcome)
}

/// Creates `case`'s state machine on moto; `Err` is moto's refusal of the definition.
pub async fn create_on_moto(sfn: &aws_sdk_sfn::Client, case: &Case) -> Result<String, String> {
    let created = sfn
        .create_state_machine()
        .name(&case.machine_name)
        .definition(case.definition.to_string())
        .role_arn(ROLE_ARN)
        .send()
        .await
        .map_err(|error| format!("{}", aws_sdk_sfn::error::DisplayErrorContext(error)))?;
    Ok(created.state_machine_arn().to_owned())
}

/// Starts `case` on moto, on the state machine it was created as; returns the execution's ARN.
pub async fn start_on_moto(sfn: &aws_sdk_sfn::Client, machine_arn: &str, case: &Case) -> String {
    let started = sfn
        .start_execution()
        .state_machine_arn(machine_arn)
        .name(&case.name)
        .input(case.input.to_string())
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!("{}: moto did not start it: {}", case.name, aws_sdk_sfn::error::DisplayErrorContext(error))
        });
    started.execution_arn().to_owned()
}

/// What moto's output becomes when it is not JSON text: `{"moto output, not JSON": "…"}`.
pub const NOT_JSON: &str = "moto output, not JSON";

/// Waits until moto's execution has ended and returns how. A DescribeExecution that moto answers
/// with an internal error (its interpreter crashed in a way that leaves the execution without a
/// status) is an outcome too: `DESCRIBE_EXECUTION_FAILED`, with moto's answer as cause.
pub async fn moto_outcome(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Outcome {
    let described = eventually(format!("moto to finish {execution_arn}"), async || {
        match sfn.describe_execution().execution_arn(execution_arn).send().await {
            Ok(description) if *description.status() == MotoStatus::Running => Err("still RUNNING".to_owned()),
            Ok(description) => Ok(Ok(description)),
            Err(error) if error.raw_response().is_some_and(|raw| raw.status().as_u16() == 500) => {
                Ok(Err(aws_sdk_sfn::error::DisplayErrorContext(error).to_string()))
            }
            Err(error) => Err(aws_sdk_sfn::error::DisplayErrorContext(error).to_string()),
        }
    })
    .await;
    let description = match described {
        Ok(description) => description,
        Err(failure) => {
            return Outcome {
                status: "DESCRIBE_EXECUTION_FAILED".to_owned(),
                output: None,
                error: None,
                cause: Some(failure),
            };
        }
    };
    // moto hands a string output back without encoding it as JSON; kept visible, not fixed up.
    let output = description
        .output()
        .map(|text| serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({ NOT_JSON: text })));
    normalise(Outcome {
        status: description.status().as_str().to_owned(),
        output,
        error: description.error().map(str::to_owned),
        cause: description.cause().map(str::to_owned),
    })
}

/// Dates of this decade (the executions' own; the generator's are all before 2021).
static RUN_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"20[2-9][0-9]-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?")
        .expect("a valid regex")
});
static UUID_V4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").expect("a valid regex")
});

/// Replaces the run's dates and UUIDs by their shapes, in every string of the output and in the
/// cause.
fn normalise(outcome: Outcome) -> Outcome {
    Outcome {
        output: outcome.output.map(normalise_value),
        cause: outcome.cause.map(|cause| normalise_text(&cause)),
        ..outcome
    }
}

fn normalise_value(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(normalise_text(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise_value).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, normalise_value(v))).collect()),
        other => other,
    }
}

fn normalise_text(text: &str) -> String {
    let dated = RUN_DATE.replace_all(text, |date: &regex_lite::Captures<'_>| {
        date[0].chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect::<String>()
    });
    UUID_V4.replace_all(&dated, "<uuid-v4>").into_owned()
}

/// Whether two JSON values are equal, numbers compared by value: `2.0` and `2` are the same number
/// (moto's Python keeps a float a float and prints `2.0`; our engine may print `2`). Integers are
/// compared exactly, so `9007199254740993` is not `9007199254740992`.
pub fn same_json(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let integral = |n: &serde_json::Number| n.is_i64() || n.is_u64();
            if integral(a) && integral(b) { a == b } else { a.as_f64() == b.as_f64() }
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, x)| b.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => ours == theirs,
    }
}
