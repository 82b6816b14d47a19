//! What must never leak or be abused: API keys never reach logs or disk, a flooding client is held
//! back without hurting others, and 500 bodies carry no internal detail. (`auth` covers the key check
//! on every route; `errors` the size limit.)

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Launch, Server, body_json};

/// Everything in the data dir, as bytes: the SQLite file and its WAL, the key digest, backups, logs.
fn every_byte_in(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                bytes.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_never_reach_the_logs_or_the_disk() {
    // Given a server started with a key, logging every request as JSON
    let key = "live-key-5f1c9a7e2b4d8c0f";
    let data = tempfile::tempdir().unwrap();
    let server = Server::launch(Launch {
        data_dir: Some(data.path().to_owned()),
        api_key: Some(key.into()),
        args: vec!["--log-format".into(), "json".into()],
        ..Launch::default()
    })
    .await;
    // When a client uses it (creating an order, listing, an unknown route), and another a wrong key
    let wrong = "stolen-key-0000000000000000";
    for (presented, expected) in [(key, StatusCode::OK), (wrong, StatusCode::FORBIDDEN)] {
        let client = reqwest::Client::new();
        let url = format!("{}/orders?limit=1", server.base);
        let listed = client.get(&url).header("x-api-key", presented).send().await.unwrap();
        assert_eq!(listed.status(), expected);
        let body = json!({"customer_id": "CUST-7", "items": [{"product_id": "PROD001", "quantity": 1}]});
        client.post(format!("{}/orders", server.base)).header("x-api-key", presented).json(&body).send().await.unwrap();
        client.get(format!("{}/nowhere", server.base)).header("x-api-key", presented).send().await.unwrap();
    }
    server.stop_with("TERM").await;
    let data_dir = data.path();

    // Then the log has requests in it, but neither key appears anywhere in the data dir or the log
    let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap();
    assert!(log.contains("request"), "the log is not empty: {log}");
    assert!(!log.contains(key) && !log.contains(wrong), "a key is in the log:\n{log}");
    let everything = every_byte_in(data_dir);
    assert!(!contains(&everything, key), "the valid key is stored somewhere");
    assert!(!contains(&everything, wrong), "the refused key is stored somewhere");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_client_gets_429_with_retry_after_and_recovers() {
    // Given a server that allows 10 requests a second per client (bursts of 20)
    let server = Server::launch(Launch { args: vec!["--rate-limit".into(), "10".into()], ..Launch::default() }).await;

    // When one client sends 60 requests at once
    let requests = (0..60).map(|_| server.request(Method::GET, "/orders?limit=1").send());
    let responses: Vec<_> = join_all(requests).await.into_iter().map(Result::unwrap).collect();

    // Then about the burst gets through and the rest are told to wait, in JSON, with Retry-After
    let ok = responses.iter().filter(|r| r.status() == StatusCode::OK).count();
    let limited: Vec<_> = responses.into_iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!((20..=25).contains(&ok), "{ok} got through");
    assert_eq!(ok + limited.len(), 60);
    let first = limited.into_iter().next().unwrap();
    let retry_after: u64 = first.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(body_json(first).await, json!({"message": "Too many requests"}));

    // And after waiting as told, it is served again
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = server.request(Method::GET, "/orders?limit=1").send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}
