//! The AWS cost of one order: every AWS request, and every Step Functions state transition, that an
//! order makes from `POST /orders` to `delivered`, measured on moto through the AWS adapters.
//!
//! `cargo bench -p orders --bench aws_cost` (moto from `scripts/install-moto`). It runs 1
//! order, then a batch of orders (100 by default, `-- --orders N` to change it, `-- --orders 0` to
//! skip it), and prints the requests per order by function, service and operation. How the figures
//! turn into dollars is in `docs/benchmarks/aws-cost.md`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/support/moto.rs"]
mod moto;

#[path = "../tests/support/deployment.rs"]
mod deployment;

#[path = "../tests/support/aws_cost.rs"]
mod aws_cost;

#[path = "../tests/support/bench_args.rs"]
mod args;

use std::time::Instant;

use aws_cost::{FUNCTIONS, Measurement, Pipeline};

/// The requests per order targeted by issue 16 (issue 8 asked for 12).
const TARGET_REQUESTS: f64 = 15.0;
/// The state transitions per order targeted by issue 16.
const TARGET_TRANSITIONS: f64 = 5.0;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let batch = args::orders_argument(100);
    for orders in [1, batch] {
        if orders == 0 {
            continue;
        }
        let started = Instant::now();
        let measurement = Pipeline::start().await.run(orders).await;
        print(&measurement);
        println!("({} orders in {:.1} s on moto)\n", orders, started.elapsed().as_secs_f64());
    }
}

fn print(m: &Measurement) {
    let n = m.orders as f64;
    let per = |count: u64| format_count(count as f64 / n);
    println!("== {} order(s) from POST /orders to delivered: AWS requests per order ==\n", m.orders);

    println!("Made by our code (the Lambda functions):\n");
    println!("| Function | Service | Operation | Requests |");
    println!("|---|---|---|---|");
    for function in FUNCTIONS {
        for ((service, operation), count) in m.by_function.get(function).into_iter().flatten() {
            println!("| {function} | {service} | {operation} | {} |", per(*count));
        }
    }
    println!("| **all** | | | **{}** |\n", per(m.code_requests()));

    println!("Made by Step Functions itself (the workflow's service integrations):\n");
    println!("| Integration | Requests |");
    println!("|---|---|");
    for (call, count) in &m.workflow {
        println!("| {call} | {} |", per(*count));
    }
    println!("| **all** | **{}** |\n", per(m.workflow_requests()));

    println!("Made by the stand-in for Lambda's event source mappings (see the doc for what Lambda does):\n");
    println!("| Service | Operation | Requests |");
    println!("|---|---|---|");
    for ((service, operation), count) in &m.pollers {
        println!("| {service} | {operation} | {} |", per(*count));
    }
    println!();

    println!("Lambda invocations (records or messages handed over):\n");
    println!("| Function | Invocations | Deliveries | Handler time per invocation on moto |");
    println!("|---|---|---|---|");
    for function in FUNCTIONS {
        let invocations = m.invocations.get(function).copied().unwrap_or_default();
        let deliveries = m.deliveries.get(function).map(|d| per(*d)).unwrap_or_else(|| "-".into());
        let time = m.handler_time.get(function).copied().unwrap_or_default();
        let mean = time.as_secs_f64() * 1000.0 / invocations.max(1) as f64;
        println!("| {function} | {} | {deliveries} | {mean:.1} ms |", per(invocations));
    }
    println!("(worker batches that failed: {})\n", m.failed_batches);

    let states: Vec<String> = m.states.iter().map(|(state, count)| format!("{state} {}", per(*count))).collect();
    println!("State transitions (states entered): {} per order: {}", per(m.transitions), states.join(", "));
    println!(
        "Delivered order item: {} bytes by DynamoDB's sizing, of which the task token {} bytes (moto's tokens are \
         shorter than AWS's)\n",
        m.order_item_bytes, m.task_token_bytes
    );

    let requests = (m.code_requests() + m.workflow_requests()) as f64 / n;
    let transitions = m.transitions as f64 / n;
    let verdict = |met: bool| if met { "met" } else { "not met" };
    println!(
        "Targets: {} requests per order by our code and the workflow (<= {TARGET_REQUESTS}: {}); {} transitions \
         (<= {TARGET_TRANSITIONS}: {})",
        format_count(requests),
        verdict(requests <= TARGET_REQUESTS),
        format_count(transitions),
        verdict(transitions <= TARGET_TRANSITIONS),
    );
}

/// Whole numbers as such, the rest with two decimals.
fn format_count(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}
