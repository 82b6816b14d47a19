//! The order saga end to end, on both backends: stock reserved all or none under a rush of orders,
//! given back once when an order is cancelled, and orders handed off to a webhook receiver spawned
//! here, which checks every signature the way docs/FULFILMENT.md tells merchants to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use orders_core::ports::{OutgoingMessage, QueueName};
use orders_testkit::{eventually, eventually_within};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::backends::{Backend, wait_for_execution};
use crate::common::{Server, body_json};

const SECRET: &str = "whsec_test_0123456789abcdef";

/// A catalog file with one tracked product, `HOT`, of `stock` units (and the demo's PROD001).
fn catalog_with(stock: u64) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    let catalog = json!({"products": [
        {"product_id": "HOT", "name": "Hot item", "unit_price": "5.00", "stock": stock},
        {"product_id": "PROD001", "name": "Widget", "unit_price": "25.50"},
    ]});
    std::fs::write(&path, catalog.to_string()).unwrap();
    (dir, vec!["--catalog".into(), path.display().to_string()])
}

/// `(stock, reserved)` of a product, as a client reads them.
async fn stock_of(server: &Server, product_id: &str) -> (Option<u64>, u64) {
    let (status, product) = server.get_json(&format!("/products/{product_id}")).await;
    assert_eq!(status, StatusCode::OK, "{product}");
    (product["stock"].as_u64(), product["reserved"].as_u64().unwrap())
}

async fn order_of(server: &Server, customer: String, quantity: u32) -> (String, String) {
    let response =
        server.create(&json!({"customer_id": customer, "items": [{"product_id": "HOT", "quantity": quantity}]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = body_json(response).await;
    (created["order_id"].as_str().unwrap().to_owned(), created["execution_arn"].as_str().unwrap().to_owned())
}

/// How many orders are in `status`.
async fn count(server: &Server, status: &str) -> u64 {
    let (_, page) = server.get_json(&format!("/orders?status={status}&limit=1")).await;
    page["pagination"]["total"].as_u64().unwrap()
}

async fn fifty_orders_for_ten_units_leave_exactly_ten_proceeding(backend: Backend) {
    // Given a product with 10 units (and room for the retries 50 racing reservations cause: a
    // reservation that keeps losing to the others is passing trouble, retried through the queue)
    let (_catalog, mut args) = catalog_with(10);
    args.extend(["--max-receive-count".into(), "8".into()]);
    let server = backend.start_with(args, Vec::new()).await;
    // When 50 clients each order one unit at once
    let created = join_all((0..50).map(|i| order_of(&server, format!("RUSH{i:02}"), 1))).await;
    assert_eq!(created.len(), 50);
    // Then exactly 10 orders hold a unit and go on, and the other 40 fail, saying why; the stock
    // reads a number (never below zero) at every look
    // (on moto under the whole suite's load, the 50 executions take a while)
    eventually_within(Duration::from_secs(180), "10 units reserved, 10 orders processing and 40 failed", async || {
        let (stock, reserved) = stock_of(&server, "HOT").await;
        assert!(stock.is_some(), "the stock is a count of units at every moment");
        let (processing, failed) = (count(&server, "processing").await, count(&server, "failed").await);
        let now = (stock, reserved, processing, failed);
        if now == (Some(0), 10, 10, 40) {
            Ok(())
        } else {
            Err(format!("(stock, reserved, processing, failed) {now:?}"))
        }
    })
    .await;
    let (_, failed) = server.get_json("/orders?status=failed&limit=100").await;
    for summary in failed["orders"].as_array().unwrap() {
        let (_, order) = server.get_json(&format!("/orders/{}", summary["order_id"].as_str().unwrap())).await;
        assert_eq!(order["failure_reason"], "out of stock: HOT (requested 1, available 0)");
    }
    // And a refused order's execution ends failed with the refusal's error
    let refused = &failed["orders"][0]["order_id"];
    let (_, arn) = created.iter().find(|(id, _)| id == refused.as_str().unwrap()).unwrap();
    let execution = wait_for_execution(&server, arn, "FAILED").await;
    assert_eq!(execution["error"], "OutOfStock");
}

async fn a_cancelled_order_gives_its_units_back_once(backend: Backend) {
    // Given an order holding 3 of 5 units
    let (_catalog, args) = catalog_with(5);
    let server = backend.start_with(args, Vec::new()).await;
    let (order_id, arn) = order_of(&server, "CUST001".into(), 3).await;
    eventually("3 units reserved", async || (stock_of(&server, "HOT").await == (Some(2), 3)).then_some(())).await;
    // When the client cancels it
    assert_eq!(server.set_status(&order_id, "cancelled", None).await.status(), StatusCode::OK);
    // Then the saga gives the units back and the execution ends cleanly
    wait_for_execution(&server, &arn, "SUCCEEDED").await;
    eventually("the units back", async || (stock_of(&server, "HOT").await == (Some(5), 0)).then_some(())).await;
    // And when the release task is delivered again, nothing more comes back
    let queues = backend.queues().await;
    let again = json!({"task": "release", "order_id": order_id, "task_token": "an-answered-token"});
    queues
        .send(QueueName::Fulfilment, OutgoingMessage { body: again.to_string(), attributes: Default::default() })
        .await
        .unwrap();
    eventually("the repeated release handled", async || {
        (queues.depth(QueueName::Fulfilment).await.unwrap() == 0).then_some(())
    })
    .await;
    assert_eq!(stock_of(&server, "HOT").await, (Some(5), 0));
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    delivery_id: String,
    order_id: String,
    /// Whether the signature checked out, as a merchant's receiver checks it.
    signed: bool,
    /// What the receiver answered.
    pub(crate) answered: u16,
}

/// A merchant's webhook receiver: answers from a script, then with a standing answer.
#[derive(Clone)]
pub(crate) struct Receiver {
    url: String,
    state: Arc<Mutex<Script>>,
}

struct Script {
    next: VecDeque<u16>,
    then: u16,
    deliveries: Vec<Delivery>,
}

impl Receiver {
    pub(crate) async fn spawn(script: &[u16], then: u16) -> Receiver {
        let state =
            Arc::new(Mutex::new(Script { next: script.iter().copied().collect(), then, deliveries: Vec::new() }));
        let app = Router::new().route("/hooks/fulfilment", post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/fulfilment", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    pub(crate) fn answer_from_now(&self, status: u16) {
        self.state.lock().unwrap().then = status;
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }

    /// Arguments and environment that point `orders serve` at this receiver.
    pub(crate) fn serve_config(&self, mut args: Vec<String>) -> (Vec<String>, Vec<(String, String)>) {
        args.extend(["--fulfilment-webhook".into(), self.url.clone()]);
        (args, vec![("ORDERS_FULFILMENT_WEBHOOK_SECRET".into(), SECRET.into())])
    }
}

/// The receiver's handler: checks the signature as docs/FULFILMENT.md shows, records, answers.
async fn receive(State(state): State<Arc<Mutex<Script>>>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let signature = headers.get("x-orders-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let signed = verify(signature, &body);
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut script = state.lock().unwrap();
    let answered = if signed { script.next.pop_front().unwrap_or(script.then) } else { 401 };
    script.deliveries.push(Delivery {
        delivery_id: event["delivery_id"].as_str().unwrap_or_default().to_owned(),
        order_id: event["order"]["order_id"].as_str().unwrap_or_default().to_owned(),
        signed,
        answered,
    });
    AxumStatus::from_u16(answered).unwrap()
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, sent within the last 5 minutes.
fn verify(header: &str, body: &[u8]) -> bool {
    let part = |name: &str| header.split(',').find_map(|p| p.strip_prefix(name)).map(str::to_owned);
    let (Some(timestamp), Some(given)) = (part("t="), part("v1=")) else { return false };
    let Ok(sent) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - sent).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let Ok(given) = hex::decode(given) else { return false };
    mac.verify_slice(&given).is_ok()
}

async fn a_webhook_down_twice_then_up_takes_the_order(backend: Backend) {
    // Given a receiver that fails twice, then takes orders
    let receiver = Receiver::spawn(&[500, 500], 200).await;
    let (_catalog, args) = catalog_with(10);
    let (mut args, env) = receiver.serve_config(args);
    args.extend(["--max-receive-count".into(), "5".into()]);
    let server = backend.start_with(args, env).await;
    // When an order of 2 units is placed
    let (order_id, arn) = order_of(&server, "CUST001".into(), 2).await;
    // Then the hand-off is tried until the receiver takes it: every attempt signed, one delivery id
    let deliveries = eventually("the receiver to take the order", async || {
        let deliveries = receiver.deliveries();
        if deliveries.last().is_some_and(|d| d.answered == 200) {
            Ok(deliveries)
        } else {
            Err(format!("{deliveries:?}"))
        }
    })
    .await;
    assert_eq!(deliveries.iter().map(|d| d.answered).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(deliveries.iter().all(|d| d.signed && d.order_id == order_id), "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d.delivery_id == deliveries[0].delivery_id), "{deliveries:?}");
    // And the order goes on: its 2 units held once; shipped and delivered, they leave the stock
    assert_eq!(stock_of(&server, "HOT").await, (Some(8), 2));
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    for status in ["shipped", "delivered"] {
        assert_eq!(server.set_status(&order_id, status, None).await.status(), StatusCode::OK);
    }
    let execution = wait_for_execution(&server, &arn, "SUCCEEDED").await;
    assert_eq!(execution["output"]["delivered"]["stock"]["consumed_by"], "delivery");
    eventually("the units consumed", async || (stock_of(&server, "HOT").await == (Some(8), 0)).then_some(())).await;
}

async fn a_webhook_refusal_fails_the_order_and_gives_its_units_back(backend: Backend) {
    // Given a receiver that refuses orders
    let receiver = Receiver::spawn(&[], 422).await;
    let (_catalog, args) = catalog_with(10);
    let (args, env) = receiver.serve_config(args);
    let server = backend.start_with(args, env).await;
    // When an order of 4 units is placed
    let (order_id, arn) = order_of(&server, "CUST001".into(), 4).await;
    // Then it fails with the refusal as its reason, after one attempt
    let order = server.wait_for_order(&order_id, |o| o["status"] == "failed").await;
    assert_eq!(order["failure_reason"], "fulfilment refused: HTTP 422 Unprocessable Entity");
    let execution = wait_for_execution(&server, &arn, "FAILED").await;
    assert_eq!(execution["error"], "FulfilmentRefused");
    assert_eq!(receiver.deliveries().len(), 1);
    // And its units are back
    eventually("the units back", async || (stock_of(&server, "HOT").await == (Some(10), 0)).then_some(())).await;
}

async fn a_server_killed_between_reservation_and_hand_off_goes_on_after_restart(backend: Backend) {
    // Given an order whose units are reserved and whose hand-off has not gone through
    let receiver = Receiver::spawn(&[], 503).await;
    let (_catalog, args) = catalog_with(10);
    let (mut args, env) = receiver.serve_config(args);
    args.extend(["--max-receive-count".into(), "5".into()]);
    let server = backend.start_with(args.clone(), env.clone()).await;
    let (order_id, arn) = order_of(&server, "CUST001".into(), 3).await;
    eventually("a first hand-off attempt", async || (!receiver.deliveries().is_empty()).then_some(())).await;
    assert_eq!(stock_of(&server, "HOT").await, (Some(7), 3));
    // When the server is killed outright, the receiver comes back, and the server starts again
    server.stop_with("KILL").await;
    receiver.answer_from_now(200);
    let server = backend.start_with(args, env).await;
    // Then the hand-off goes through and the order goes on, its units reserved once
    eventually("the receiver to take the order", async || {
        receiver.deliveries().iter().any(|d| d.answered == 200).then_some(())
    })
    .await;
    assert_eq!(stock_of(&server, "HOT").await, (Some(7), 3));
    server.wait_for_order(&order_id, |o| o["status"] == "processing").await;
    assert_eq!(server.set_status(&order_id, "cancelled", None).await.status(), StatusCode::OK);
    wait_for_execution(&server, &arn, "SUCCEEDED").await;
    eventually("the units back", async || (stock_of(&server, "HOT").await == (Some(10), 0)).then_some(())).await;
}

on_every_backend!(
    fifty_orders_for_ten_units_leave_exactly_ten_proceeding,
    a_cancelled_order_gives_its_units_back_once,
    a_webhook_down_twice_then_up_takes_the_order,
    a_webhook_refusal_fails_the_order_and_gives_its_units_back,
    a_server_killed_between_reservation_and_hand_off_goes_on_after_restart,
);
