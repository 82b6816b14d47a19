//! DynamoDB requests per listing page: what one `GET /orders` page costs on the AWS adapters, measured
//! on moto with N orders, to show a page costs a bounded number of requests at any depth (no scan).
//!
//! `cargo bench -p orders-ingest --bench listing_requests` (moto from `scripts/install-moto`). It
//! starts moto, deploys the stack, writes N orders (1,100 by default, `-- --orders N` to change it)
//! through the DynamoDB store's `create_order` (the transaction `POST /orders` makes: the order, its
//! index keys and its four listing counters), then sends `GET /orders?limit=50…` through the axum
//! Router, in process, over counted clients: page 1, a middle page, the last page, the page that
//! skips most inside a counter block, pages filtered by status, by customer and by both, and five
//! pages followed by `next_token`. Per page it prints the DynamoDB requests by operation
//! (`RequestCounter`, reset before each page) and what each request read. Those figures come from a
//! small HTTP relay between the SDK and moto, which reads the JSON of each request and answer
//! (table, index, `Count`, item sizes, `LastEvaluatedKey`); the SDK does not expose them. A Scan
//! fails the run. How the figures grow with the number of orders is in
//! `docs/benchmarks/listing-dynamodb.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../tests/support/moto.rs"]
mod moto;

#[path = "../../tests/support/deployment.rs"]
mod deployment;

#[path = "../../tests/support/bench_args.rs"]
mod args;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use deployment::Deployment;
use orders_core::adapters::aws::{AwsClients, RequestCounter};
use orders_core::adapters::listing::{BUCKET, page_start};
use orders_core::domain::order::now_millis;
use orders_core::domain::{Money, Order, OrderId, OrderItem, OrderStatus};
use orders_core::wiring::wire_aws;
use orders_ingest::http::{ApiKeys, AppState, router};
use serde_json::Value;
use tower::ServiceExt;

const API_KEY: &str = "listing-benchmark-key-0123456789";
/// The page size measured.
const LIMIT: u64 = 50;
/// The largest page size the API serves (`limit` is capped to it).
const MAX_LIMIT: u64 = 100;
/// Customers the orders are spread over, round robin (25 and the 4 statuses share no factor, so
/// every customer has orders in every status).
const CUSTOMERS: usize = 25;
/// The statuses the orders are spread over, round robin.
const STATUSES: [OrderStatus; 4] =
    [OrderStatus::Pending, OrderStatus::Processing, OrderStatus::Shipped, OrderStatus::Delivered];
/// DynamoDB's limit on the data one Query reads before it returns a page of results.
const QUERY_PAGE_BYTES: u64 = 1024 * 1024;
/// The order count the bound is derived for.
const DERIVED_ORDERS: u64 = 1_000_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let orders = args::orders_argument(1_100);
    assert!(orders as u64 > 2 * LIMIT, "--orders must be above {} for the scenarios to mean something", 2 * LIMIT);

    let started = Instant::now();
    let deployment = Deployment::start().await;
    seed(&deployment, orders).await;
    let seeded = started.elapsed();

    let relay = Relay::start(deployment.moto.endpoint()).await;
    let counter = RequestCounter::new();
    let clients = AwsClients::for_emulator(&relay.endpoint, "us-east-1").await.counted(&counter);
    let system = wire_aws(clients, deployment.system.resources.clone());
    let api = router(AppState {
        service: system.ports.order_service(),
        products: system.ports.product_service(),
        keys: Arc::new(ApiKeys::from_keys([API_KEY]).unwrap()),
        metrics: None,
    });
    let bench = Bench { api, counter, relay };

    let blocks = block_counts(&deployment, "*").await;
    let shipped_scope = orders_core::adapters::listing::scope(Some(OrderStatus::Shipped), None);
    let mut rows = Vec::new();

    let first = bench.page("page 1", &format!("limit={LIMIT}")).await;
    let pages = first.body["pagination"]["pages"].as_u64().unwrap();
    let total = first.body["pagination"]["total"].as_u64().unwrap();
    assert_eq!(total, orders as u64, "every seeded order is counted");
    let mut token = first.body["next_token"].as_str().map(str::to_owned);
    rows.push(first);

    let middle = pages.div_ceil(2);
    rows.push(bench.page("middle page", &format!("limit={LIMIT}&page={middle}")).await);
    rows.push(bench.page("last page", &format!("limit={LIMIT}&page={pages}")).await);
    let (worst, skipped) = (1..=pages)
        .map(|page| (page, page_start(&blocks, (page - 1) * LIMIT).map(|(_, inner)| inner).unwrap_or(0)))
        .max_by_key(|(_, inner)| *inner)
        .unwrap();
    let name = format!("most skipping (skips {skipped} in its block)");
    rows.push(bench.page(&name, &format!("limit={LIMIT}&page={worst}")).await);

    let status = bench.page("status=shipped, page 1", &format!("limit={LIMIT}&status=shipped")).await;
    let status_pages = status.body["pagination"]["pages"].as_u64().unwrap();
    rows.push(status);
    let name = "status=shipped, last page";
    rows.push(bench.page(name, &format!("limit={LIMIT}&status=shipped&page={status_pages}")).await);
    rows.push(bench.page("customer_id=CUST0007, page 1", &format!("limit={LIMIT}&customer_id=CUST0007")).await);
    let query = format!("limit={LIMIT}&customer_id=CUST0007&status=shipped");
    rows.push(bench.page("customer_id=CUST0007&status=shipped, page 1", &query).await);

    for n in 2..=6 {
        let next = token.take().expect("page 1 leads to more pages");
        assert!(next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "a base64url token");
        let row = bench.page(&format!("next_token → page {n}"), &format!("limit={LIMIT}&next_token={next}")).await;
        assert_eq!(row.body["pagination"]["page"].as_u64(), Some(n), "the token leads to page {n}");
        token = row.body["next_token"].as_str().map(str::to_owned);
        rows.push(row);
    }

    print(orders, &rows);
    let shipped_blocks = block_counts(&deployment, &shipped_scope).await.len();
    derive(orders as u64, &rows, blocks.len(), shipped_blocks);
    println!(
        "\n({orders} orders written in {:.1} s, {} blocks of {BUCKET} seq numbers; listing run in {:.1} s on moto)",
        seeded.as_secs_f64(),
        blocks.len(),
        (started.elapsed() - seeded).as_secs_f64()
    );
}

/// Writes `orders` orders through the DynamoDB store, one after the other: order `i` is
/// CUST(i mod 25)'s, in status `i mod 4`, as if `POST /orders` had created it and its status
/// changes had been made through the API (the counters see the same thing).
///
/// One at a time because moto's TransactWriteItems is not safe to run concurrently: it deep-copies
/// every table it touches before writing (to roll back on failure), and a copy taken while another
/// thread writes fails with a 500, or a rollback undoes the other thread's write. The copy also
/// makes each create cost time in proportion to the orders already stored, so seeding is quadratic.
async fn seed(deployment: &Deployment, orders: usize) {
    let store = &deployment.system.ports.orders;
    let started = Instant::now();
    for i in 0..orders {
        let now = now_millis();
        let unit = Money::from_cents(1_000 + (i % 97) as i64 * 25);
        let order = Order {
            order_id: OrderId::generate(),
            customer_id: format!("CUST{:04}", i % CUSTOMERS),
            items: vec![OrderItem {
                product_id: "PROD001".into(),
                quantity: 2,
                unit_price: unit,
                line_total: Money::from_cents(unit.cents() * 2),
            }],
            total_amount: Money::from_cents(unit.cents() * 2),
            status: STATUSES[i % STATUSES.len()],
            version: 1,
            created_at: now,
            updated_at: now,
            execution_arn: None,
            failure_reason: None,
            correlation_id: None,
        };
        store.create_order(&order, None).await.expect("the order is written");
        if (i + 1) % 250 == 0 {
            eprintln!("seeded {}/{orders} orders ({:.0} s)", i + 1, started.elapsed().as_secs_f64());
        }
    }
}

/// A scope's block counts (newest block first), read from the counters table with a Scan on the
/// uncounted clients: only to pick the page that skips most inside a block.
async fn block_counts(deployment: &Deployment, scope: &str) -> Vec<(u64, u64)> {
    let mut blocks = Vec::new();
    for item in deployment.scan_all(&deployment.system.resources.counters_table).await {
        let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok());
        if item.get("scope").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(scope)
            && let (Some(bucket), Some(count)) = (number("bucket"), number("n"))
            && count > 0
        {
            blocks.push((bucket, count));
        }
    }
    blocks.sort_by_key(|block| std::cmp::Reverse(block.0));
    blocks
}

/// The Router over counted clients, and the relay that sees what each request read.
struct Bench {
    api: axum::Router,
    counter: RequestCounter,
    relay: Relay,
}

/// One page as measured.
struct Row {
    name: String,
    query: String,
    body: Value,
    /// (service, operation) → requests, from the `RequestCounter`.
    counts: BTreeMap<(String, String), u64>,
    /// Each DynamoDB request as the relay saw it, in order.
    calls: Vec<Call>,
}

impl Bench {
    /// `GET /orders?{query}` through the Router, with the counts reset first.
    async fn page(&self, name: &str, query: &str) -> Row {
        self.counter.reset();
        self.relay.calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
        let request = axum::http::Request::builder()
            .method("GET")
            .uri(format!("/orders?{query}"))
            .header("x-api-key", API_KEY)
            .body(Body::empty())
            .unwrap();
        let response = self.api.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "GET /orders?{query}: {body}");
        let counts = self.counter.snapshot();
        let calls = std::mem::take(&mut *self.relay.calls.lock().unwrap_or_else(PoisonError::into_inner));
        assert_eq!(calls.len() as u64, counts.values().sum::<u64>(), "the relay saw every counted request");
        let scans: u64 = counts.iter().filter(|((_, op), _)| op.contains("Scan")).map(|(_, n)| n).sum();
        assert_eq!(scans, 0, "GET /orders?{query} made a Scan: {counts:?}");
        Row { name: name.to_owned(), query: query.to_owned(), body, counts, calls }
    }
}

fn print(orders: usize, rows: &[Row]) {
    println!("\n== GET /orders, limit={LIMIT}, {orders} orders on moto: DynamoDB requests per page ==\n");
    println!("| Page | Query string | Orders | Total | DynamoDB requests | By operation | What each request read |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let operations: Vec<String> = row.counts.iter().map(|((_, op), n)| format!("{op} {n}")).collect();
        let reads: Vec<String> = row.calls.iter().map(Call::describe).collect();
        let query = if row.query.contains("next_token=") {
            format!("{}next_token=…", row.query.split("next_token=").next().unwrap_or_default())
        } else {
            row.query.clone()
        };
        println!(
            "| {} | `{query}` | {} | {} | **{}** | {} | {} |",
            row.name,
            row.body["orders"].as_array().map(Vec::len).unwrap_or_default(),
            row.body["pagination"]["total"],
            row.counts.values().sum::<u64>(),
            operations.join(", "),
            reads.join("; "),
        );
    }
    let most = rows.iter().map(|r| r.counts.values().sum::<u64>()).max().unwrap_or_default();
    let scans: u64 =
        rows.iter().flat_map(|r| r.counts.iter()).filter(|((_, op), _)| op.contains("Scan")).map(|(_, n)| n).sum();
    println!("\nAt most {most} DynamoDB requests per page; Scans: {scans}.");
}

/// The bound at `DERIVED_ORDERS` orders (see the doc for the reasoning): the counters query returns
/// one item per block of the scope, the index query reads at most `BUCKET - 1` skipped entries plus
/// `limit + 1`, and each needs another request per 1 MB it reads. Item sizes at that scale are
/// computed by DynamoDB's sizing rules, next to the sizes measured here.
fn derive(orders: u64, rows: &[Row], all_blocks: usize, shipped_blocks: usize) {
    let calls = rows.iter().flat_map(|r| r.calls.iter());
    let is_counters = |c: &&Call| c.index.is_none() && c.table.ends_with("-counters");
    // Page 1 is unfiltered: its counters query reads scope `*`.
    let all_item = rows[0].calls.iter().filter(is_counters).map(|c| c.largest_item).max().unwrap_or_default();
    let counter_item = calls.clone().filter(is_counters).map(|c| c.largest_item).max().unwrap_or_default();
    let counter_items = calls.clone().filter(is_counters).map(|c| c.items).max().unwrap_or_default();
    let entries = calls.clone().filter(|c| c.index.is_some());
    let entry = entries.clone().map(|c| c.largest_item).max().unwrap_or_default();
    let most_entries = entries.map(|c| c.items).max().unwrap_or_default();
    println!(
        "\nMeasured at {orders} orders: scope * has {all_blocks} blocks with orders, status=shipped {shipped_blocks}."
    );
    println!(
        "Counter items: scope * {all_item} B (at most {} B by the sizing rules), largest read {counter_item} B (a customer-and-status \
         scope); most counter items in one answer: {counter_items}. Index entries: largest read {entry} B; most \
         read in one answer: {most_entries}.",
        counter_item_size(1, orders)
    );
    let blocks = (DERIVED_ORDERS + 1).div_ceil(BUCKET);
    let all_bytes = blocks * counter_item_size(1, DERIVED_ORDERS);
    // `seq` grows from the digits it has here to 7: its number takes up to 2 bytes more.
    let entry = entry + number_size(DERIVED_ORDERS) - number_size(orders);
    let most_read = BUCKET - 1 + MAX_LIMIT + 1;
    let index_bytes = most_read * entry;
    let requests = all_bytes.div_ceil(QUERY_PAGE_BYTES) + index_bytes.div_ceil(QUERY_PAGE_BYTES);
    // The first order count at which scope *'s counter items no longer fit in one answer.
    let mut far = BUCKET;
    while far.div_ceil(BUCKET) * counter_item_size(1, far) <= QUERY_PAGE_BYTES {
        far += BUCKET;
    }
    println!(
        "Derived for {DERIVED_ORDERS} orders (not measured): scope *'s counters query returns {blocks} items x {} B \
         = {:.1} KB; the index query reads at most {} entries at limit {LIMIT} ({most_read} at limit {MAX_LIMIT}) \
         x ~{entry} B = {:.1} KB; so {requests} Query requests per page. Scope *'s counters need a second request \
         from about {far} orders.",
        counter_item_size(1, DERIVED_ORDERS),
        all_bytes as f64 / 1024.0,
        BUCKET - 1 + LIMIT + 1,
        index_bytes as f64 / 1024.0,
    );
}

/// The largest counter item of a scope whose name is `scope_bytes` long, in a table of `orders`
/// orders: `scope` and its name, `bucket` and the highest block number, `n` and a count up to 1024.
fn counter_item_size(scope_bytes: u64, orders: u64) -> u64 {
    "scope".len() as u64 + scope_bytes + "bucket".len() as u64 + number_size(orders / BUCKET) + 1 + number_size(1023)
}

/// The most DynamoDB counts for a number of as many digits as `number`: one byte per two
/// significant digits, plus one.
fn number_size(number: u64) -> u64 {
    (number.to_string().len() as u64).div_ceil(2) + 1
}

/// One DynamoDB request and what its answer held, as the relay saw them.
#[derive(Debug, Default)]
struct Call {
    operation: String,
    table: String,
    index: Option<String>,
    /// `Count` (items returned), or 1/0 for a GetItem that found/missed its item.
    items: u64,
    /// The items' total size by DynamoDB's sizing rules.
    bytes: u64,
    largest_item: u64,
    /// `LastEvaluatedKey` was set: the answer was one page of more.
    more: bool,
}

impl Call {
    fn describe(&self) -> String {
        let what = match &self.index {
            Some(index) => format!("index {index}"),
            None => self.table.rsplit('-').next().unwrap_or(&self.table).to_owned(),
        };
        let more = if self.more { ", more" } else { "" };
        format!("{} {what}: {} items, {:.1} KB{more}", self.operation, self.items, self.bytes as f64 / 1024.0)
    }
}

/// An HTTP relay on a loopback port that forwards every request to moto unchanged and notes, for
/// DynamoDB's JSON protocol, the table, index and items of each exchange.
struct Relay {
    endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

#[derive(Clone)]
struct Upstream {
    moto: String,
    client: reqwest::Client,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Relay {
    async fn start(moto: String) -> Relay {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let upstream =
            Upstream { moto, client: reqwest::Client::builder().no_proxy().build().unwrap(), calls: calls.clone() };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Relay { endpoint, calls }
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut outgoing = upstream.client.request(parts.method.clone(), format!("{}{path}", upstream.moto));
    for (name, value) in &parts.headers {
        if ![header::HOST, header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING].contains(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.body(body.clone()).send().await.unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let answer = answer.bytes().await.unwrap();

    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Some(operation) = target.strip_prefix("DynamoDB_20120810.") {
        let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answered: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let items: Vec<&Value> = match (answered.get("Items"), answered.get("Item")) {
            (Some(Value::Array(items)), _) => items.iter().collect(),
            (_, Some(item)) => vec![item],
            _ => Vec::new(),
        };
        let sizes: Vec<u64> = items.iter().map(|item| json_item_size(item)).collect();
        let call = Call {
            operation: operation.to_owned(),
            table: asked["TableName"].as_str().unwrap_or_default().to_owned(),
            index: asked["IndexName"].as_str().map(str::to_owned),
            items: answered["Count"].as_u64().unwrap_or(items.len() as u64),
            bytes: sizes.iter().sum(),
            largest_item: sizes.iter().copied().max().unwrap_or_default(),
            more: answered.get("LastEvaluatedKey").is_some_and(|k| k.as_object().is_some_and(|k| !k.is_empty())),
        };
        upstream.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
    }

    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if ![header::CONTENT_LENGTH, header::CONNECTION, header::TRANSFER_ENCODING].contains(name) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer)).unwrap()
}

/// An item's size by DynamoDB's sizing rules (as `orders_core::adapters::aws::item_size`), from
/// DynamoDB's JSON (`{"name": {"S": "…"}, …}`).
fn json_item_size(item: &Value) -> u64 {
    item.as_object()
        .map(|attrs| attrs.iter().map(|(name, value)| name.len() as u64 + json_value_size(value)).sum())
        .unwrap_or(0)
}

fn json_value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let number = |text: &str| {
        let digits = text.trim_start_matches(['-', '0']).replace('.', "");
        (digits.trim_end_matches('0').len() as u64).div_ceil(2) + 1
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(text)) => text.len() as u64,
        ("B", Value::String(text)) => text.len() as u64 * 3 / 4,
        ("N", Value::String(text)) => number(text),
        ("L", Value::Array(list)) => 3 + list.iter().map(|v| 1 + json_value_size(v)).sum::<u64>(),
        ("M", Value::Object(map)) => 3 + map.iter().map(|(k, v)| 1 + k.len() as u64 + json_value_size(v)).sum::<u64>(),
        ("SS", Value::Array(set)) => set.iter().filter_map(Value::as_str).map(|s| s.len() as u64).sum(),
        ("NS", Value::Array(set)) => set.iter().filter_map(Value::as_str).map(number).sum(),
        _ => 1,
    }
}
