//! The `orders serve` process: data survives a restart; Ctrl-C and SIGTERM stop it cleanly.

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
