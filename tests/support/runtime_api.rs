//! A Lambda Runtime API for tests: owns playing the Lambda service towards a real function binary
//! built with `lambda_runtime`. It serves the runtime side of the API (version 2018-06-01) on a free
//! loopback port, hands queued events to the function (`GET …/invocation/next`, with the headers
//! Lambda sends), collects each invocation's response or error and any init error, and spawns the
//! binary with the environment Lambda gives it (`AWS_LAMBDA_RUNTIME_API` pointing here). It also
//! notes when the function first asked for an event and when an outcome last arrived, and when the
//! process was spawned, for the cold-start benchmark (`ingest/examples/cold_start.rs`).
//!
//! Include it with `#[path = "…/tests/support/runtime_api.rs"] mod runtime_api;`. It needs tokio,
//! serde_json and axum 0.8 (`http1`, `json`, `tokio`). One invocation at a time per function process,
//! as in Lambda; several processes may poll the same API.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

/// How long [`RuntimeApi::invoke`] waits for an outcome; also the deadline given to the function.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The account in the invoked function ARN: moto's default account, as the functions run against moto.
const ACCOUNT_ID: &str = "123456789012";
/// The region in the ARN and in `AWS_REGION`.
const REGION: &str = "us-east-1";

/// Makes request ids and output file names unique within the test process.
static COUNTER: AtomicU64 = AtomicU64::new(1);

/// What one invocation ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The body the function posted to `…/invocation/{id}/response` (a JSON string if it was not JSON).
    Response(Value),
    /// The body the function posted to `…/invocation/{id}/error`; from `lambda_runtime`,
    /// `{"errorType": "…", "errorMessage": "…"}`.
    Error(Value),
}

/// An event waiting for the function to ask for it.
struct Queued {
    request_id: String,
    body: Bytes,
}

/// State shared by the handle and the server.
struct Shared {
    queue: Mutex<VecDeque<Queued>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Invocation>>>,
    init_error: Mutex<Option<Value>>,
    function_name: Mutex<String>,
    port: u16,
    /// When the first `GET …/invocation/next` arrived (the function's init was done).
    first_next_at: Mutex<Option<Instant>>,
    /// When the last response or error arrived.
    last_outcome_at: Mutex<Option<Instant>>,
}

/// A Lambda Runtime API server on `127.0.0.1`; it stops when dropped.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the server on a free loopback port.
    pub async fn start() -> RuntimeApi {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port for the Runtime API");
        let port = listener.local_addr().expect("the Runtime API listener's address").port();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            function_name: Mutex::new("function".to_owned()),
            port,
            first_next_at: Mutex::new(None),
            last_outcome_at: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{request_id}/response", post(invocation_response))
            .route("/2018-06-01/runtime/invocation/{request_id}/error", post(invocation_error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unknown_route)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("the test Runtime API stopped: {error}");
            }
        });
        RuntimeApi { shared, server }
    }

    /// `127.0.0.1:PORT`: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.shared.port)
    }

    /// Queues `event` for the function and waits (30 s at most) for its response or error. Panics
    /// when neither comes, saying whether the function ever took the event.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let request_id = new_request_id(self.shared.port);
        let body = Bytes::from(serde_json::to_vec(&event).expect("a serde_json::Value serializes"));
        let (sender, outcome) = oneshot::channel();
        lock(&self.shared.waiting).insert(request_id.clone(), sender);
        lock(&self.shared.queue).push_back(Queued { request_id: request_id.clone(), body });
        self.shared.queued.notify_one();
        match tokio::time::timeout(INVOKE_TIMEOUT, outcome).await {
            Ok(Ok(invocation)) => invocation,
            Ok(Err(_)) => panic!("the Runtime API stopped before request {request_id} ended"),
            Err(_) => {
                lock(&self.shared.waiting).remove(&request_id);
                let never_taken = {
                    let mut queue = lock(&self.shared.queue);
                    let queued = queue.iter().any(|queued| queued.request_id == request_id);
                    queue.retain(|queued| queued.request_id != request_id);
                    queued
                };
                let init_error = lock(&self.shared.init_error).clone();
                panic!(
                    "no response or error for request {request_id} within {INVOKE_TIMEOUT:?}: {}; init error: {}; \
                     event: {event}",
                    if never_taken {
                        "the function never asked for it (is it running?)"
                    } else {
                        "the function took it but never answered"
                    },
                    init_error.map_or_else(|| "none".to_owned(), |error| error.to_string()),
                )
            }
        }
    }

    /// The body the function posted to `…/init/error`, if it posted one.
    pub async fn init_error(&self) -> Option<Value> {
        lock(&self.shared.init_error).clone()
    }

    /// When a function first asked for an event (`GET …/invocation/next`), if one did.
    pub fn first_next_at(&self) -> Option<Instant> {
        *lock(&self.shared.first_next_at)
    }

    /// When the last response or error of an invocation arrived, if one did.
    pub fn last_outcome_at(&self) -> Option<Instant> {
        *lock(&self.shared.last_outcome_at)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A function binary running against a [`RuntimeApi`]; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    output: PathBuf,
    spawned_at: Instant,
}

impl FunctionProcess {
    /// Everything the function printed so far, stdout and stderr interleaved.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// The process id, while the process has not been reaped.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// When the process was spawned (taken just before the spawn).
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// Kills the process and waits for it to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Some(status.unwrap_or_else(|error| panic!("cannot wait for the function process: {error}"))),
            Err(_) => None,
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.output);
    }
}

/// Spawns `binary` as Lambda would, in an environment holding only what Lambda sets (plus `PATH`,
/// and `RUST_BACKTRACE` when the test has it): `AWS_LAMBDA_RUNTIME_API` = `api`'s address,
/// `AWS_LAMBDA_FUNCTION_NAME` (the binary's file name), `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`,
/// `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`, log group and stream, `AWS_REGION=us-east-1` and dummy
/// credentials (`testing`), then `env`, which may override any of them. Its stdout and stderr go to
/// a file read by [`FunctionProcess::output`]; it is killed when the handle is dropped.
pub async fn spawn_function(binary: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> FunctionProcess {
    let stem = Path::new(binary).file_name().and_then(|name| name.to_str()).unwrap_or("function").to_owned();
    let name = env
        .iter()
        .find(|(key, _)| *key == "AWS_LAMBDA_FUNCTION_NAME")
        .map_or_else(|| stem.clone(), |(_, value)| (*value).to_owned());
    *lock(&api.shared.function_name) = name.clone();
    let output = std::env::temp_dir().join(format!(
        "lambda-{stem}-{}-{}.log",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let stdout = std::fs::File::create(&output)
        .unwrap_or_else(|error| panic!("cannot create the function's output file {}: {error}", output.display()));
    let stderr = stdout.try_clone().expect("a second handle on the function's output file");
    let mut command = Command::new(binary);
    command.env_clear();
    for inherited in ["PATH", "RUST_BACKTRACE"] {
        if let Some(value) = std::env::var_os(inherited) {
            command.env(inherited, value);
        }
    }
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2024/01/01/[$LATEST]00000000000000000000000000000000")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    let spawned_at = Instant::now();
    let child = command.spawn().unwrap_or_else(|error| panic!("cannot spawn the function binary {binary}: {error}"));
    FunctionProcess { child, output, spawned_at }
}

/// `GET /2018-06-01/runtime/invocation/next`: waits for a queued event and hands it out with the
/// invocation's headers.
async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    lock(&shared.first_next_at).get_or_insert_with(Instant::now);
    let queued = loop {
        let notified = shared.queued.notified();
        let next = lock(&shared.queue).pop_front();
        if let Some(queued) = next {
            break queued;
        }
        notified.await;
    };
    let deadline = SystemTime::now() + INVOKE_TIMEOUT;
    let deadline_ms = deadline.duration_since(UNIX_EPOCH).map(|since| since.as_millis()).unwrap_or_default();
    let function_name = lock(&shared.function_name).clone();
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}");
    let trace_id = trace_id(&queued.request_id);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &queued.request_id)
        .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", arn)
        .header("lambda-runtime-trace-id", trace_id)
        .body(Body::from(queued.body))
        .unwrap_or_else(|error| panic!("cannot build the next-invocation response: {error}"))
}

/// `POST /2018-06-01/runtime/invocation/{request_id}/response`.
async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    settle(&shared, &request_id, Invocation::Response(json_or_string(&body)))
}

/// `POST /2018-06-01/runtime/invocation/{request_id}/error`.
async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    settle(&shared, &request_id, Invocation::Error(json_or_string(&body)))
}

/// `POST /2018-06-01/runtime/init/error`.
async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let error = json_or_string(&body);
    eprintln!(
        "the function reported an init error ({}): {error}",
        headers.get("lambda-runtime-function-error-type").and_then(|value| value.to_str().ok()).unwrap_or("no type")
    );
    *lock(&shared.init_error) = Some(error);
    accepted()
}

/// Anything else the function asks for.
async fn unknown_route() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"errorType": "NotFound", "errorMessage": "not a Runtime API route"})))
        .into_response()
}

/// Hands an outcome to the waiting [`RuntimeApi::invoke`]; 400 for an unknown or settled request.
fn settle(shared: &Shared, request_id: &str, invocation: Invocation) -> Response {
    *lock(&shared.last_outcome_at) = Some(Instant::now());
    let waiting = lock(&shared.waiting).remove(request_id);
    match waiting {
        Some(sender) => {
            let _ = sender.send(invocation);
            accepted()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "errorType": "InvalidRequestID",
                "errorMessage": format!("no invocation {request_id} is waiting for an outcome"),
            })),
        )
            .into_response(),
    }
}

/// `202 {"status":"OK"}`, what Lambda answers to a recorded outcome.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// The body as JSON, or as a JSON string when it is not JSON.
fn json_or_string(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A UUID-shaped request id, unique within the test process.
fn new_request_id(port: u16) -> String {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-{port:04x}-4000-8000-{count:012x}", std::process::id())
}

/// An X-Ray trace header for the request (not sampled).
fn trace_id(request_id: &str) -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or_default();
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let hex = format!("{hex:0>24}");
    format!("Root=1-{seconds:08x}-{};Parent={};Sampled=0", &hex[hex.len() - 24..], &hex[hex.len() - 16..])
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not hide the real failure).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An API Gateway REST API (v1) proxy event for `method path` on the stage `prod`, as API Gateway
/// hands it to the function behind `/{proxy+}`.
pub fn rest_event(method: &str, path: &str, query: Option<Value>, key: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Content-Type": "application/json"});
    if let Some(key) = key {
        headers["x-api-key"] = json!(key);
    }
    let multi_headers: serde_json::Map<String, Value> =
        headers.as_object().expect("headers are an object").iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let multi_query = query.as_ref().map(|q| {
        q.as_object()
            .expect("a query is an object")
            .iter()
            .map(|(k, v)| (k.clone(), json!([v])))
            .collect::<serde_json::Map<_, _>>()
    });
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "prod", "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"}, "resourcePath": "/{proxy+}",
            "httpMethod": method, "apiId": "abc123", "path": format!("/prod{path}"), "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1732520000000i64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// The status and JSON body of a proxy response; panics when the function failed.
pub fn rest_response(invocation: Invocation) -> (u64, Value) {
    let Invocation::Response(response) = invocation else { panic!("the function failed: {invocation:?}") };
    let status = response["statusCode"].as_u64().expect("a proxy response has a statusCode");
    let body = response["body"].as_str().map_or(Value::Null, |body| serde_json::from_str(body).unwrap_or(json!(body)));
    (status, body)
}
