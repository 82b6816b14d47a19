//! A local Lambda Runtime API for tests: it hands a real Lambda binary (started with
//! `AWS_LAMBDA_RUNTIME_API` pointing here) the events a test queues, with the headers Lambda sends,
//! and collects what the binary posts back: a response, an invocation error, or an init error.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function's response payload.
    Response(Value),
    /// The error it reported (`errorType`, `errorMessage`).
    Error(Value),
}

#[derive(Default)]
struct Shared {
    waiting: HashMap<String, oneshot::Sender<Invocation>>,
    init_error: Option<Value>,
}

#[derive(Clone)]
struct Api {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    shared: Arc<Mutex<Shared>>,
}

/// The Runtime API server.
pub struct RuntimeApi {
    address: String,
    queue: mpsc::Sender<(String, Value)>,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

async fn next(State(api): State<Api>) -> impl IntoResponse {
    let Some((request_id, event)) = api.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let header = |text: String| HeaderValue::from_str(&text).expect("a header value");
    headers.insert("Lambda-Runtime-Aws-Request-Id", header(request_id));
    headers.insert("Lambda-Runtime-Deadline-Ms", header(deadline.to_string()));
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:under-test".into()),
    );
    headers.insert("Lambda-Runtime-Trace-Id", header("Root=1-00000000-000000000000000000000000;Sampled=0".into()));
    headers.insert("Content-Type", header("application/json".into()));
    (StatusCode::OK, headers, event.to_string())
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(api): State<Api>, Path(request_id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(waiter) = api.shared.lock().await.waiting.remove(&request_id) {
        let _ = waiter.send(Invocation::Response(json_or_text(&body)));
    }
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Api>, Path(request_id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(waiter) = api.shared.lock().await.waiting.remove(&request_id) {
        let _ = waiter.send(Invocation::Error(json_or_text(&body)));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    api.shared.lock().await.init_error = Some(json_or_text(&body));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> RuntimeApi {
        let (queue, events) = mpsc::channel(16);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let api = Api { events: Arc::new(Mutex::new(events)), shared: shared.clone() };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{request_id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{request_id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("its address").to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi { address, queue, shared, server }
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value (`127.0.0.1:PORT`).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Hands `event` to the function and waits (30 s at most) for what it posts back.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (answer, answered) = oneshot::channel();
        self.shared.lock().await.waiting.insert(request_id.clone(), answer);
        self.queue.send((request_id, event)).await.expect("the runtime API is running");
        tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .expect("the function answered within 30 s")
            .expect("the answer arrived")
    }

    /// The init error the function reported, if any.
    pub async fn init_error(&self) -> Option<Value> {
        self.shared.lock().await.init_error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A function process started as Lambda starts one.
pub struct FunctionProcess {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FunctionProcess {
    /// What the function printed (its logs).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to end (`None` if it is still running after `timeout`).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait()).await.ok().and_then(Result::ok)
    }
}

/// Starts `binary` with the environment Lambda gives a function, plus `env`.
pub async fn spawn_function(binary: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> FunctionProcess {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let log = dir.path().join("function.log");
    let output = std::fs::File::create(&log).expect("a log file");
    let errors = output.try_clone().expect("a second handle on the log");
    let name = std::path::Path::new(binary).file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
    let child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .kill_on_drop(true)
        .spawn()
        .expect("the function starts");
    FunctionProcess { child, log, _dir: dir }
}
