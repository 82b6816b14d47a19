//! Listing: the seed's page/limit/total/pages, filters, the cursor, and bad query values.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Server, assert_error};

#[tokio::test]
async fn pages_follow_the_seed_and_show_newest_first() {
    // Given 25 orders
    let server = Server::start().await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(server.create_for(&format!("CUST{:03}", i % 3)).await);
    }
    // When the first page is asked for with the seed's query
    let (status, page1) = server.get_json("/orders?page=1&limit=10").await;
    // Then it holds the 10 newest, and the seed's pagination figures
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["pagination"], json!({"page": 1, "limit": 10, "total": 25, "pages": 3}));
    let ids: Vec<&str> = page1["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap()).collect();
    let newest: Vec<&str> = created.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(ids, newest);
    let first = page1["orders"][0].as_object().unwrap();
    let fields: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(fields, ["created_at", "customer_id", "order_id", "status", "total_amount"]);
    // And the last page holds the rest, a page past the end is empty
    let (_, page3) = server.get_json("/orders?page=3&limit=10").await;
    assert_eq!(page3["orders"].as_array().unwrap().len(), 5);
    assert_eq!(page3["orders"][4]["order_id"], created[0]);
    assert_eq!(page3["next_token"], json!(null));
    let (_, page4) = server.get_json("/orders?page=4&limit=10").await;
    assert_eq!(page4["orders"], json!([]));
    assert_eq!(page4["pagination"], json!({"page": 4, "limit": 10, "total": 25, "pages": 3}));
    // And the defaults are page 1 of 10; limits above 100 are capped
    let (_, default) = server.get_json("/orders").await;
    assert_eq!(default["pagination"], json!({"page": 1, "limit": 10, "total": 25, "pages": 3}));
    let (_, capped) = server.get_json("/orders?limit=1000").await;
    assert_eq!(capped["pagination"]["limit"], 100);
    assert_eq!(capped["orders"].as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn the_cursor_walks_every_order_once_and_agrees_with_page_numbers() {
    let server = Server::start().await;
    for i in 0..23 {
        server.create_for(&format!("C{i}")).await;
    }
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut page_number = 1;
    loop {
        let path = match &token {
            None => "/orders?limit=5".to_owned(),
            Some(token) => format!("/orders?limit=5&next_token={token}"),
        };
        let (status, page) = server.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["pagination"]["page"], page_number);
        // The same page by number holds the same orders (their statuses move on with the workflow)
        let (_, by_number) = server.get_json(&format!("/orders?limit=5&page={page_number}")).await;
        let ids = |page: &serde_json::Value| -> Vec<String> {
            page["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids(&by_number), ids(&page));
        for order in page["orders"].as_array().unwrap() {
            assert!(seen.insert(order["order_id"].as_str().unwrap().to_owned()), "an order came twice");
        }
        match page["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
        page_number += 1;
    }
    assert_eq!(seen.len(), 23);
    assert_eq!(page_number, 5);
}

#[tokio::test]
async fn status_and_customer_filters_narrow_the_listing_and_its_total() {
    let server = Server::start().await;
    let a1 = server.create_processing("ALICE").await;
    let _a2 = server.create_processing("ALICE").await;
    let b1 = server.create_processing("BOB").await;
    assert_eq!(server.set_status(&a1, "cancelled", None).await.status(), StatusCode::OK);
    assert_eq!(server.set_status(&b1, "cancelled", None).await.status(), StatusCode::OK);

    let (_, alice) = server.get_json("/orders?customer_id=ALICE").await;
    assert_eq!(alice["pagination"]["total"], 2);
    let (_, cancelled) = server.get_json("/orders?status=cancelled").await;
    assert_eq!(cancelled["pagination"]["total"], 2);
    let (_, alice_cancelled) = server.get_json("/orders?status=cancelled&customer_id=ALICE").await;
    assert_eq!(alice_cancelled["pagination"]["total"], 1);
    assert_eq!(alice_cancelled["orders"][0]["order_id"], a1);
    let (_, processing) = server.get_json("/orders?status=processing").await;
    assert_eq!(processing["pagination"]["total"], 1);
    let (_, pending) = server.get_json("/orders?status=pending").await;
    assert_eq!(pending["pagination"]["total"], 0);
    // A deleted order leaves the totals
    let deleted = server.request(reqwest::Method::DELETE, &format!("/orders/{a1}")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let (_, alice) = server.get_json("/orders?customer_id=ALICE").await;
    assert_eq!(alice["pagination"]["total"], 1);
    let (_, all) = server.get_json("/orders").await;
    assert_eq!(all["pagination"]["total"], 2);
}

#[tokio::test]
async fn bad_query_values_are_400s_naming_the_parameter() {
    let server = Server::start().await;
    server.create_for("C1").await;
    server.create_for("C2").await;
    let get = |path: &'static str| server.request(reqwest::Method::GET, path).send();
    for (path, message) in [
        ("/orders?page=0", "Invalid field page: must be a positive integer"),
        ("/orders?page=abc", "Invalid field page: must be a positive integer"),
        ("/orders?page=-1", "Invalid field page: must be a positive integer"),
        ("/orders?limit=0", "Invalid field limit: must be a positive integer"),
        ("/orders?limit=1.5", "Invalid field limit: must be a positive integer"),
        (
            "/orders?status=lost",
            "Invalid field status: status must be one of pending, processing, shipped, delivered, cancelled, failed (got \"lost\")",
        ),
        ("/orders?next_token=garbage", "Invalid field next_token: is not a token this API issued"),
    ] {
        assert_error(get(path).await.unwrap(), StatusCode::BAD_REQUEST, message).await;
    }
    // A token is tied to the query it came from
    let (_, page) = server.get_json("/orders?limit=1").await;
    let token = page["next_token"].as_str().unwrap();
    let response = server
        .request(reqwest::Method::GET, &format!("/orders?limit=1&status=pending&next_token={token}"))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Invalid field next_token: was issued for other filters or another limit; repeat the query it came from",
    )
    .await;
    let response = server
        .request(reqwest::Method::GET, &format!("/orders?limit=1&page=2&next_token={token}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "Invalid field next_token: cannot be combined with page").await;
}
