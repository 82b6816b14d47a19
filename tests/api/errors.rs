//! Bad input: every broken rule gets a clear JSON error, and nothing is stored.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Server, assert_error, body_json, seed_order};

#[tokio::test]
async fn each_broken_rule_is_a_400_naming_the_field_and_stores_nothing() {
    let server = Server::start().await;
    let cases = [
        (json!({"items": [{"product_id": "PROD001", "quantity": 1}]}), "Missing required field: customer_id"),
        (json!({"customer_id": "CUST001"}), "Missing required field: items"),
        (json!({"customer_id": "CUST001", "items": []}), "Invalid field items: must hold 1 to 100 items"),
        (
            json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": 0}]}),
            "Invalid field items[0].quantity: must be an integer from 1 to 1000",
        ),
        (
            json!({"customer_id": "CUST001", "items": [{"product_id": "PROD001", "quantity": "2"}]}),
            "Invalid field items[0].quantity: must be an integer from 1 to 1000",
        ),
        (
            json!({"customer_id": "CUST001", "items": [{"product_id": "PROD999", "quantity": 1}]}),
            "Unknown product_id \"PROD999\" in items[0].product_id",
        ),
        (
            json!({"customer_id": 42, "items": [{"product_id": "PROD001", "quantity": 1}]}),
            "Invalid field customer_id: must be a string",
        ),
        (json!("just a string"), "Request body must be a JSON object"),
    ];
    for (body, message) in cases {
        assert_error(server.create(&body).await, StatusCode::BAD_REQUEST, message).await;
    }
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 0, "a refused order must not be stored");
}

#[tokio::test]
async fn malformed_json_wrong_type_and_oversized_bodies_are_refused() {
    let server = Server::start().await;
    // Broken JSON
    let response = server
        .request(Method::POST, "/orders")
        .header("content-type", "application/json")
        .body("{\"customer_id\": \"CUST001\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message = body_json(response).await["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("Invalid JSON: "), "{message}");
    // Not declared as JSON
    let response = server
        .request(Method::POST, "/orders")
        .header("content-type", "text/plain")
        .body(seed_order().to_string())
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json").await;
    // Over 1 MiB
    let huge = format!("{{\"customer_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let response = server
        .request(Method::POST, "/orders")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large (limit 1048576 bytes)").await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_routes_and_methods_get_json_errors() {
    let server = Server::start().await;
    let unknown = "550e8400-e29b-41d4-a716-446655440000";
    let get = |path: String| server.request(Method::GET, &path).send();
    assert_error(get(format!("/orders/{unknown}")).await.unwrap(), StatusCode::NOT_FOUND, "Order not found").await;
    assert_error(
        get("/orders/not-a-uuid".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "Invalid order_id: must be a UUID",
    )
    .await;
    assert_error(get("/no/such/route".into()).await.unwrap(), StatusCode::NOT_FOUND, "Not found").await;
    let response = server.request(Method::PATCH, "/orders").send().await.unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").await;
    let response = server.set_status(unknown, "shipped", None).await;
    assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
    let response = server.request(Method::DELETE, &format!("/orders/{unknown}")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
    let response = server.request(Method::POST, &format!("/orders/{unknown}/workflow")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = Server::start().await;
    let response = server.request(Method::GET, "/orders").header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(response.headers().get("x-request-id").unwrap(), "trace-me-123");
    let response = server.anonymous(Method::GET, "/orders").send().await.unwrap();
    assert!(uuid::Uuid::parse_str(response.headers().get("x-request-id").unwrap().to_str().unwrap()).is_ok());
}

#[tokio::test]
async fn path_segments_that_are_not_utf8_get_the_json_400() {
    // axum's own rejection is plain text; every route answers the seed's JSON body instead.
    let server = Server::start().await;
    let order_message = "Invalid order_id: must be a UUID";
    for (method, path) in
        [(Method::GET, "/orders/%FF"), (Method::DELETE, "/orders/%FF"), (Method::POST, "/orders/%C3%28/workflow")]
    {
        let response = server.request(method, path).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, order_message).await;
    }
    let response = server
        .request(Method::PUT, "/orders/%FF/status")
        .header("content-type", "application/json")
        .body(r#"{"status":"shipped"}"#)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, order_message).await;
    let response = server.request(Method::GET, "/executions/arn%3Aaws%3Astates%3A%FF").send().await.unwrap();
    let arn_message = "Invalid execution_arn must look like arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME";
    assert_error(response, StatusCode::BAD_REQUEST, arn_message).await;
}

#[tokio::test]
async fn query_parameters_that_are_not_utf8_get_a_400_naming_them() {
    // Given an order of customer "\u{FFFD}": what a lossy decoding of %FF would filter by.
    let server = Server::start().await;
    let response =
        server.create(&json!({"customer_id": "\u{FFFD}", "items": [{"product_id": "PROD001", "quantity": 1}]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // When the listing's filter is not UTF-8 once percent-decoded, then it is a 400 naming it,
    // not a 200 listing that customer's orders.
    for (path, message) in [
        ("/orders?page=1&customer_id=%FF", "Invalid query string: customer_id is not UTF-8 once percent-decoded"),
        ("/orders?%C3%28=1", "Invalid query string: a parameter name is not UTF-8 once percent-decoded"),
    ] {
        let response = server.request(Method::GET, path).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, message).await;
    }
    // And the same customer spelt in UTF-8 (%EF%BF%BD) still finds the order.
    let (status, listing) = server.get_json("/orders?customer_id=%EF%BF%BD").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["pagination"]["total"], 1);
}

#[tokio::test]
async fn an_execution_arn_with_odd_characters_in_its_region_is_a_400_not_a_500() {
    // Found by schemathesis: the ARN passed the API's check, then the workflow engine refused it
    // with an error of its own, which was a 500 "Workflow engine failure".
    let server = Server::start().await;
    for region in ["%C2%83", "us%20east", "us_east", "%0E"] {
        let path = format!("/executions/arn%3Aaws%3Astates%3A{region}%3A123456789012%3Aexecution%3AM%3Aname");
        let response = server.request(Method::GET, &path).send().await.unwrap();
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "Invalid execution_arn must look like arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME",
        )
        .await;
    }
    let path = "/executions/arn%3Aaws%0E%3Astates%3Aus-east-1%3A123456789012%3Aexecution%3AM%3Aname";
    let response = server.request(Method::GET, path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "partition with a control character");
}

#[tokio::test]
async fn page_and_limit_beyond_the_documented_int64_are_refused() {
    // Found by schemathesis: the document gives them as int64, the server took any u64 and echoed
    // a page number beyond int64 in `pagination.page`.
    let server = Server::start().await;
    let (status, list) = server.get_json("/orders?page=9223372036854775807&limit=9223372036854775807").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["pagination"]["limit"], 100, "a large limit is capped, not refused");
    for name in ["page", "limit"] {
        for value in ["9223372036854775808", "18446744073709551615", "18446744073709551616"] {
            let response = server.request(Method::GET, &format!("/orders?{name}={value}")).send().await.unwrap();
            let message = format!("Invalid field {name}: must be at most 9223372036854775807");
            assert_error(response, StatusCode::BAD_REQUEST, &message).await;
        }
        let response = server.request(Method::GET, &format!("/orders?{name}=0")).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, &format!("Invalid field {name}: must be a positive integer"))
            .await;
    }
}

#[tokio::test]
async fn if_match_takes_only_a_version() {
    // Found by schemathesis: `If-Match: null` was refused although the document allowed any string;
    // the document now gives the header's pattern, and the server reads exactly that (`""1""` and
    // `W/1`, read as version 1 before, are refused now).
    let server = Server::start().await;
    let unknown = "550e8400-e29b-41d4-a716-446655440000";
    for refused in ["null", "W/1", "\"\"1\"\"", "\"1", "99999999999999999999"] {
        let response = server.set_status(unknown, "cancelled", Some(refused)).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "Invalid If-Match header: expected the order's version, like \"3\"",
        )
        .await;
    }
    for accepted in ["\"1\"", "W/\"1\"", "1", "*"] {
        let response = server.set_status(unknown, "cancelled", Some(accepted)).await;
        assert_error(response, StatusCode::NOT_FOUND, "Order not found").await;
    }
}

#[tokio::test]
async fn a_body_naming_a_key_twice_is_a_400_naming_the_key_and_stores_nothing() {
    // Given a running server
    let server = Server::start().await;
    let send = |method: Method, path: String, body: &'static str| {
        server.request(method, &path).header("content-type", "application/json").body(body).send()
    };
    let cases = [
        // customer_id twice: serde_json alone keeps the last one and creates an order for CUST002
        (
            r#"{"customer_id":"CUST001","customer_id":"CUST002","items":[{"product_id":"PROD001","quantity":1}]}"#,
            "customer_id",
        ),
        // a repeated key inside an item
        (r#"{"customer_id":"CUST001","items":[{"product_id":"PROD001","quantity":1,"quantity":900}]}"#, "quantity"),
    ];
    for (body, key) in cases {
        // When an order is posted with a key twice
        let response = send(Method::POST, "/orders".into(), body).await.unwrap();
        // Then it is a 400 whose message names the key, as the other JSON errors read
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let message = body_json(response).await["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(&format!("Invalid JSON: duplicate key \"{key}\" at line 1 column ")), "{message}");
    }
    // And no order was created
    let (_, list) = server.get_json("/orders").await;
    assert_eq!(list["pagination"]["total"], 0, "a refused order must not be stored");

    // When a status change names status twice
    let order_id = server.create_for("CUST001").await;
    let response =
        send(Method::PUT, format!("/orders/{order_id}/status"), r#"{"status":"cancelled","status":"pending"}"#)
            .await
            .unwrap();
    // Then it is refused the same way, and the order keeps its status
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message = body_json(response).await["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("Invalid JSON: duplicate key \"status\""), "{message}");
    let (_, order) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_ne!(order["status"], "cancelled");
}
