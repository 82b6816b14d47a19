//! Every runbook's procedure, exercised: the test sets up the situation the runbook is for on the
//! embedded default, then runs the runbook's own commands (its `bash` blocks, as written, with
//! `ORDER_ID`, `$KEY` and the host filled in) and checks that they resolve it.

use std::path::{Path, PathBuf};

use orders_testkit::{EVENTUALLY, eventually};
use reqwest::StatusCode;

use crate::common::{API_KEY, Launch, Server};

/// The commands of a runbook's `bash` blocks (continuation lines joined, comments dropped).
fn commands(runbook: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks").join(runbook);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = trimmed == "```bash";
            continue;
        }
        if !in_block || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let without_comment = match trimmed.find("  #") {
            Some(at) => trimmed[..at].trim_end(),
            None => trimmed,
        };
        match without_comment.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(without_comment);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(!commands.is_empty(), "{runbook} has no commands");
    commands
}

/// Runs one runbook command as an operator's shell would, in `cwd`, with `orders` on the PATH and
/// the server's data dir as ORDERS_DATA_DIR.
fn run(server: &Server, cwd: &Path, command: &str, order_id: Option<&str>) -> (bool, String) {
    run_on(Some(&server.base), server.data_dir(), cwd, command, order_id)
}

/// As [`run`], for a data dir with no server running on it.
fn run_on(base: Option<&str>, data_dir: &Path, cwd: &Path, command: &str, order_id: Option<&str>) -> (bool, String) {
    let binary_dir = PathBuf::from(env!("CARGO_BIN_EXE_orders")).parent().unwrap().to_owned();
    let mut command = command.replace("http://localhost:3000", base.unwrap_or("http://localhost:3000"));
    if let Some(id) = order_id {
        command = command.replace("ORDER_ID", id);
    }
    let output = std::process::Command::new("bash")
        .args(["-c", &command])
        .current_dir(cwd)
        .env("PATH", format!("{}:{}", binary_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .env("ORDERS_DATA_DIR", data_dir)
        .env("KEY", API_KEY)
        .env_remove("ORDERS_API_KEY")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_not_empty() {
    // Given a full backup DLQ (the backup folder was broken), and the cause fixed
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("backups"), "not a folder").unwrap();
    let server = Server::launch(Launch {
        data_dir: Some(dir.path().to_owned()),
        args: vec!["--visibility-timeout".into(), "0.3".into(), "--max-receive-count".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let order_id = server.create_processing("A").await;
    let depth = || crate::operators::dlq_depth(&run(&server, dir.path(), "orders dlq list", None).1, "backup-dlq");
    eventually("the backup DLQ fills", async || depth() == 2).await;
    std::fs::remove_file(dir.path().join("backups")).unwrap();
    // When the runbook is followed
    for command in commands("dlq-not-empty.md") {
        let (ok, output) = run(&server, dir.path(), &command, None);
        assert!(ok, "{command}: {output}");
    }
    // Then the DLQ is empty and the order's versions are backed up
    assert_eq!(depth(), 0);
    let backed_up = |v: u64| dir.path().join(format!("backups/orders/{order_id}/v{v}.json")).exists();
    eventually("backups after the replay", async || backed_up(1) && backed_up(2)).await;
    let (ok, verify) = run(&server, dir.path(), "orders backup verify", None);
    assert!(ok, "{verify}");
}

#[tokio::test(flavor = "multi_thread")]
async fn execution_stuck() {
    // Given an order whose workflow waits for the delivery
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let order_id = server.create_processing("A").await;
    eventually("the workflow waits for the delivery", async || {
        run(&server, dir.path(), &format!("orders executions {order_id}"), None).1.contains("current state: Process")
    })
    .await;
    // When the runbook is followed (look, then, the parcel arrived, move the order on)
    for command in commands("execution-stuck.md") {
        let (ok, output) = run(&server, dir.path(), &command, Some(&order_id));
        assert!(ok, "{command}: {output}");
    }
    // Then the order is delivered and its workflow has ended
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(order["status"], "delivered");
    eventually("the workflow ends", async || {
        run(&server, dir.path(), &format!("orders executions {order_id}"), None).1.contains("SUCCEEDED")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_after_data_loss() {
    // Given backed-up orders and a lost store
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let kept = server.create_processing("A").await;
    let (_, before) = server.get_json(&format!("/orders/{kept}")).await;
    eventually("backups", async || run(&server, dir.path(), "orders backup verify", None).0).await;
    server.stop_with("TERM").await;
    for file in ["orders.sqlite3", "orders.sqlite3-wal", "orders.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    // When the runbook's commands run (the server is stopped, as it says)
    for command in commands("restore-after-data-loss.md") {
        let (ok, output) = run_on(None, dir.path(), dir.path(), &command, None);
        assert!(ok, "{command}: {output}");
    }
    // Then the order is back as it was
    let server = Server::start_in(dir.path()).await;
    let (status, after) = server.get_json(&format!("/orders/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_api_key() {
    // The runbook's steps: both keys, then only the new one
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = ("old-key-0123456789abcdef", "new-key-0123456789abcdef");
    let launch =
        |keys: &str| Launch { data_dir: Some(dir.path().to_owned()), api_key: Some(keys.into()), ..Default::default() };
    let get = |server: &Server, key: &'static str| {
        server.anonymous(reqwest::Method::GET, "/orders").header("x-api-key", key).send()
    };
    let server = Server::launch(launch(&format!("{old},{new}"))).await;
    assert_eq!(get(&server, old).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&server, new).await.unwrap().status(), StatusCode::OK);
    assert_eq!(server.stop_with("TERM").await, Some(0));
    let server = Server::launch(launch(new)).await;
    assert_eq!(get(&server, new).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&server, old).await.unwrap().status(), StatusCode::FORBIDDEN);
    let runbook =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/rotate-api-key.md")).unwrap();
    assert!(runbook.contains("ORDERS_API_KEY=\"OLD_KEY,NEW_KEY\" orders serve"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_import() {
    // Given a file with one bad row
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data")).await;
    let good =
        r#"{"client_reference":"R-1","order":{"customer_id":"C","items":[{"product_id":"PROD001","quantity":1}]}}"#;
    let bad = r#"{"client_reference":"R-2","order":{"customer_id":"C","items":[{"product_id":"NOPE","quantity":1}]}}"#;
    std::fs::write(dir.path().join("orders.jsonl"), format!("{good}\n{bad}\n")).unwrap();
    // When the runbook's import runs: it reports the bad row and exits non-zero
    let import = commands("bulk-import.md").into_iter().find(|c| c.starts_with("orders import")).unwrap();
    let (ok, output) = run(&server, dir.path(), &import, None);
    assert!(!ok && output.contains("1 of 2 orders were rejected"), "{output}");
    let rejects = std::fs::read_to_string(dir.path().join("orders.jsonl.rejects.jsonl")).unwrap();
    assert!(rejects.contains("Unknown product_id"), "{rejects}");
    // And after fixing the row, importing the whole file again creates each order once
    std::fs::write(dir.path().join("orders.jsonl"), format!("{good}\n{}\n", bad.replace("NOPE", "PROD002"))).unwrap();
    let (ok, output) = run(&server, dir.path(), &import, None);
    assert!(ok, "{output}");
    server.wait_for_total(2, EVENTUALLY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fulfilment_endpoint_down() {
    // Given a fulfilment endpoint that is down, and an order whose hand-off gave up on it
    let receiver = crate::fulfilment::Receiver::spawn(&[], 503).await;
    let dir = tempfile::tempdir().unwrap();
    let (args, env) = receiver.serve_config(vec![
        "--visibility-timeout".into(),
        "0.3".into(),
        "--max-receive-count".into(),
        "2".into(),
    ]);
    let server =
        Server::launch(Launch { data_dir: Some(dir.path().to_owned()), args, env, ..Default::default() }).await;
    let order_id = server.create_processing("A").await;
    let depth = || crate::operators::dlq_depth(&run(&server, dir.path(), "orders dlq list", None).1, "fulfilment-dlq");
    eventually("the hand-off parked", async || depth() == 1).await;
    let (_, peeked) = run(&server, dir.path(), "orders dlq peek fulfilment-dlq", None);
    assert!(peeked.contains("fulfilment endpoint unavailable: HTTP 503"), "{peeked}");
    // When the endpoint is back and the runbook is followed
    receiver.answer_from_now(200);
    for command in commands("fulfilment-endpoint-down.md") {
        let (ok, output) = run(&server, dir.path(), &command, Some(&order_id));
        assert!(ok, "{command}: {output}");
    }
    // Then the order is handed off, and its workflow waits for the delivery, in its one task
    eventually("the hand-off taken", async || receiver.deliveries().iter().any(|d| d.answered == 200)).await;
    let (_, execution) = run(&server, dir.path(), "orders executions ORDER_ID", Some(&order_id));
    assert!(execution.contains("RUNNING") && execution.contains("current state: Process"), "{execution}");
    assert_eq!(depth(), 0);
}

#[test]
fn every_alarm_leads_to_a_runbook_exercised_above() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let alarms = std::fs::read_to_string(dir.join("alarms.md")).unwrap();
    let exercised = [
        "dlq-not-empty.md",
        "execution-stuck.md",
        "restore-after-data-loss.md",
        "rotate-api-key.md",
        "bulk-import.md",
        "fulfilment-endpoint-down.md",
    ];
    let rows: Vec<&str> = alarms.lines().filter(|l| l.starts_with("| **")).collect();
    assert_eq!(rows.len(), 7, "one row per alarm");
    for row in rows {
        let linked: Vec<&str> = exercised.iter().copied().filter(|r| row.contains(&format!("({r})"))).collect();
        assert!(!linked.is_empty(), "the alarm row links no exercised runbook: {row}");
    }
    // And the index lists every runbook file
    let index = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "README.md" {
            assert!(index.contains(&format!("({name})")), "runbooks/README.md does not list {name}");
        }
    }
}
