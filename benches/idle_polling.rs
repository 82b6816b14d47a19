//! What an idle `orders serve --aws-endpoint` costs, and how fast an order reaches its first backup:
//! each `orders` binary named runs against a moto of its own, behind a proxy that counts every AWS
//! request it forwards (by operation), first idle for `--idle-seconds`, then for `--orders` orders
//! created one at a time, each after a quiet spell of `--gap-seconds` (longer than the stream
//! reader's climb to its longest idle pause), timing `POST /orders` → its `v1` backup object in S3
//! (and → `v2`, the backup of the workflow's own `processing` write); last, how long SIGTERM takes.
//!
//! `cargo bench -p orders --bench idle_polling -- --bin before=PATH --bin after=PATH` (moto from
//! `scripts/install-moto`); without `--bin`, the `orders` binary of this build. Results and the
//! run they come from: `docs/benchmarks/idle-polling.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use moto::Moto;
use orders_core::adapters::aws::AwsClients;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

const API_KEY: &str = "idle-polling-benchmark-key-0123456789";
const PREFIX: &str = "idle";
/// How long a backup may take before the run is abandoned.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the harness looks for a backup object (straight at moto, not counted).
const LOOK_EVERY: Duration = Duration::from_millis(10);

struct Args {
    binaries: Vec<(String, PathBuf)>,
    idle: Duration,
    orders: usize,
    gap: Duration,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let number = |name: &str, default: u64| {
        value(name).map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name} takes a number"))).unwrap_or(default)
    };
    let mut binaries: Vec<(String, PathBuf)> = args
        .windows(2)
        .filter(|pair| pair[0] == "--bin")
        .map(|pair| {
            let (label, path) = pair[1].split_once('=').expect("--bin takes LABEL=PATH");
            (label.to_owned(), PathBuf::from(path))
        })
        .collect();
    if binaries.is_empty() {
        binaries.push(("this build".into(), PathBuf::from(env!("CARGO_BIN_EXE_orders"))));
    }
    Args {
        binaries,
        idle: Duration::from_secs(number("--idle-seconds", 60)),
        orders: number("--orders", 20) as usize,
        gap: Duration::from_secs(number("--gap-seconds", 5)),
    }
}

/// Forwards every request to moto and counts it by operation.
#[derive(Clone)]
struct CountingProxy {
    upstream: String,
    client: reqwest::Client,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CountingProxy {
    async fn start(upstream: String) -> (CountingProxy, String) {
        let proxy = CountingProxy {
            upstream,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            counts: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (proxy, endpoint)
    }

    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
}

/// The operation a request calls: the JSON protocols name it in `X-Amz-Target`, S3 in `x-id`.
fn operation(request: &Request) -> String {
    if let Some(target) = request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let query = request.uri().query().unwrap_or_default();
    match query.split('&').find_map(|pair| pair.strip_prefix("x-id=")) {
        Some(operation) => operation.to_owned(),
        None => format!("{} {}", request.method(), request.uri().path()),
    }
}

const HOP_BY_HOP: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

async fn forward(State(proxy): State<CountingProxy>, request: Request) -> Response {
    *proxy.counts.lock().unwrap().entry(operation(&request)).or_default() += 1;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream = proxy.client.request(parts.method, format!("{}{path}", proxy.upstream)).body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer.bytes().await.unwrap_or_default())).unwrap()
}

struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

async fn serve(binary: &PathBuf, endpoint: &str) -> Server {
    let data = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(data.path().join("server.log")).unwrap();
    let mut child = Command::new(binary)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--aws-endpoint", endpoint, "--prefix", PREFIX, "--demo-catalog"])
        .env("ORDERS_API_KEY", API_KEY)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("orders serve ended before it listened")
    })
    .await
    .expect("orders serve listens within 60 s");
    Server { child, base, _data: data }
}

struct Run {
    idle: BTreeMap<String, u64>,
    idle_seconds: f64,
    first_backup: Vec<Duration>,
    second_backup: Vec<Duration>,
    shutdown: Duration,
}

async fn measure(binary: &PathBuf, args: &Args) -> Run {
    let moto = Moto::start().await;
    let (proxy, endpoint) = CountingProxy::start(moto.endpoint()).await;
    let mut server = serve(binary, &endpoint).await;
    let s3 = AwsClients::for_emulator(&moto.endpoint(), "us-east-1").await.s3;
    let bucket = format!("{PREFIX}-backups-123456789012-us-east-1");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // Past the start (setup, first reads), then idle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.take();
    let started = Instant::now();
    tokio::time::sleep(args.idle).await;
    let idle = proxy.take();
    let idle_seconds = started.elapsed().as_secs_f64();

    let mut first_backup = Vec::new();
    let mut second_backup = Vec::new();
    for _ in 0..args.orders {
        tokio::time::sleep(args.gap).await;
        let order = json!({"customer_id": "CUST001", "items": [
            {"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]});
        let posted = Instant::now();
        let response = http
            .post(format!("{}/orders", server.base))
            .header("x-api-key", API_KEY)
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        let id = body["order_id"].as_str().unwrap().to_owned();
        for (version, times) in [(1, &mut first_backup), (2, &mut second_backup)] {
            let key = format!("orders/{id}/v{version}.json");
            loop {
                if s3.head_object().bucket(&bucket).key(&key).send().await.is_ok() {
                    times.push(posted.elapsed());
                    break;
                }
                assert!(posted.elapsed() < BACKUP_TIMEOUT, "no {key} after {BACKUP_TIMEOUT:?}");
                tokio::time::sleep(LOOK_EVERY).await;
            }
        }
    }

    let stopping = Instant::now();
    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(60), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "orders serve exited with {status}");
    Run { idle, idle_seconds, first_backup, second_backup, shutdown: stopping.elapsed() }
}

fn millis(duration: Duration) -> String {
    format!("{:.0}", duration.as_secs_f64() * 1000.0)
}

/// (median, p90, max) in milliseconds.
fn spread(times: &[Duration]) -> (String, String, String) {
    let mut sorted = times.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return ("-".into(), "-".into(), "-".into());
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (millis(at(0.5)), millis(at(0.9)), millis(*sorted.last().unwrap()))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = args();
    let mut runs = Vec::new();
    for (label, binary) in &args.binaries {
        println!("running {label} ({})…", binary.display());
        runs.push((label, measure(binary, &args).await));
    }

    println!("\n== Idle: AWS requests per second over {} s with no order in flight ==\n", args.idle.as_secs());
    let operations: std::collections::BTreeSet<&String> = runs.iter().flat_map(|(_, r)| r.idle.keys()).collect();
    let labels: Vec<&str> = runs.iter().map(|(label, _)| label.as_str()).collect();
    println!("| Operation | {} |", labels.join(" | "));
    println!("|---|{}", "---|".repeat(labels.len()));
    for operation in &operations {
        let cells: Vec<String> = runs
            .iter()
            .map(|(_, r)| format!("{:.2}", r.idle.get(*operation).copied().unwrap_or(0) as f64 / r.idle_seconds))
            .collect();
        println!("| {operation} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> =
        runs.iter().map(|(_, r)| format!("**{:.2}**", r.idle.values().sum::<u64>() as f64 / r.idle_seconds)).collect();
    println!("| **all** | {} |", totals.join(" | "));

    println!(
        "\n== {} orders, each after {} s idle: POST /orders → backup object in S3 (ms: median / p90 / max) ==\n",
        args.orders,
        args.gap.as_secs()
    );
    println!("| Binary | → v1 (first backup) | → v2 (after the workflow's `processing` write) | SIGTERM → exit |");
    println!("|---|---|---|---|");
    for (label, run) in &runs {
        let (m1, p1, x1) = spread(&run.first_backup);
        let (m2, p2, x2) = spread(&run.second_backup);
        println!("| {label} | {m1} / {p1} / {x1} | {m2} / {p2} / {x2} | {} ms |", millis(run.shutdown));
    }
}
