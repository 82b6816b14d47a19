//! Criterion benchmarks of the order pipeline's hot in-process paths in `orders-core`: reading and
//! pricing a `POST /orders` body, turning an order image into a DynamoDB item and back, and writing
//! an order as the API answers it. Each runs on the seed's example order (CUST001, 2 × PROD001 and
//! 1 × PROD002 from the demo catalog) and on a 50-line order. Results and the command line are in
//! `docs/benchmarks/criterion.md`.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orders_core::adapters::dynamodb_item::{from_item, to_item};
use orders_core::domain::validation::NewOrder;
use orders_core::domain::{Money, Order, OrderId, OrderStatus, Product, ProductCatalog};
use orders_core::ports::{OrderImage, StatusWait};
use serde_json::json;

/// The seed's example request body, as a client sends it.
const SEED_BODY: &str = r#"{"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]}"#;

/// Lines in the larger order.
const LARGE_LINES: usize = 50;

/// One input: a request body, the catalog it is priced against, and how many lines it has.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    catalog: ProductCatalog,
    lines: u64,
}

/// The demo catalog plus PROD006 … PROD050, so a 50-line order (a product at most once per order)
/// can be priced.
fn large_catalog() -> ProductCatalog {
    let mut products = ProductCatalog::demo().products();
    products.extend((products.len() + 1..=LARGE_LINES).map(|n| Product {
        product_id: format!("PROD{n:03}"),
        name: format!("Part {n}"),
        unit_price: Money::from_cents(199 + 37 * n as i64),
        stock: None,
    }));
    ProductCatalog::new(products).expect("the generated catalog is valid")
}

fn cases() -> [Case; 2] {
    let items: Vec<_> =
        (1..=LARGE_LINES).map(|n| json!({"product_id": format!("PROD{n:03}"), "quantity": 1 + n % 7})).collect();
    let large_body =
        serde_json::to_vec(&json!({"customer_id": "CUST042", "items": items})).expect("the 50-line body serialises");
    [
        Case { name: "seed_2_lines", body: SEED_BODY.as_bytes().to_vec(), catalog: ProductCatalog::demo(), lines: 2 },
        Case { name: "50_lines", body: large_body, catalog: large_catalog(), lines: LARGE_LINES as u64 },
    ]
}

/// The order `POST /orders` would store for a case, with fixed id, times and execution ARN.
fn order_of(case: &Case) -> Order {
    let new_order = NewOrder::from_json_bytes(&case.body).expect("the case body is a valid order");
    let (items, total_amount) = new_order.price(&case.catalog).expect("the case body prices");
    let order_id: OrderId = "550e8400-e29b-41d4-a716-446655440000".parse().expect("a canonical UUID");
    let at: DateTime<Utc> =
        DateTime::parse_from_rfc3339("2024-01-24T10:30:00.000Z").expect("an RFC 3339 timestamp").with_timezone(&Utc);
    Order {
        order_id,
        customer_id: new_order.customer_id,
        items,
        total_amount,
        status: OrderStatus::Pending,
        version: 1,
        created_at: at,
        updated_at: at,
        execution_arn: Some(format!(
            "arn:aws:states:us-east-1:123456789012:execution:OrderProcessingStateMachine:{order_id}"
        )),
        failure_reason: None,
        correlation_id: None,
    }
}

/// The stored image of a case's order while its workflow waits for it to be shipped (every
/// attribute of the item present).
fn image_of(case: &Case) -> OrderImage {
    let mut order = order_of(case);
    order.status = OrderStatus::Processing;
    order.version = 2;
    OrderImage {
        order,
        awaiting: Some(StatusWait { status: OrderStatus::Shipped, task_token: format!("smtt1-{}", "ab".repeat(32)) }),
        idempotency: None,
        stock_consumed: false,
        workflow_started: true,
    }
}

fn validate_and_price(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_and_price");
    for case in cases() {
        assert!(NewOrder::from_json_bytes(&case.body).and_then(|o| o.price(&case.catalog)).is_ok());
        group.throughput(Throughput::Elements(case.lines));
        group.bench_with_input(BenchmarkId::from_parameter(case.name), &case, |b, case| {
            b.iter(|| {
                let order = NewOrder::from_json_bytes(black_box(&case.body)).expect("valid body");
                order.price(black_box(&case.catalog)).expect("priced")
            })
        });
    }
    group.finish();
}

fn dynamodb_item(c: &mut Criterion) {
    let mut group = c.benchmark_group("dynamodb_item");
    for case in cases() {
        let image = image_of(&case);
        let item = to_item(&image).expect("an order image becomes an item");
        assert_eq!(from_item(item.clone()).expect("the item reads back"), image);
        group.throughput(Throughput::Elements(case.lines));
        group.bench_with_input(BenchmarkId::new("to_item", case.name), &image, |b, image| {
            b.iter(|| to_item(black_box(image)).expect("to_item"))
        });
        // `from_item` takes the item by value: the clone is made outside the timed part.
        group.bench_with_input(BenchmarkId::new("from_item", case.name), &item, |b, item| {
            b.iter_batched(
                || item.clone(),
                |item| from_item(black_box(item)).expect("from_item"),
                BatchSize::SmallInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("round_trip", case.name), &image, |b, image| {
            b.iter(|| from_item(to_item(black_box(image)).expect("to_item")).expect("from_item"))
        });
    }
    group.finish();
}

fn order_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("order_to_json");
    for case in cases() {
        let order = order_of(&case);
        let bytes = serde_json::to_vec(&order).expect("an order serialises");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(case.name), &order, |b, order| {
            b.iter(|| serde_json::to_vec(black_box(order)).expect("to_vec"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate_and_price, dynamodb_item, order_json);
criterion_main!(benches);
