//! The `orders serve` process: data survives a restart; Ctrl-C and SIGTERM stop it cleanly; a
//! quiet server leaves the file's log for other processes to empty.

use std::time::Duration;

use orders_core::adapters::embedded::DATABASE_FILE;
use orders_testkit::eventually_within;
use reqwest::StatusCode;

use crate::common::Server;

#[tokio::test]
async fn data_survives_a_restart() {
    // Given orders written by one server, one of them changed
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path()).await;
    let kept = server.create_processing("CUST001").await;
    let changed = server.create_processing("CUST002").await;
    assert_eq!(server.set_status(&changed, "shipped", None).await.status(), StatusCode::OK);
    // When it is killed outright and started again
    server.stop_with("KILL").await;
    let server = Server::start_in(dir.path()).await;
    // Then everything acknowledged is there
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 2);
    let (status, order) = server.get_json(&format!("/orders/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((order["status"].as_str(), order["version"].as_u64()), (Some("processing"), Some(2)));
    let (_, order) = server.get_json(&format!("/orders/{changed}")).await;
    assert_eq!((order["status"].as_str(), order["version"].as_u64()), (Some("shipped"), Some(3)));
}

#[tokio::test]
async fn ctrl_c_and_sigterm_stop_the_server_cleanly() {
    for signal in ["INT", "TERM"] {
        let server = Server::start().await;
        server.create_for("CUST001").await;
        assert_eq!(server.stop_with(signal).await, Some(0), "SIG{signal} should exit 0");
    }
}

#[tokio::test]
async fn a_bad_catalog_file_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, r#"{"products":[{"product_id":"A","name":"Free","unit_price":"0"}]}"#).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--catalog")
        .arg(&catalog)
        .env("ORDERS_API_KEY", crate::common::API_KEY)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unit_price: must be more than 0"), "{stderr}");
}

#[tokio::test]
async fn a_quiet_server_holds_no_read_snapshot_so_another_process_can_empty_the_log() {
    // Given a server that has written and then answered reads (its request threads share a read
    // snapshot between reads, which keeps the log from being emptied while it lasts)
    let server = Server::start().await;
    let order = server.create_processing("CUST001").await;
    for _ in 0..50 {
        assert_eq!(server.get_json(&format!("/orders/{order}")).await.0, StatusCode::OK);
    }
    // When it goes quiet and another process checkpoints the file, emptying the log
    let file = server.data_dir().join(DATABASE_FILE);
    // Within seconds: a snapshot its worker kept while idle would last until the connection's idle
    // timeout (60 s). (Without the runtime's park hook this fails only when the last read's lease
    // is still under its millisecond as its task's poll ends; else that poll ends it.)
    let within = Duration::from_secs(10);
    eventually_within(within, "another process's truncating checkpoint to find no reader in the log", async || {
        let connection = rusqlite::Connection::open(&file).unwrap();
        connection.busy_timeout(Duration::from_millis(200)).unwrap();
        // The pragma answers (busy, frames in the log, frames copied): busy while a reader holds
        // a snapshot inside the log.
        let busy: i64 = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0)).unwrap();
        if busy == 0 { Ok(()) } else { Err(busy) }
    })
    .await;
    // Then the log is empty: the idle request threads let their snapshots go
    let mut log = file.clone().into_os_string();
    log.push("-wal");
    assert_eq!(std::fs::metadata(&log).map(|m| m.len()).unwrap_or_default(), 0);
}
