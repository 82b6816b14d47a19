//! The yardstick for `scripts/bench-http`: a bare axum server on the same runtime settings as
//! `orders serve`, doing no work. `GET /orders/{id}` answers a fixed order-sized JSON body and
//! `POST /orders` reads the JSON body and answers 201; no key check, no storage. Usage:
//! `bare_axum ADDR` (port 0 picks one; the address is printed as `listening on http://ADDR`).

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

const ORDER: &str = r#"{"order_id":"8f14e45f-ceea-467e-a8f2-5bc9b2f0c8a1","customer_id":"CUST001","items":[{"product_id":"PROD001","quantity":2,"unit_price":25.50,"line_total":51.00},{"product_id":"PROD002","quantity":1,"unit_price":99.75,"line_total":99.75}],"total_amount":150.75,"status":"pending","version":1,"created_at":"2026-11-25T08:00:00.000Z","updated_at":"2026-11-25T08:00:00.000Z","execution_arn":"arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:8f14e45f-ceea-467e-a8f2-5bc9b2f0c8a1"}"#;

async fn get_order() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ORDER)
}

async fn create_order(body: Bytes) -> impl IntoResponse {
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
    match parsed {
        Ok(_) => (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], ORDER),
        Err(_) => (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], r#"{"message":"bad"}"#),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let app = Router::new().route("/orders/{order_id}", get(get_order)).route("/orders", post(create_order));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
