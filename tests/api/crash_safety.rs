//! Crash safety: `orders serve` killed with SIGKILL in the middle of a 10,000-order import, and again
//! in the middle of the workflows, loses nothing and duplicates nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use orders_testkit::{eventually_every, eventually_within};
use serde_json::json;

use crate::common::{Launch, Server, orders_cli};

const ORDERS: usize = 10_000;

/// A server on `data_dir` whose queue messages come back 2 s after an interrupted delivery.
async fn start(data_dir: &Path) -> Server {
    Server::launch(Launch {
        data_dir: Some(data_dir.to_owned()),
        args: vec!["--visibility-timeout".into(), "2".into()],
        ..Launch::default()
    })
    .await
}

async fn total(server: &Server, query: &str) -> u64 {
    let (_, list) = server.get_json(&format!("/orders?limit=1{query}")).await;
    list["pagination"]["total"].as_u64().unwrap()
}

/// How long each stage of the crash test may take: longer than [`orders_testkit::EVENTUALLY`] on
/// purpose, for 10,000 orders on a shared 2-core machine.
const STAGE: Duration = Duration::from_secs(300);

/// Waits until `check` holds for the listing total of `query` ([`STAGE`] at most); returns it.
async fn wait_until(server: &Server, query: &str, what: &str, check: impl Fn(u64) -> bool) -> u64 {
    eventually_within(STAGE, what, async || {
        let now = total(server, query).await;
        if check(now) { Ok(now) } else { Err(format!("total {now}")) }
    })
    .await
}

/// Every order, walked with the cursor: (order ids, customer ids).
async fn every_order(server: &Server) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut customers) = (Vec::new(), Vec::new());
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(token) => format!("/orders?limit=100&next_token={token}"),
            None => "/orders?limit=100".to_owned(),
        };
        let (_, page) = server.get_json(&path).await;
        for order in page["orders"].as_array().unwrap() {
            ids.push(order["order_id"].as_str().unwrap().to_owned());
            customers.push(order["customer_id"].as_str().unwrap().to_owned());
        }
        match page["next_token"].as_str() {
            Some(token) => next = Some(token.to_owned()),
            None => return (ids, customers),
        }
    }
}

fn orders_command(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let (ok, stdout, stderr) = orders_cli(data_dir, args);
    (ok, stdout + &stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_import_and_mid_workflow_loses_and_duplicates_nothing() {
    // Given a running server and 10,000 orders queued for import, each for its own customer
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let file = data.path().join("orders.jsonl");
    let lines: Vec<String> = (0..ORDERS)
        .map(|i| {
            let reference = format!("IMP-{i:05}");
            json!({"client_reference": reference, "order": {"customer_id": reference, "items": [{"product_id": "PROD001", "quantity": 1 + i % 3}]}})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let started = std::time::Instant::now();
    let (ok, output) = orders_command(data.path(), &["import", file.to_str().unwrap()]);
    assert!(ok, "{output}");
    eprintln!("[{:?}] queued", started.elapsed());

    // When the server is killed outright while it is creating them
    let created = wait_until(&server, "", "the import to be under way", |n| n >= 1_500).await;
    assert!(created < ORDERS as u64, "the kill must land mid-import (already {created})");
    server.stop_with("KILL").await;
    eprintln!("[{:?}] killed mid-import at {created}", started.elapsed());

    // And, restarted, killed again as the last orders are created and their workflows start
    let server = start(data.path()).await;
    wait_until(&server, "", "all orders", |n| n == ORDERS as u64).await;
    // (every execution is mid-workflow until delivery: the newest still marking, the rest waiting)
    let processing = total(&server, "&status=processing").await;
    server.stop_with("KILL").await;
    eprintln!("[{:?}] killed mid-workflow at {processing} processing", started.elapsed());
    let server = start(data.path()).await;

    // Then every order exists exactly once: 10,000 orders, 10,000 distinct ids and customers
    let (ids, customers) = every_order(&server).await;
    assert_eq!(ids.len(), ORDERS);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ORDERS, "an order is listed twice");
    assert_eq!(customers.iter().collect::<BTreeSet<_>>().len(), ORDERS, "an import was created twice");
    assert_eq!(total(&server, "").await, ORDERS as u64);

    eprintln!("[{:?}] listed", started.elapsed());
    // And every workflow went on: each order reaches `processing` and waits there to be shipped
    wait_until(&server, "&status=processing", "every workflow to mark its order", |n| n == ORDERS as u64).await;
    let (_, order) = server.get_json(&format!("/orders/{}", ids[0])).await;
    let arn = order["execution_arn"].as_str().unwrap().replace(':', "%3A");
    let (_, execution) = server.get_json(&format!("/executions/{arn}")).await;
    assert_eq!(execution["status"], "RUNNING", "{execution}");

    eprintln!("[{:?}] all processing", started.elapsed());
    // And every order is backed up at its last version
    // (every 500 ms: verifying 10,000 orders is work of its own, beside the backups it waits for)
    eventually_every(STAGE, Duration::from_millis(500), "backups to catch up", async || {
        let (ok, output) = orders_command(data.path(), &["backup", "verify"]);
        if ok { Ok(()) } else { Err(output) }
    })
    .await;
    eprintln!("[{:?}] verified", started.elapsed());
    // (and re-importing the file after all this creates nothing)
    let (ok, output) = orders_command(data.path(), &["import", file.to_str().unwrap()]);
    assert!(ok, "{output}");
    // (a window, not a wait: nothing may appear in it, so there is nothing to wait for)
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(total(&server, "").await, ORDERS as u64);
}
