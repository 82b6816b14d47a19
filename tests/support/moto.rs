//! moto for tests: owns starting `.venv/bin/moto_server` (installed by `scripts/install-moto`, pinned by
//! `tools/moto/requirements.txt`) on a free loopback port, waiting until it answers, turning on Step
//! Functions execution (before any state machine exists, as moto requires), resetting it between
//! scenarios, and killing it when dropped.
//!
//! Include it with `#[path = "…/tests/support/moto.rs"] mod moto;`. It needs only tokio, reqwest,
//! serde_json and orders-testkit. A test that needs moto starts it and never skips: without moto it
//! fails, saying how to install it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orders_testkit::eventually_within;
use tokio::process::{Child, Command};

/// How long moto gets to answer after it was spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How many ports are tried when moto cannot bind the one it was given.
const ATTEMPTS: usize = 5;
/// The config that makes moto's Step Functions run executions instead of leaving them `RUNNING`.
const STEPFUNCTIONS_CONFIG: &str = r#"{"stepfunctions":{"execute_state_machine":true}}"#;

/// Distinguishes the log files of the servers one test process starts.
static SERVERS: AtomicU64 = AtomicU64::new(0);

/// A running moto server on `127.0.0.1`, with Step Functions execution turned on. Dropping it kills
/// the server and deletes its log.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    client: reqwest::Client,
}

/// What became of one attempt to start moto.
enum Startup {
    Ready,
    /// moto exited because another process took the port first: try another one.
    PortTaken,
    Failed(String),
}

impl Moto {
    /// Starts moto's server (`tools/moto/isolated_server.py`: `moto_server` with DynamoDB's writes
    /// isolated from each other, as DynamoDB isolates them) on a free loopback port, waits until it
    /// answers, then enables Step Functions execution (`POST /moto-api/config`).
    ///
    /// Panics with "moto is not installed: run scripts/install-moto" when the server is missing, and
    /// with moto's output when it does not answer within 20 seconds.
    pub async fn start() -> Moto {
        let server = repository_root().join(".venv/bin/moto_server");
        assert!(server.is_file(), "moto is not installed: run scripts/install-moto ({} is missing)", server.display());
        let python = repository_root().join(".venv/bin/python");
        let launcher = repository_root().join("tools/moto/isolated_server.py");
        let client =
            reqwest::Client::builder().no_proxy().build().expect("a reqwest client for moto (no TLS, no proxy)");
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "moto-{}-{}-{port}.log",
                std::process::id(),
                SERVERS.fetch_add(1, Ordering::Relaxed)
            ));
            let output = std::fs::File::create(&log)
                .unwrap_or_else(|error| panic!("cannot create moto's log {}: {error}", log.display()));
            let errors = output.try_clone().expect("a second handle on moto's log file");
            let child = Command::new(&python)
                .arg(&launcher)
                .env("ORDERS_MOTO_WORKFLOW_CREDENTIALS", workflow_credentials(&log))
                .env("ORDERS_MOTO_AUTHORIZATION_LOG", authorization_log(&log))
                // AWS's managed policies, for the roles that name them (the deployed stack's).
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("PYTHONUNBUFFERED", "1")
                .stdin(Stdio::null())
                .stdout(output)
                .stderr(errors)
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot spawn {}: {error}", server.display()));
            let mut moto = Moto { child, port, log, client: client.clone() };
            match moto.wait_until_up().await {
                Startup::Ready => {
                    moto.enable_stepfunctions_execution().await;
                    return moto;
                }
                Startup::PortTaken => continue,
                Startup::Failed(why) => panic!("moto did not start on port {port}: {why}; its output:\n{}", moto.log()),
            }
        }
        panic!("moto did not start: {ATTEMPTS} ports in a row were taken before it could bind them");
    }

    /// Where a test may put the credentials this moto's Step Functions signs its task integrations
    /// with (`tools/moto/isolated_server.py`; absent: moto's own fixed identity).
    #[allow(dead_code)]
    pub fn workflow_credentials_file(&self) -> PathBuf {
        workflow_credentials(&self.log)
    }

    /// The file this moto appends each authorization decision to, once IAM is enforced: a JSON line
    /// per check, with the caller, the action, the resource and whether it was allowed
    /// (`tools/moto/isolated_server.py`).
    #[allow(dead_code)]
    pub fn authorization_log(&self) -> PathBuf {
        authorization_log(&self.log)
    }

    /// The endpoint to give the AWS SDK: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Empties moto (`POST /moto-api/reset`: every resource of every service), then enables Step
    /// Functions execution again.
    pub async fn reset(&self) {
        self.post("/moto-api/reset", "").await;
        self.enable_stepfunctions_execution().await;
    }

    /// What moto printed so far (its request log, warnings and tracebacks).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until this server has bound its port and answers HTTP ([`STARTUP_TIMEOUT`] at most:
    /// past it, panics with moto's output), or has exited.
    async fn wait_until_up(&mut self) -> Startup {
        let port = self.port;
        // Werkzeug prints this once the socket is bound; an answer before it could come from
        // another process that took the port.
        let bound = format!("Running on http://127.0.0.1:{port}");
        let probe = format!("{}/moto-api/", self.endpoint());
        eventually_within(STARTUP_TIMEOUT, format!("moto to answer on port {port}"), async || {
            match self.child.try_wait() {
                Ok(Some(_)) if self.log().contains("Address already in use") => return Ok(Startup::PortTaken),
                Ok(Some(status)) => return Ok(Startup::Failed(format!("moto_server exited ({status})"))),
                Ok(None) => {}
                Err(error) => return Ok(Startup::Failed(format!("cannot watch moto_server: {error}"))),
            }
            let log = self.log();
            if log.contains(&bound) && self.client.get(&probe).timeout(Duration::from_secs(2)).send().await.is_ok() {
                return Ok(Startup::Ready);
            }
            Err(format!("no answer from {probe}; its output:\n{log}"))
        })
        .await
    }

    /// `POST /moto-api/config {"stepfunctions":{"execute_state_machine":true}}`. moto keeps state
    /// machines in a different backend when this is on, so it must come before any is created.
    async fn enable_stepfunctions_execution(&self) {
        self.post("/moto-api/config", STEPFUNCTIONS_CONFIG).await;
    }

    /// POSTs a JSON body to moto's own API; panics with the status, the body and moto's output when
    /// it fails.
    async fn post(&self, path: &str, body: &'static str) {
        let url = format!("{}{path}", self.endpoint());
        let response = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto does not answer POST {url}: {error}; its output:\n{}", self.log()));
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            panic!("moto refused POST {url} {body}: {status} {text}; its output:\n{}", self.log());
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // kill_on_drop would do it too; killing here first makes it happen before the log goes.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(workflow_credentials(&self.log));
        let _ = std::fs::remove_file(authorization_log(&self.log));
    }
}

/// The repository root: the first folder at or above the including crate's manifest folder that
/// holds `scripts/install-moto`.
fn repository_root() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    start.ancestors().find(|dir| dir.join("scripts/install-moto").is_file()).map(Path::to_path_buf).unwrap_or_else(
        || panic!("cannot find the repository root (a folder with scripts/install-moto) above {}", start.display()),
    )
}

/// A loopback port that was free a moment ago (moto binds it after the probe listener is gone).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port for moto");
    listener.local_addr().expect("the probe listener's address").port()
}

fn workflow_credentials(log: &std::path::Path) -> PathBuf {
    log.with_extension("workflow-credentials.json")
}

fn authorization_log(log: &std::path::Path) -> PathBuf {
    log.with_extension("authorizations.jsonl")
}
