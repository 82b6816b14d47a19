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

/// A `next_token` with its JSON replaced by `edit` of what the server issued.
fn tampered(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut fields: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    edit(&mut fields);
    URL_SAFE_NO_PAD.encode(fields.to_string())
}

/// Every edited form of an honest token is a 400 naming next_token; the honest token still works.
async fn tampered_tokens_are_400s_and_honest_ones_work(server: &Server) {
    // Given three orders and the token of the second page of one
    for customer in ["T1", "T2", "T3"] {
        server.create_for(customer).await;
    }
    let (_, first) = server.get_json("/orders?limit=1").await;
    let token = first["next_token"].as_str().unwrap().to_owned();
    // (what, which field, its new value); no field: the whole token
    let edits = [
        ("c not a number", "c", json!("abc")),
        ("c an object's text", "c", json!("{}")),
        ("c of 20 digits", "c", json!("99999999999999999999")),
        ("c past int64", "c", json!("9223372036854775808")),
        ("c zero", "c", json!("0")),
        ("c negative", "c", json!("-5")),
        ("c a number", "c", json!(5)),
        ("p zero", "p", json!(0)),
        ("p one", "p", json!(1)),
        ("p 2^64-1", "p", json!(u64::MAX)),
        ("p past int64", "p", json!(i64::MAX as u64 + 1)),
        ("an empty object", "", json!({})),
    ];
    for (what, field, value) in edits {
        // When the token is edited and sent back
        let edit = |t: &mut serde_json::Value| if field.is_empty() { *t = value } else { t[field] = value };
        let path = format!("/orders?limit=1&next_token={}", tampered(&token, edit));
        let response = server.request(reqwest::Method::GET, &path).send().await.unwrap();
        // Then it is a 400 naming next_token, never a 500
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        let body = crate::common::body_json(response).await;
        assert_eq!(body, json!({"message": "Invalid field next_token: is not a token this API issued"}), "{what}");
    }
    // And the honest token leads to page 2, whose token leads to page 3
    let (status, second) = server.get_json(&format!("/orders?limit=1&next_token={token}")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["pagination"]["page"], 2);
    assert_eq!(second["orders"][0]["customer_id"], "T2");
    let next = second["next_token"].as_str().unwrap();
    let (_, third) = server.get_json(&format!("/orders?limit=1&next_token={next}")).await;
    assert_eq!(
        (third["pagination"]["page"].clone(), third["orders"][0]["customer_id"].clone()),
        (json!(3), json!("T1"))
    );
}

#[tokio::test]
async fn a_tampered_next_token_is_a_400_on_the_embedded_store() {
    tampered_tokens_are_400s_and_honest_ones_work(&Server::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_next_token_is_a_400_on_dynamodb() {
    let moto = crate::moto::Moto::start().await;
    let aws = crate::common::AwsTarget { endpoint: moto.endpoint(), prefix: "tokens".into() };
    let server = Server::launch(crate::common::Launch { aws: Some(aws), ..Default::default() }).await;
    tampered_tokens_are_400s_and_honest_ones_work(&server).await;
}
