//! The Lambda cold-start benchmark, run by `scripts/bench-cold-start`, which builds the five
//! binaries first (release, stripped). This program owns the measurement, not the build.
//!
//! Each binary is started RUNS times, each time as a new process against a new local Lambda Runtime
//! API (`tests/support/runtime_api.rs`), with the environment Lambda gives it: region, dummy
//! credentials, its `functions::*.required_env` with plausible values, and `AWS_ENDPOINT_URL`
//! pointing at a loopback listener of this program that only counts connections. The event is
//! queued before the process starts, so its first `GET …/invocation/next` gets it at once. One run
//! measures:
//! - init: exec → the first `GET …/invocation/next` reaching the Runtime API;
//! - first response: exec → the invocation's response reaching the Runtime API;
//! - peak RSS: `VmHWM` from `/proc/PID/status`, read as soon as the response has arrived, before
//!   the process is killed.
//!
//! Every event is one whose handling needs no AWS call, and the benchmark stops if a run connects
//! to the endpoint anyway or answers other than expected. `api` gets a REST API proxy event
//! (`POST /orders` with an accepted key and a quantity of 0: 400 before any AWS call); `stream` gets
//! the record the orders table writes when a workflow registers its wait (no version or status
//! change, status not reached yet: nothing to do). Every real record of the SQS workers (`import`,
//! `backup`, `fulfilment`) needs an AWS call, even a malformed one (parked in a DLQ), so they get an
//! empty batch, which Lambda never sends: for them, init is the figure that counts.
//!
//! Runs are interleaved (one run of each binary per round) so that load from elsewhere on the
//! machine falls on every binary alike; one uncounted round first puts the binaries in the page
//! cache. Prints Markdown tables; a benchmark, not a test: it never fails on a figure.
//!
//! Usage: `cargo run --release -p orders-ingest --example cold_start -- BIN_DIR [RUNS]` (30 runs).

#[path = "../../tests/support/runtime_api.rs"]
mod runtime_api;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orders_core::adapters::aws::functions::{self, LambdaFunction};
use orders_core::adapters::aws::{AwsResources, env};
use orders_ingest::http::ApiKeys;
use runtime_api::{Invocation, RuntimeApi, spawn_function};
use serde_json::{Value, json};

/// Runs per binary when none is given.
const DEFAULT_RUNS: usize = 30;
/// The account of the plausible configuration (the Runtime API's function ARN has the same).
const ACCOUNT_ID: &str = "123456789012";
/// The region of the plausible configuration (the Runtime API sets `AWS_REGION` to the same).
const REGION: &str = "us-east-1";
/// The key `api` is configured to accept (as its digest) and that its event presents.
const API_KEY: &str = "cold-start-bench-key-0123456789";

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// One binary, the event it gets, and what it must answer.
struct Case {
    function: &'static LambdaFunction,
    /// What the event is, for the report.
    event_name: &'static str,
    event: Value,
    expected: Expected,
}

/// The answer a run must give (anything else stops the benchmark).
enum Expected {
    /// A `lambda_http` response with this status code.
    HttpStatus(u64),
    /// Exactly this response body.
    Body(Value),
}

/// What one cold start measured, in milliseconds and KiB.
struct Run {
    init_ms: f64,
    response_ms: f64,
    peak_rss_kib: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let bin_dir = PathBuf::from(args.next().ok_or("usage: cold_start BIN_DIR [RUNS]")?);
    let runs = match args.next() {
        Some(runs) => runs.parse::<usize>().map_err(|e| format!("RUNS must be a positive count: {e}"))?,
        None => DEFAULT_RUNS,
    };
    if runs == 0 {
        return Err("RUNS must be a positive count".into());
    }

    // The AWS endpoint: it accepts and drops connections, counting them. None may come.
    let endpoint = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint_url = format!("http://{}", endpoint.local_addr()?);
    let aws_connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&aws_connections);
    tokio::spawn(async move {
        while endpoint.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });

    let cases = cases();
    let mut results: Vec<Vec<Run>> = cases.iter().map(|_| Vec::with_capacity(runs)).collect();
    eprintln!("cold_start: {runs} runs of each binary in {} (one uncounted round first)", bin_dir.display());
    for round in 0..=runs {
        for (case, runs) in cases.iter().zip(results.iter_mut()) {
            let binary = bin_dir.join(case.function.binary);
            let run = cold_start(&binary, case, &endpoint_url).await?;
            let connections = aws_connections.load(Ordering::SeqCst);
            if connections > 0 {
                return Err(format!(
                    "{}: {connections} connection(s) to the AWS endpoint: the event is not free of AWS calls",
                    case.function.binary
                )
                .into());
            }
            if round > 0 {
                runs.push(run);
            }
        }
    }
    report(&bin_dir, &cases, &results, runs)
}

/// The five binaries and their events.
fn cases() -> Vec<Case> {
    let empty_batch = json!({"Records": []});
    let no_failures = json!({"batchItemFailures": []});
    vec![
        Case {
            function: &functions::API,
            event_name: "`POST /orders`, accepted key, quantity 0 → 400",
            event: api_event(),
            expected: Expected::HttpStatus(400),
        },
        Case {
            function: &functions::IMPORT,
            event_name: "empty SQS batch (synthetic)",
            event: empty_batch.clone(),
            expected: Expected::Body(no_failures.clone()),
        },
        Case {
            function: &functions::BACKUP,
            event_name: "empty SQS batch (synthetic)",
            event: empty_batch.clone(),
            expected: Expected::Body(no_failures.clone()),
        },
        Case {
            function: &functions::FULFILMENT,
            event_name: "empty SQS batch (synthetic)",
            event: empty_batch,
            expected: Expected::Body(no_failures.clone()),
        },
        Case {
            function: &functions::STREAM,
            event_name: "MODIFY: a workflow's wait registered, nothing to do",
            event: stream_event(),
            expected: Expected::Body(no_failures),
        },
    ]
}

/// One cold start of `binary`: spawn, one invocation, `VmHWM`, kill.
async fn cold_start(binary: &Path, case: &Case, endpoint_url: &str) -> Result<Run> {
    let name = case.function.binary;
    let env = function_env(case.function, endpoint_url)?;
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let api = RuntimeApi::start().await;
    let mut process = spawn_function(&binary.to_string_lossy(), &api, &env).await;
    let outcome = api.invoke(case.event.clone()).await;
    let peak_rss_kib = match process.id() {
        Some(pid) => vm_hwm_kib(pid)?,
        None => return Err(format!("{name} exited after answering: {}", process.output()).into()),
    };
    let spawned_at = process.spawned_at();
    let (Some(first_next_at), Some(responded_at)) = (api.first_next_at(), api.last_outcome_at()) else {
        return Err(format!("{name}: the Runtime API saw no request for an event or no outcome").into());
    };
    process.kill().await;
    let answered = match (&outcome, &case.expected) {
        (Invocation::Response(response), Expected::HttpStatus(status)) => {
            response.get("statusCode").and_then(Value::as_u64) == Some(*status)
        }
        (Invocation::Response(response), Expected::Body(body)) => response == body,
        (Invocation::Error(_), _) => false,
    };
    if !answered {
        return Err(format!("{name} answered {outcome:?}; output:\n{}", process.output()).into());
    }
    Ok(Run {
        init_ms: millis(first_next_at.saturating_duration_since(spawned_at)),
        response_ms: millis(responded_at.saturating_duration_since(spawned_at)),
        peak_rss_kib,
    })
}

/// The environment `function` is deployed with (infra/template.yaml), with plausible values, and the
/// endpoint; `spawn_function` adds what Lambda itself sets (region, credentials, Runtime API).
fn function_env(function: &LambdaFunction, endpoint_url: &str) -> Result<Vec<(&'static str, String)>> {
    let resources = AwsResources::named("orders", ACCOUNT_ID, REGION);
    let queue_url = |queue: &str| format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/orders-{queue}");
    let mut vars = vec![
        (env::AWS_ENDPOINT_URL, endpoint_url.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", format!("orders-{}", function.binary)),
    ];
    for &name in function.required_env {
        let value = match name {
            env::ORDERS_TABLE => resources.orders_table.clone(),
            env::CATALOG_TABLE => resources.catalog_table.clone(),
            env::IDEMPOTENCY_TABLE => resources.idempotency_table.clone(),
            env::COUNTERS_TABLE => resources.counters_table.clone(),
            env::STATE_MACHINE_ARN => resources.state_machine_arn.clone(),
            env::BACKUP_BUCKET => resources.backup_bucket.clone(),
            env::BACKUP_QUEUE_URL => queue_url("backup"),
            env::BACKUP_DLQ_URL => queue_url("backup-dlq"),
            env::FULFILMENT_DLQ_URL => queue_url("fulfilment-dlq"),
            env::IMPORT_DLQ_URL => queue_url("import-dlq"),
            env::API_KEY_SHA256 => ApiKeys::hex_digest(API_KEY),
            env::AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH => "true".to_owned(),
            other => return Err(format!("the benchmark has no plausible value for {other}: add one").into()),
        };
        vars.push((name, value));
    }
    Ok(vars)
}

/// An API Gateway REST API (v1) proxy event: `POST /orders` behind the `prod` stage, with an accepted
/// key and an order whose quantity is 0, refused by validation before pricing reads the catalog.
fn api_event() -> Value {
    let body = json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 0}]});
    let headers = json!({
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "Content-Type": "application/json",
        "x-api-key": API_KEY,
    });
    let multi_headers: serde_json::Map<String, Value> = headers
        .as_object()
        .map(|headers| headers.iter().map(|(name, value)| (name.clone(), json!([value]))).collect())
        .unwrap_or_default();
    json!({
        "resource": "/{proxy+}",
        "path": "/orders",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": "orders"},
        "stageVariables": null,
        "requestContext": {
            "accountId": ACCOUNT_ID, "resourceId": "abc", "stage": "prod", "requestId": "cold-start-1",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "cold-start"}, "resourcePath": "/{proxy+}",
            "httpMethod": "POST", "apiId": "abc123", "path": "/prod/orders", "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1_732_520_000_000_i64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// A DynamoDB stream MODIFY record as the orders table writes it when the workflow registers its
/// wait for `shipped` (`awaiting_status` and `task_token` set; version and status unchanged): no
/// backup job, no reconciliation, and no callback until the order is shipped.
fn stream_event() -> Value {
    let order_id = "550e8400-e29b-41d4-a716-446655440000";
    let old_image = json!({
        "order_id": {"S": order_id},
        "customer_id": {"S": "CUST001"},
        "status": {"S": "processing"},
        "total_cents": {"N": "15075"},
        "version": {"N": "2"},
        "created_at": {"S": "2024-11-25T07:33:20.000Z"},
        "updated_at": {"S": "2024-11-25T07:33:20.100Z"},
        "execution_arn": {"S": format!("arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:orders-OrderProcessing:{order_id}")},
        "items": {"L": [
            {"M": {"product_id": {"S": "PROD001"}, "quantity": {"N": "2"}, "unit_price_cents": {"N": "2550"}, "line_total_cents": {"N": "5100"}}},
            {"M": {"product_id": {"S": "PROD002"}, "quantity": {"N": "1"}, "unit_price_cents": {"N": "9975"}, "line_total_cents": {"N": "9975"}}}
        ]}
    });
    let mut new_image = old_image.clone();
    new_image["awaiting_status"] = json!({"S": "shipped"});
    new_image["task_token"] = json!({"S": "AQCEAAAAKgAAAAMAAAAAAAAAAU+example-token"});
    json!({"Records": [{
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_732_520_000,
            "Keys": {"order_id": {"S": order_id}},
            "OldImage": old_image,
            "NewImage": new_image,
            "SequenceNumber": "111100000000000000000001",
            "SizeBytes": 812,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/orders-orders/stream/2024-11-25T00:00:00.000")
    }]})
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmHWM:")).ok_or("no VmHWM in /proc/PID/status")?;
    let kib = line.trim().trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Median, p90 (nearest rank), min and max of some figures.
struct Summary {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

fn summary(mut values: Vec<f64>) -> Summary {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let at = |index: usize| values.get(index).copied().unwrap_or(f64::NAN);
    let median = if n % 2 == 1 { at(n / 2) } else { (at(n / 2 - 1) + at(n / 2)) / 2.0 };
    let p90 = at((n * 9).div_ceil(10).saturating_sub(1));
    Summary { median, p90, min: at(0), max: at(n.saturating_sub(1)) }
}

/// Prints the tables (Markdown) to stdout.
fn report(bin_dir: &Path, cases: &[Case], results: &[Vec<Run>], runs: usize) -> Result<()> {
    println!("{runs} cold starts of each binary in {}; times from exec, in ms.\n", bin_dir.display());
    println!(
        "| Binary | Size | Init median (p90, min–max) | First response median | p90 | min | max | Peak RSS median (max) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (case, runs) in cases.iter().zip(results) {
        let bytes = std::fs::metadata(bin_dir.join(case.function.binary))?.len();
        let init = summary(runs.iter().map(|run| run.init_ms).collect());
        let response = summary(runs.iter().map(|run| run.response_ms).collect());
        let rss = summary(runs.iter().map(|run| run.peak_rss_kib as f64 / 1024.0).collect());
        let mib = bytes as f64 / (1024.0 * 1024.0);
        println!(
            "| `{}` | {bytes} B ({mib:.1} MiB) | {:.1} ({:.1}, {:.1}–{:.1}) | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} MiB ({:.1}) |",
            case.function.binary,
            init.median,
            init.p90,
            init.min,
            init.max,
            response.median,
            response.p90,
            response.min,
            response.max,
            rss.median,
            rss.max,
        );
    }
    println!("\n| Binary | Event (none makes an AWS call: 0 connections to the endpoint) |");
    println!("|---|---|");
    for case in cases {
        println!("| `{}` | {} |", case.function.binary, case.event_name);
    }
    Ok(())
}
