//! The listing benchmark's two halves (`scripts/bench-listing`, docs/BENCHMARKS.md).
//!
//! `bench_listing seed DATA_DIR ORDERS` fills an embedded data folder with ORDERS orders through the
//! store's own `create_order` (the same transaction `POST /orders` runs: order, listing counts and
//! change feed), for 1,000 customers, every tenth order moved on to `processing`. The orders bypass
//! the pipeline on purpose: the stream processor's feed position is moved past them, so the server
//! measured afterwards lists a million orders instead of backing them up. A folder already holding
//! ORDERS orders is kept as it is.
//!
//! `bench_listing measure URL KEY [REQUESTS]` times `GET /orders?limit=50` one request at a time
//! over one keep-alive connection, for each way of reaching a page: the first, a random page, the
//! last, a walk with `next_token`, and random pages of a status and of a customer. Prints p50, p99
//! and the slowest request of each.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use orders_cli::pipeline::STREAM_CONSUMER;
use orders_core::adapters::embedded::{DATABASE_FILE, Database};
use orders_core::domain::{Money, Order, OrderId, OrderItem, OrderStatus};
use orders_core::ports::{ChangeFeed, ListFilter, ListRequest, OrderStore, PagePosition};
use serde_json::Value;

const CUSTOMERS: usize = 1_000;
const PAGE: u32 = 50;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["seed", dir, orders] => seed(PathBuf::from(dir), orders.parse().expect("ORDERS is a number")).await,
        ["measure", url, key] => measure(url, key, 1_000).await,
        ["measure", url, key, requests] => measure(url, key, requests.parse().expect("REQUESTS is a number")).await,
        _ => {
            eprintln!("usage: bench_listing seed DATA_DIR ORDERS | bench_listing measure URL KEY [REQUESTS]");
            std::process::exit(2);
        }
    }
}

fn customer(n: usize) -> String {
    format!("CUST-{:04}", n % CUSTOMERS)
}

async fn seed(dir: PathBuf, orders: u64) {
    std::fs::create_dir_all(&dir).unwrap();
    let database = Database::open(&dir.join(DATABASE_FILE)).unwrap();
    let all = ListRequest { filter: ListFilter::default(), limit: 1, position: PagePosition::Number(1) };
    let stored = database.list_orders(&all).await.unwrap().total;
    if stored == orders {
        println!("seed: {} already holds {orders} orders", dir.display());
        return;
    }
    assert_eq!(stored, 0, "{} holds {stored} orders, not {orders}: remove it first", dir.display());

    let started = Instant::now();
    let database = Arc::new(database);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Enough writers in flight for the group commit to batch them.
    let writers: Vec<_> = (0..256)
        .map(|_| {
            let (database, next) = (database.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= orders {
                        return;
                    }
                    let order = order(usize::try_from(n).unwrap());
                    database.create_order(&order, None).await.unwrap();
                    if n % 10 == 0 {
                        database.update_status(order.order_id, OrderStatus::Processing.into(), None).await.unwrap();
                    }
                    if n % 100_000 == 0 && n > 0 {
                        println!("seed: {n} orders after {:.0?}", started.elapsed());
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Move the stream processor past the seeded changes: read the feed to its end.
    let mut position = database.position(STREAM_CONSUMER).await.unwrap();
    loop {
        let changes = database.changes_after(position, 10_000).await.unwrap();
        match changes.last() {
            Some(last) => position = last.sequence,
            None => break,
        }
    }
    database.save_position(STREAM_CONSUMER, position).await.unwrap();
    println!("seed: {orders} orders in {:.1?}; stream processor moved to change {position}", started.elapsed());
}

fn order(n: usize) -> Order {
    let now = Utc::now();
    let quantity = u32::try_from(1 + n % 3).unwrap();
    let unit_price = Money::from_cents(2_550);
    let line_total = Money::from_cents(2_550 * i64::from(quantity));
    Order {
        order_id: OrderId::generate(),
        customer_id: customer(n),
        items: vec![OrderItem { product_id: "PROD001".into(), quantity, unit_price, line_total }],
        total_amount: line_total,
        status: OrderStatus::Pending,
        version: 1,
        created_at: now,
        updated_at: now,
        execution_arn: None,
        failure_reason: None,
        correlation_id: None,
    }
}

/// A scenario's query string, given the random state that picks its page.
type Query<'a> = dyn Fn(&mut u64) -> String + 'a;

/// Latency figures of one scenario.
struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1).min(samples.len() - 1)];
    Figures { p50: at(0.50), p99: at(0.99), max: *samples.last().unwrap() }
}

async fn measure(url: &str, key: &str, requests: usize) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let get = |query: String| {
        let client = client.clone();
        let url = format!("{url}/orders?{query}");
        let key = key.to_owned();
        async move {
            let started = Instant::now();
            let response = client.get(&url).header("x-api-key", key).send().await.unwrap();
            assert!(response.status().is_success(), "{url}: {}", response.status());
            let body: Value = response.json().await.unwrap();
            (started.elapsed(), body)
        }
    };
    // Warm the connection and read the totals.
    let (_, first) = get(format!("limit={PAGE}")).await;
    let total = first["pagination"]["total"].as_u64().unwrap();
    let pages = first["pagination"]["pages"].as_u64().unwrap();
    let (_, processing) = get(format!("limit={PAGE}&status=processing")).await;
    let processing_pages = processing["pagination"]["pages"].as_u64().unwrap();
    let (_, customer_page) = get(format!("limit={PAGE}&customer_id={}", customer(7))).await;
    let customer_pages = customer_page["pagination"]["pages"].as_u64().unwrap();
    println!(
        "{total} orders, {pages} pages of {PAGE}; status=processing: {processing_pages} pages; one customer: {customer_pages} pages"
    );
    println!("{requests} requests per scenario, one at a time");
    println!("{:<38} {:>9} {:>9} {:>9}", "scenario", "p50", "p99", "max");

    let mut random = 0x5eed_u64;
    let pick = |random: &mut u64, of: u64| 1 + next_random(random) % of;
    let scenarios: [(&str, &Query); 5] = [
        ("page 1", &|_| format!("limit={PAGE}&page=1")),
        ("random page", &|r| format!("limit={PAGE}&page={}", pick(r, pages))),
        ("last page", &|_| format!("limit={PAGE}&page={pages}")),
        ("random page, status=processing", &|r| {
            format!("limit={PAGE}&status=processing&page={}", pick(r, processing_pages))
        }),
        ("random page, one customer", &|r| {
            format!("limit={PAGE}&customer_id={}&page={}", customer(7), pick(r, customer_pages))
        }),
    ];
    for (name, query) in scenarios {
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let (took, _) = get(query(&mut random)).await;
            samples.push(took);
        }
        print_figures(name, &figures(samples));
    }

    // The cursor: follow next_token page after page from the newest order.
    let mut samples = Vec::with_capacity(requests);
    let mut token: Option<String> = None;
    for _ in 0..requests {
        let query = match &token {
            Some(token) => format!("limit={PAGE}&next_token={token}"),
            None => format!("limit={PAGE}"),
        };
        let (took, body) = get(query).await;
        samples.push(took);
        token = body["next_token"].as_str().map(str::to_owned);
    }
    print_figures("next_token walk", &figures(samples));
}

fn print_figures(name: &str, figures: &Figures) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!("{name:<38} {:>9} {:>9} {:>9}", ms(figures.p50), ms(figures.p99), ms(figures.max));
}

/// xorshift64: reproducible page choices without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
