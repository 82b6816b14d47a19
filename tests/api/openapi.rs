//! `GET /openapi.json` describes every route, body and error of the API, and its formats, patterns and
//! bounds are exactly what the server accepts (schemathesis, `scripts/schemathesis`, generates its
//! requests from them: a pattern looser or stricter than the server is a failure there).

use regex_lite::Regex;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Server, seed_order};

#[tokio::test]
async fn the_document_describes_every_route_with_its_errors() {
    let server = Server::start().await;
    let (status, doc) = server.get_json("/openapi.json").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["name"], "x-api-key");
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["in"], "header");

    // Every route that reads or writes storage can answer 503 (storage busy, `Retry-After: 1`), and
    // every route 429 (the per-client rate limit of `orders serve`, API Gateway's throttling).
    let expected: [(&str, &str, &[&str]); 12] = [
        ("/orders", "post", &["201", "400", "403", "413", "415", "422", "500", "503"]),
        ("/orders", "get", &["200", "400", "403", "500", "503"]),
        ("/orders/{order_id}", "get", &["200", "400", "403", "404", "500", "503"]),
        ("/orders/{order_id}", "delete", &["200", "400", "403", "404", "412", "500", "503"]),
        ("/orders/{order_id}/status", "put", &["200", "400", "403", "404", "409", "412", "413", "415", "500", "503"]),
        ("/orders/{order_id}/workflow", "post", &["200", "202", "400", "403", "404", "500", "503"]),
        ("/executions/{execution_arn}", "get", &["200", "400", "403", "404", "500", "503"]),
        ("/products", "get", &["200", "400", "403", "500", "503"]),
        ("/products/{product_id}", "get", &["200", "400", "403", "404", "500", "503"]),
        ("/products/{product_id}/stock", "put", &["200", "400", "403", "404", "412", "413", "415", "500", "503"]),
        ("/openapi.json", "get", &["200", "403"]),
        ("/metrics", "get", &["200", "403", "404"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "every operation, and only those, is documented");
    for (path, method, codes) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        for code in codes.iter().chain(&["429"]) {
            assert!(operation["responses"][code].is_object(), "{method} {path} does not document {code}");
        }
        // Every error response points at the seed's error body
        for (code, response) in operation["responses"].as_object().unwrap() {
            if code.starts_with('4') || code.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {code}");
            }
            if code == "503" || code == "429" {
                assert!(response["headers"]["Retry-After"].is_object(), "{method} {path} {code} without Retry-After");
            }
        }
    }
    assert!(doc["paths"]["/orders"]["post"]["responses"]["201"]["headers"]["Location"].is_object());
    // Request bodies are described
    let create_schema =
        &doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(create_schema, "#/components/schemas/NewOrder");
    let stock_schema =
        &doc["paths"]["/products/{product_id}/stock"]["put"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(stock_schema["$ref"], "#/components/schemas/StockChange");
    let stock_change = &doc["components"]["schemas"]["StockChange"];
    assert_eq!(stock_change["required"], json!(["stock"]));
    assert_eq!(stock_change["additionalProperties"], false);
    assert_eq!(
        (&stock_change["properties"]["stock"]["minimum"], &stock_change["properties"]["stock"]["maximum"]),
        (&json!(0), &json!(1_000_000_000))
    );
    let product = &doc["components"]["schemas"]["Product"];
    let fields = ["product_id", "name", "unit_price", "stock", "reserved", "version"];
    for field in fields {
        assert!(product["properties"][field].is_object(), "Product does not document {field}");
        assert!(product["required"].as_array().unwrap().contains(&json!(field)), "Product.{field} is always sent");
    }
    assert_eq!(product["properties"]["stock"]["type"], json!(["integer", "null"]));
    assert_eq!(
        doc["paths"]["/products/{product_id}"]["get"]["responses"]["200"]["headers"]["ETag"]["schema"]["type"],
        "string"
    );
    let statuses: Vec<&str> = doc["components"]["schemas"]["OrderStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "processing", "shipped", "delivered", "cancelled", "failed"]);
    assert!(matches!(doc["components"]["schemas"]["Order"]["properties"]["total_amount"]["type"], Value::String(_)));
}

/// The parameter `name` of an operation.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} does not document parameter {name}"))
}

/// The parameter's pattern, compiled.
fn pattern(doc: &Value, path: &str, method: &str, name: &str) -> Regex {
    let text = parameter(doc, path, method, name)["schema"]["pattern"].as_str().unwrap_or_else(|| {
        panic!("{method} {path} gives no pattern for {name}");
    });
    Regex::new(text).unwrap()
}

#[tokio::test]
async fn order_ids_are_documented_as_uuids() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    for (path, method) in [
        ("/orders/{order_id}", "get"),
        ("/orders/{order_id}", "delete"),
        ("/orders/{order_id}/status", "put"),
        ("/orders/{order_id}/workflow", "post"),
    ] {
        let order_id = parameter(&doc, path, method, "order_id");
        assert_eq!(order_id["in"], "path");
        assert_eq!(order_id["schema"], json!({"type": "string", "format": "uuid"}), "{method} {path}");
    }
}

#[tokio::test]
async fn the_if_match_pattern_admits_exactly_the_versions_the_server_reads() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    for (path, method) in [
        ("/orders/{order_id}", "delete"),
        ("/orders/{order_id}/status", "put"),
        ("/products/{product_id}/stock", "put"),
    ] {
        let if_match = parameter(&doc, path, method, "If-Match");
        assert_eq!(if_match["required"], false);
        assert_eq!(if_match["schema"]["type"], "string", "a header is never null");
    }
    let documented = pattern(&doc, "/orders/{order_id}", "delete", "If-Match");
    assert_eq!(documented.as_str(), pattern(&doc, "/orders/{order_id}/status", "put", "If-Match").as_str());
    assert_eq!(documented.as_str(), pattern(&doc, "/products/{product_id}/stock", "put", "If-Match").as_str());
    // An unknown order: a readable If-Match gets as far as the look-up (404), anything else is a 400.
    let unknown = "/orders/550e8400-e29b-41d4-a716-446655440000";
    let values = [
        "\"3\"",
        "W/\"3\"",
        "3",
        "*",
        "0",
        "007",
        "9999999999999999999",
        "\"9999999999999999999\"",
        "W/3",
        "\"3",
        "3\"",
        "\"\"3\"\"",
        "\"\"",
        "-1",
        "+3",
        "v1",
        "\"1\", \"2\"",
        "18446744073709551615",
        "99999999999999999999",
        "null",
        "W/\"\"",
        "3 4",
    ];
    for value in values {
        let response = server.request(Method::DELETE, unknown).header("If-Match", value).send().await.unwrap();
        let accepted = response.status() != StatusCode::BAD_REQUEST;
        assert_eq!(accepted, documented.is_match(value), "If-Match: {value} (got {})", response.status());
        if accepted {
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "If-Match: {value}");
        }
        // The same for an unknown product
        let response = server
            .request(Method::PUT, "/products/PROD999/stock")
            .header("If-Match", value)
            .json(&json!({"stock": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status() != StatusCode::BAD_REQUEST, accepted, "product If-Match: {value}");
    }
}

#[tokio::test]
async fn the_execution_arn_pattern_admits_exactly_the_arns_the_server_reads() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    let documented = pattern(&doc, "/executions/{execution_arn}", "get", "execution_arn");
    let name = "550e8400-e29b-41d4-a716-446655440000";
    let arns = [
        format!("arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:{name}"),
        format!("arn:aws-cn:states:cn-north-1:123456789012:execution:Other_Machine:{name}"),
        format!("arn:aws:states:US-EAST-1:123456789012:execution:M:{name}"),
        // What schemathesis found: odd characters in the region (a 500 before, from the engine)
        format!("arn:aws:states:\u{83}:123456789012:execution:M:{name}"),
        format!("arn:aws:states:us east:123456789012:execution:M:{name}"),
        format!("arn:aws\u{e}:states:us-east-1:123456789012:execution:M:{name}"),
        format!("arn:aws:states::123456789012:execution:M:{name}"),
        format!("arn:aws:states:us-east-1:12345678901:execution:M:{name}"),
        format!("arn:aws:states:us-east-1:123456789012:stateMachine:M:{name}"),
        format!("arn:aws:states:us-east-1:123456789012:execution:M:{name}.x"),
        format!("arn:aws:states:us-east-1:123456789012:execution:M:{}", "n".repeat(81)),
        format!("arn:gcp:states:us-east-1:123456789012:execution:M:{name}"),
        "not-an-arn".to_owned(),
    ];
    for arn in arns {
        let response = server.request(Method::GET, &format!("/executions/{}", encoded(&arn))).send().await.unwrap();
        let status = response.status();
        assert_eq!(status != StatusCode::BAD_REQUEST, documented.is_match(&arn), "{arn:?} (got {status})");
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{arn:?}: an unknown execution is a 400 or a 404, got {status}"
        );
    }
}

#[tokio::test]
async fn the_listing_bounds_and_customer_pattern_are_what_the_server_enforces() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    for name in ["page", "limit"] {
        let schema = &parameter(&doc, "/orders", "get", name)["schema"];
        assert_eq!(schema["minimum"], 1, "{name}");
        assert_eq!(schema["maximum"], json!(i64::MAX), "{name}");
        for (value, accepted) in [("1", true), ("9223372036854775807", true), ("9223372036854775808", false)] {
            let (status, _) = server.get_json(&format!("/orders?{name}={value}")).await;
            assert_eq!(status == StatusCode::OK, accepted, "{name}={value}: {status}");
        }
    }
    let customer = parameter(&doc, "/orders", "get", "customer_id");
    assert_eq!((&customer["schema"]["minLength"], &customer["schema"]["maxLength"]), (&json!(1), &json!(64)));
    let documented = pattern(&doc, "/orders", "get", "customer_id");
    let long = "c".repeat(64);
    let too_long = "c".repeat(65);
    let values = [
        "CUST001",
        "ü-é 42",
        "a b",
        &long,
        &too_long,
        " CUST",
        "CUST ",
        "\tC",
        "C\u{a0}",
        "\u{3000}C",
        "C\u{2028}",
        "a\u{85}b",
        "a\u{1}b",
        "a\u{7f}b",
        "x",
        "\u{feff}C",
    ];
    for value in values {
        let (status, _) = server.get_json(&format!("/orders?customer_id={}", encoded(value))).await;
        let documented_ok = documented.is_match(value) && (1..=64).contains(&value.chars().count());
        assert_eq!(status == StatusCode::OK, documented_ok, "customer_id={value:?}: {status}");
    }
}

#[tokio::test]
async fn the_product_id_pattern_admits_exactly_the_ids_the_server_reads() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    let routes = [("/products/{product_id}", "get"), ("/products/{product_id}/stock", "put")];
    for (path, method) in routes {
        let product_id = parameter(&doc, path, method, "product_id");
        assert_eq!((&product_id["in"], &product_id["required"]), (&json!("path"), &json!(true)), "{method} {path}");
        assert_eq!((&product_id["schema"]["minLength"], &product_id["schema"]["maxLength"]), (&json!(1), &json!(64)));
        // Catalog ids follow the rule of customer ids
        assert_eq!(
            pattern(&doc, path, method, "product_id").as_str(),
            pattern(&doc, "/orders", "get", "customer_id").as_str()
        );
    }
    let documented = pattern(&doc, "/products/{product_id}", "get", "product_id");
    let long = "p".repeat(64);
    let too_long = "p".repeat(65);
    let values =
        ["PROD001", "ü-é 42", "a b", "a/b", &long, &too_long, " P", "P ", "\tP", "P\u{a0}", "a\u{85}b", "a\u{1}b"];
    for value in values {
        let documented_ok = documented.is_match(value) && (1..=64).contains(&value.chars().count());
        for (method, path) in [
            (Method::GET, format!("/products/{}", encoded(value))),
            (Method::PUT, format!("/products/{}/stock", encoded(value))),
        ] {
            let response = server.request(method.clone(), &path).json(&json!({"stock": 1})).send().await.unwrap();
            let status = response.status();
            // (an unknown product gets as far as the look-up; PROD001 exists)
            let expected = match (documented_ok, value) {
                (false, _) => StatusCode::BAD_REQUEST,
                (true, "PROD001") => StatusCode::OK,
                (true, _) => StatusCode::NOT_FOUND,
            };
            assert_eq!(status, expected, "{method} product_id={value:?}");
        }
    }
}

#[tokio::test]
async fn links_name_operations_that_exist_as_openapi_spells_them() {
    let server = Server::start().await;
    let (_, doc) = server.get_json("/openapi.json").await;
    let operation_ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flat_map(|links| links.values()) {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap_or_else(|| panic!("no operationId in {link}"));
                    assert!(operation_ids.contains(&target), "a link to {target}, which is no operation");
                    assert!(link.get("operation_id").is_none(), "snake_case link field in {link}");
                }
            }
        }
    }
    assert!(links >= 8, "the create, read, change and delete responses link to what can follow them");
    // A created order's links resolve to it
    let created = crate::common::body_json(server.create(&seed_order()).await).await;
    let get_order = &doc["paths"]["/orders"]["post"]["responses"]["201"]["links"]["GetOrder"];
    assert_eq!(get_order["parameters"]["order_id"], "$response.body#/order_id");
    let (status, order) = server.get_json(&format!("/orders/{}", created["order_id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["order_id"], created["order_id"]);
}

/// Percent-encodes everything but unreserved characters, as clients encode a path segment.
fn encoded(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
