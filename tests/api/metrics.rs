//! `GET /metrics` on the embedded default: every order event the pipeline counts, read back in
//! Prometheus text format after a scenario that makes each of them happen once or a known number
//! of times (the Lambda functions' EMF lines are checked by the `lambda_runtime` tests).

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use orders_testkit::eventually;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Launch, Server, body_json, orders_cli};
use crate::operators::dlq_depth;

/// A merchant's receiver that refuses the orders of customer `REFUSE-ME` and takes the others.
async fn receiver() -> String {
    let app = Router::new().route(
        "/hook",
        post(|body: Bytes| async move {
            if String::from_utf8_lossy(&body).contains("REFUSE-ME") {
                AxumStatus::UNPROCESSABLE_ENTITY
            } else {
                AxumStatus::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The samples of a Prometheus text page: `name{labels}` → value (labels as printed).
fn samples(page: &str) -> BTreeMap<String, f64> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a value: {line}")))
        })
        .collect()
}

async fn order(server: &Server, customer: &str, product: &str, quantity: u32) -> String {
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": quantity}]});
    let response = server.create(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body_json(response).await["order_id"].as_str().unwrap().to_owned()
}

async fn set_status(server: &Server, order_id: &str, change: serde_json::Value) {
    let response =
        server.request(Method::PUT, &format!("/orders/{order_id}/status")).json(&change).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{change}");
}

fn import(server: &Server, lines: &[serde_json::Value]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")).unwrap();
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["import", file.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
}

async fn import_dlq_holds(server: &Server, depth: u64) {
    eventually(format!("{depth} message(s) in the import DLQ"), async || {
        let (ok, listing, stderr) = orders_cli(server.data_dir(), &["dlq", "list"]);
        assert!(ok, "{stderr}");
        if dlq_depth(&listing, "import-dlq") == depth { Ok(()) } else { Err(listing) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_event_is_counted_at_get_metrics() {
    // Given a server with one unit of HOT in stock, handing orders off to a merchant who refuses
    // the orders of REFUSE-ME
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    let products = json!({"products": [
        {"product_id": "HOT", "name": "Hot item", "unit_price": "5.00", "stock": 1},
        {"product_id": "PROD001", "name": "Widget", "unit_price": "25.50"},
    ]});
    std::fs::write(&catalog, products.to_string()).unwrap();
    let server = Server::launch(Launch {
        args: vec![
            "--catalog".into(),
            catalog.display().to_string(),
            "--fulfilment-webhook".into(),
            receiver().await,
            "--visibility-timeout".into(),
            "1".into(),
        ],
        env: vec![("ORDERS_FULFILMENT_WEBHOOK_SECRET".into(), "whsec_metrics_0123456789abcdef".into())],
        ..Launch::default()
    })
    .await;

    // When one order is delivered, one cancelled, one marked failed by its client
    let delivered = order(&server, "CUST-A", "PROD001", 1).await;
    let cancelled = order(&server, "CUST-B", "PROD001", 1).await;
    let client_failed = order(&server, "CUST-C", "PROD001", 1).await;
    for order_id in [&delivered, &cancelled, &client_failed] {
        server.wait_for_order(order_id, |o| o["status"] == "processing").await;
    }
    for status in ["shipped", "delivered"] {
        set_status(&server, &delivered, json!({"status": status})).await;
    }
    set_status(&server, &cancelled, json!({"status": "cancelled"})).await;
    set_status(&server, &client_failed, json!({"status": "failed", "reason": "card declined"})).await;
    // And one asks for more than the stock, and the merchant refuses another
    let short = order(&server, "CUST-D", "HOT", 2).await;
    let refused = order(&server, "REFUSE-ME", "PROD001", 1).await;
    for order_id in [&short, &refused] {
        server.wait_for_order(order_id, |o| o["status"] == "failed").await;
    }
    // And an import creates one order, then a second import reuses its reference for another
    // order (refused by the server and parked), and the operator replays the refusal (refused again)
    let entry = |quantity: u32| json!({"client_reference": "ERP-1", "order": {"customer_id": "ERP", "items": [{"product_id": "PROD001", "quantity": quantity}]}});
    import(&server, &[entry(1)]);
    server.wait_for("/orders?customer_id=ERP", |l| l["pagination"]["total"] == 1).await;
    import(&server, &[entry(2)]);
    import_dlq_holds(&server, 1).await;
    let (ok, stdout, stderr) = orders_cli(server.data_dir(), &["dlq", "replay", "import-dlq"]);
    assert!(ok, "{stdout}{stderr}");
    import_dlq_holds(&server, 1).await;

    // Then GET /metrics counts each event, by reason and outcome where it has one
    let page = eventually("the replayed refusal and the backups counted", async || {
        let response = server.request(Method::GET, "/metrics").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let page = response.text().await.unwrap();
        let metrics = samples(&page);
        let refusals = metrics.get(r#"import_entries{outcome="refused"}"#).copied();
        let backups = metrics.get("backup_lag_seconds_count").copied().unwrap_or_default();
        if refusals == Some(2.0) && backups >= 15.0 { Ok(page) } else { Err(page) }
    })
    .await;
    let metrics = samples(&page);
    let value = |series: &str| metrics.get(series).copied().unwrap_or_else(|| panic!("no {series} in:\n{page}"));
    assert_eq!(value("orders_created"), 6.0);
    assert_eq!(value("orders_delivered"), 1.0);
    assert_eq!(value("orders_cancelled"), 1.0);
    assert_eq!(value(r#"orders_failed{reason="client"}"#), 1.0);
    assert_eq!(value(r#"orders_failed{reason="out_of_stock"}"#), 1.0);
    assert_eq!(value(r#"orders_failed{reason="fulfilment_refused"}"#), 1.0);
    assert_eq!(value("stock_outs"), 1.0);
    assert_eq!(value(r#"import_entries{outcome="accepted"}"#), 1.0);
    assert_eq!(value(r#"dlq_messages_parked{queue="import"}"#), 2.0);
    assert_eq!(value(r#"dlq_replays{queue="import"}"#), 1.0);
    assert_eq!(value(r#"webhook_handoffs{outcome="refused"}"#), 1.0);
    // (every order that reached processing was handed off: the three, and the imported one)
    assert!(value(r#"webhook_handoffs{outcome="accepted"}"#) >= 3.0, "{page}");
    assert!(value("webhook_handoff_seconds_count") >= 4.0, "{page}");
    // And every version written was backed up, each backup's lag measured
    assert!(value("backup_lag_seconds_count") >= 15.0, "{page}");
    assert!(page.contains("# TYPE backup_lag_seconds summary"), "{page}");
    // And the page is behind the key, as every route
    let anonymous = server.anonymous(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    // And the server's text log, written to a file, holds no terminal colour codes
    let log = std::fs::read_to_string(server.data_dir().join("server.log")).unwrap();
    assert!(log.contains("order created"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log file");
}
