//! Criterion benchmarks of the `statemachine` executor: loading and validating definitions (the
//! deployed `order-processing.asl.json` with its placeholders substituted, and a Pass/Choice
//! machine), running executions to completion over an [`InMemoryStore`] (reported per state
//! transition), and the cost of a Pass state's `InputPath`/`Parameters`/`ResultPath`/`OutputPath`
//! on an order document. Paths and payload templates have no public API, so that last one is
//! measured through the executor against a bare Pass state. Results and the command line are in
//! `docs/benchmarks/criterion.md`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use statemachine::{
    Definition, ExecutionStatus, Executor, InMemoryStore, StateMachineArn, TaskFailure, TaskInvoker, TaskOutcome,
    TaskRequest,
};
use tokio::runtime::Runtime;

/// The definition deployed to Step Functions and run by `orders serve`.
const ORDER_PROCESSING: &str = include_str!("../order-processing.asl.json");

/// Iterations of the counting loop in [`loop_machine`].
const LOOP_ROUNDS: u64 = 50;

/// The substitutions SAM would make in [`ORDER_PROCESSING`].
fn substitutions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("OrdersTableName".to_owned(), "orders-bench-OrdersTable-1A2B3C4D5E6F".to_owned()),
        (
            "FulfilmentQueueUrl".to_owned(),
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders-bench-FulfilmentQueue".to_owned(),
        ),
    ])
}

/// An order as the API shows it (the seed's example: CUST001, 2 × PROD001 and 1 × PROD002), the
/// document the workflow's states read.
fn order_document() -> Value {
    json!({
        "order_id": "550e8400-e29b-41d4-a716-446655440000",
        "customer_id": "CUST001",
        "items": [
            {"product_id": "PROD001", "quantity": 2, "unit_price": 25.50, "line_total": 51.00},
            {"product_id": "PROD002", "quantity": 1, "unit_price": 99.75, "line_total": 99.75}
        ],
        "total_amount": 150.75,
        "status": "pending",
        "version": 1,
        "created_at": "2024-01-24T10:30:00.000Z",
        "updated_at": "2024-01-24T10:30:00.000Z",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:OrderProcessingStateMachine:550e8400-e29b-41d4-a716-446655440000"
    })
}

/// Pass and Choice states routing an order: summarise it, check its status, size and customer,
/// stamp it. Seven states are entered on the order document.
fn routing_machine() -> Value {
    json!({
        "Comment": "Routes an order through Pass and Choice states only.",
        "StartAt": "Summarise",
        "States": {
            "Summarise": {
                "Type": "Pass",
                "Parameters": {
                    "order_id.$": "$.order_id",
                    "customer_id.$": "$.customer_id",
                    "total.$": "$.total_amount",
                    "status.$": "$.status",
                    "lines.$": "States.ArrayLength($.items)",
                    "first_product.$": "$.items[0].product_id"
                },
                "ResultPath": "$.summary",
                "Next": "IsPending"
            },
            "IsPending": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.summary.status", "StringEquals": "pending", "Next": "SizeCheck"}],
                "Default": "NotPending"
            },
            "NotPending": {"Type": "Fail", "Error": "NotPending", "Cause": "the order is not pending"},
            "SizeCheck": {
                "Type": "Choice",
                "Choices": [{
                    "And": [
                        {"Variable": "$.summary.total", "NumericGreaterThanEquals": 100},
                        {"Variable": "$.summary.lines", "NumericLessThanEquals": 100}
                    ],
                    "Next": "LargeOrder"
                }],
                "Default": "SmallOrder"
            },
            "LargeOrder": {"Type": "Pass", "Result": {"tier": "large"}, "ResultPath": "$.routing", "Next": "Route"},
            "SmallOrder": {"Type": "Pass", "Result": {"tier": "small"}, "ResultPath": "$.routing", "Next": "Route"},
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.customer_id", "StringMatches": "CUST*", "Next": "Stamp"},
                    {"Variable": "$.routing.tier", "StringEquals": "large", "Next": "Stamp"}
                ],
                "Default": "NotPending"
            },
            "Stamp": {
                "Type": "Pass",
                "Parameters": {
                    "order_id.$": "$.order_id",
                    "tier.$": "$.routing.tier",
                    "message.$": "States.Format('order {} for {}', $.order_id, $.customer_id)",
                    "entered.$": "$$.State.EnteredTime"
                },
                "ResultPath": "$.stamp",
                "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    })
}

/// A Choice/Pass loop counting to [`LOOP_ROUNDS`] with `States.MathAdd`, carrying the order
/// document: 2 × rounds + 3 states entered, so the cost of starting an execution is spread thin.
fn loop_machine() -> Value {
    json!({
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"value": 0}, "ResultPath": "$.i", "Next": "Loop"},
            "Loop": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i.value", "NumericLessThan": LOOP_ROUNDS, "Next": "Inc"}],
                "Default": "Done"
            },
            "Inc": {
                "Type": "Pass",
                "Parameters": {"value.$": "States.MathAdd($.i.value, 1)"},
                "ResultPath": "$.i",
                "Next": "Loop"
            },
            "Done": {"Type": "Succeed"}
        }
    })
}

/// One Pass state that does nothing with its input.
fn bare_pass_machine() -> Value {
    json!({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": true}}})
}

/// One Pass state with the input/output processing a typical order state has.
fn paths_pass_machine() -> Value {
    json!({
        "StartAt": "Only",
        "States": {
            "Only": {
                "Type": "Pass",
                "InputPath": "$.order",
                "Parameters": {
                    "order_id.$": "$.order_id",
                    "customer.$": "$.customer_id",
                    "total.$": "$.total_amount",
                    "first.$": "$.items[0]",
                    "second_product.$": "$.items[1].product_id",
                    "lines.$": "States.ArrayLength($.items)",
                    "execution.$": "$$.Execution.Name",
                    "entered.$": "$$.State.EnteredTime",
                    "task": "fulfil",
                    "nested": {"status.$": "$.status", "version.$": "$.version"}
                },
                "ResultPath": "$.request",
                "OutputPath": "$.request",
                "End": true
            }
        }
    })
}

/// Answers every Task at once: `dynamodb:updateItem` with an empty result, `.waitForTaskToken`
/// tasks as if the callback came straight back.
struct ImmediateInvoker;

#[async_trait::async_trait]
impl TaskInvoker for ImmediateInvoker {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutcome, TaskFailure> {
        match request.base_resource() {
            "arn:aws:states:::dynamodb:updateItem" => Ok(TaskOutcome::Completed(json!({}))),
            "arn:aws:states:::sqs:sendMessage" => Ok(TaskOutcome::Completed(json!({"ok": true}))),
            other => Err(TaskFailure::new("Bench.UnknownResource", other)),
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime")
}

fn machine_arn() -> StateMachineArn {
    StateMachineArn::new("us-east-1", "123456789012", "bench-machine").expect("a valid state machine ARN")
}

/// An executor over a fresh in-memory store.
fn executor(definition: &Arc<Definition>) -> Executor {
    Executor::new(definition.clone(), machine_arn(), Arc::new(ImmediateInvoker), Arc::new(InMemoryStore::new()))
}

/// Runs one execution to completion and returns how many states it entered, checking it succeeded
/// (done once per benchmark, before timing).
fn states_entered(rt: &Runtime, definition: &Arc<Definition>, input: &Value) -> u64 {
    rt.block_on(async {
        let executor = executor(definition);
        let started = executor.start_execution("check", input.clone()).await.expect("the execution starts");
        executor.run_until_idle().await.expect("the execution runs");
        let done = executor.describe_execution(&started.execution_arn).await.expect("describe");
        assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
        let history = executor.get_execution_history(&started.execution_arn).await.expect("history");
        history.iter().filter(|e| e.event_type.as_str().ends_with("StateEntered")).count() as u64
    })
}

/// Times `iters` executions from start to the end (`start_execution` + `run_until_idle`), each on
/// a fresh executor and store built and dropped outside the timed part.
fn time_executions(rt: &Runtime, definition: &Arc<Definition>, input: &Value, iters: u64) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let executor = executor(definition);
            let input = input.clone();
            let start = Instant::now();
            executor.start_execution("bench", black_box(input)).await.expect("the execution starts");
            executor.run_until_idle().await.expect("the execution runs");
            total += start.elapsed();
            drop(executor);
        }
        total
    })
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    let substitutions = substitutions();
    let text = ORDER_PROCESSING;
    Definition::load_with_substitutions(text, &substitutions).expect("order-processing loads");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("order_processing_with_substitutions", |b| {
        b.iter(|| Definition::load_with_substitutions(black_box(text), black_box(&substitutions)).expect("loads"))
    });
    let substituted = statemachine::substitute(text, &substitutions).expect("substitutes");
    let parsed: Value = serde_json::from_str(&substituted).expect("valid JSON");
    group.bench_function("order_processing_from_parsed_json", |b| {
        b.iter(|| Definition::from_json(black_box(&parsed)).expect("loads"))
    });
    let routing = routing_machine().to_string();
    group.throughput(Throughput::Bytes(routing.len() as u64));
    group.bench_function("routing_pass_choice", |b| b.iter(|| Definition::load(black_box(&routing)).expect("loads")));
    group.finish();
}

fn run(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("run_to_completion");
    let order = order_document();
    let from_json = |machine: Value| Definition::from_json(&machine).expect("the machine loads");
    let cases = [
        ("routing_pass_choice", from_json(routing_machine()), order.clone()),
        ("loop_pass_choice_50", from_json(loop_machine()), json!({"order": order.clone()})),
        (
            "order_processing_immediate_tasks",
            Definition::load_with_substitutions(ORDER_PROCESSING, &substitutions()).expect("order-processing loads"),
            order,
        ),
    ];
    for (name, definition, input) in cases {
        let definition = Arc::new(definition);
        let transitions = states_entered(&rt, &definition, &input);
        group.throughput(Throughput::Elements(transitions));
        group.bench_function(BenchmarkId::new(name, format!("{transitions}_states")), |b| {
            b.iter_custom(|iters| time_executions(&rt, &definition, &input, iters))
        });
    }
    group.finish();
}

fn paths(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pass_state_paths");
    let input = json!({"order": order_document(), "trace": {"source": "api"}});
    for (name, machine) in [("bare_pass", bare_pass_machine()), ("paths_and_parameters", paths_pass_machine())] {
        let definition = Arc::new(Definition::from_json(&machine).expect("the machine loads"));
        assert_eq!(states_entered(&rt, &definition, &input), 1);
        group.bench_function(name, |b| b.iter_custom(|iters| time_executions(&rt, &definition, &input, iters)));
    }
    group.finish();
}

criterion_group!(benches, load, run, paths);
criterion_main!(benches);
