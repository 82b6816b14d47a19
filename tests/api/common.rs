//! Test harness: starts the real `orders serve` binary on a free port with its own data dir, and
//! talks HTTP to it. Each test gets a fresh server; its log is kept in `server.log` in the data dir.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use orders_testkit::{eventually, eventually_within};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The key every test server accepts.
pub const API_KEY: &str = "test-key-0123456789abcdef";

/// The seed's create example.
pub fn seed_order() -> Value {
    json!({
        "customer_id": "CUST001",
        "items": [
            { "product_id": "PROD001", "quantity": 2 },
            { "product_id": "PROD002", "quantity": 1 }
        ]
    })
}

/// A running `orders serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Lines it printed on stdout before it listened.
    pub banner: Vec<String>,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    client: Client,
}

/// How to start a server.
pub struct Launch {
    /// Data dir to use (a fresh temporary one when `None`).
    pub data_dir: Option<PathBuf>,
    /// `ORDERS_API_KEY`; `None` leaves it unset.
    pub api_key: Option<String>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Run against this AWS-compatible endpoint (with resources named by `prefix`) instead of the
    /// embedded default.
    pub aws: Option<AwsTarget>,
    /// With `aws`: pass `--demo-catalog` (the moto scenarios price orders with the demo products).
    pub aws_demo_catalog: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// An AWS-compatible endpoint and the resource prefix a test uses there.
#[derive(Clone)]
pub struct AwsTarget {
    /// e.g. `http://127.0.0.1:5000`.
    pub endpoint: String,
    /// Resource name prefix (unique per test).
    pub prefix: String,
}

impl AwsTarget {
    /// The backup bucket `orders serve` uses there.
    pub fn bucket(&self) -> String {
        format!("{}-backups-123456789012-us-east-1", self.prefix)
    }
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            data_dir: None,
            api_key: Some(API_KEY.into()),
            args: Vec::new(),
            aws: None,
            aws_demo_catalog: true,
            env: Vec::new(),
        }
    }
}

impl Server {
    /// A fresh server with [`API_KEY`].
    pub async fn start() -> Server {
        Self::launch(Launch::default()).await
    }

    /// A server over an existing data dir (for restarts).
    pub async fn start_in(data_dir: &Path) -> Server {
        Self::launch(Launch { data_dir: Some(data_dir.to_owned()), ..Launch::default() }).await
    }

    /// A server started as `launch` says; panics with the server's output if it does not listen.
    pub async fn launch(launch: Launch) -> Server {
        let (temp, data_dir) = match launch.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::tempdir().unwrap();
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        std::fs::create_dir_all(&data_dir).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("server.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_orders"));
        command
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(&launch.args)
            .env("RUST_LOG", "info")
            .env_remove("ORDERS_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(key) = &launch.api_key {
            command.env("ORDERS_API_KEY", key);
        }
        if let Some(aws) = &launch.aws {
            command
                .args(["--aws-endpoint", &aws.endpoint, "--prefix", &aws.prefix])
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .env_remove("AWS_PROFILE");
            if launch.aws_demo_catalog {
                command.arg("--demo-catalog");
            }
        }
        // Last: a scenario's own variables win (its credentials, on an emulator that checks them).
        command.envs(launch.env.iter().map(|(name, value)| (name, value)));
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                banner.push(line.clone());
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return Some(rest.split_whitespace().next().unwrap().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(base) = base else {
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("orders serve did not start. stdout: {banner:?}\nlog:\n{log}");
        };
        Server { child, base, banner, data_dir, _temp: temp, client: Client::new() }
    }

    /// The data dir in use.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A request with the test key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base)).header("x-api-key", API_KEY)
    }

    /// A request without any key.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `POST /orders` with `body`.
    pub async fn create(&self, body: &Value) -> Response {
        self.request(Method::POST, "/orders").json(body).send().await.unwrap()
    }

    /// Creates an order for `customer` and returns its id.
    pub async fn create_for(&self, customer: &str) -> String {
        let mut body = seed_order();
        body["customer_id"] = json!(customer);
        let response = self.create(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body_json(response).await["order_id"].as_str().unwrap().to_owned()
    }

    /// Creates an order for `customer` and waits until its workflow has marked it `processing`
    /// (version 2); returns its id.
    pub async fn create_processing(&self, customer: &str) -> String {
        let order_id = self.create_for(customer).await;
        self.wait_for_order(&order_id, |order| order["status"] == "processing").await;
        order_id
    }

    /// Polls the order until `done` holds ([`orders_testkit::EVENTUALLY`] at most); returns it.
    pub async fn wait_for_order(&self, order_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(&format!("/orders/{order_id}"), done).await
    }

    /// Polls `GET path` until `done` holds for the JSON body ([`orders_testkit::EVENTUALLY`] at most);
    /// returns it.
    pub async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually(format!("GET {path} to answer as expected"), async || {
            let (_, body) = self.get_json(path).await;
            if done(&body) { Ok(body) } else { Err(body) }
        })
        .await
    }

    /// Waits until `GET /orders` counts `total` orders (`timeout` at most); panics at once when it
    /// counts more.
    pub async fn wait_for_total(&self, total: u64, timeout: Duration) {
        eventually_within(timeout, format!("{total} orders listed"), async || {
            let (_, list) = self.get_json("/orders?limit=1").await;
            let now = list["pagination"]["total"].as_u64().unwrap_or_default();
            assert!(now <= total, "more orders than expected: {now} > {total}");
            if now == total { Ok(()) } else { Err(format!("only {now} of {total} orders")) }
        })
        .await
    }

    /// `GET path` with the key, as JSON.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.request(Method::GET, path).send().await.unwrap();
        let status = response.status();
        (status, body_json(response).await)
    }

    /// `PUT /orders/{id}/status`.
    pub async fn set_status(&self, order_id: &str, status: &str, if_match: Option<&str>) -> Response {
        let mut request =
            self.request(Method::PUT, &format!("/orders/{order_id}/status")).json(&json!({ "status": status }));
        if let Some(version) = if_match {
            request = request.header("If-Match", version);
        }
        request.send().await.unwrap()
    }

    /// Stops the server with `signal` (`TERM`, `INT`, `KILL`) and returns its exit code.
    pub async fn stop_with(mut self, signal: &str) -> Option<i32> {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill").args([format!("-{signal}"), pid]).status().unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        status.code()
    }
}

/// Runs an `orders` operator command on the embedded data in `data_dir` (also while a server runs
/// on it): whether it succeeded, its stdout and its stderr.
pub fn orders_cli(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("ORDERS_API_KEY")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs an `orders` operator command against the AWS-compatible endpoint of `aws` (the data dir
/// holds only the key digest): whether it succeeded, and its stdout and stderr together.
pub fn orders_aws_cli(aws: &AwsTarget, data_dir: &Path, args: &[&str]) -> (bool, String) {
    orders_aws_cli_as(aws, data_dir, ("testing", "testing"), args)
}

/// As [`orders_aws_cli`], signing with `keys` (access key id, secret): for an endpoint that checks
/// who calls.
pub fn orders_aws_cli_as(aws: &AwsTarget, data_dir: &Path, keys: (&str, &str), args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(args)
        .args(["--aws-endpoint", &aws.endpoint, "--prefix", &aws.prefix, "--data-dir"])
        .arg(data_dir)
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

/// A response body as JSON (panics, showing the text, if it is not JSON).
pub async fn body_json(response: Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Asserts a response's status and its `{"message": …}` body exactly.
pub async fn assert_error(response: Response, status: StatusCode, message: &str) {
    assert_eq!(response.status(), status, "unexpected status");
    assert_eq!(
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()),
        Some("application/json".to_owned())
    );
    assert_eq!(body_json(response).await, json!({ "message": message }));
}
