//! The catalog over HTTP: products listed in pages, one product with its stock and version, its
//! stock set (conditionally on `If-Match`), and the refusals (bad bodies, ids and versions, unknown
//! products, missing keys). The embedded default starts with the demo catalog, PROD001 … PROD005,
//! stock not tracked; one scenario runs on DynamoDB (moto) with the same catalog.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{AwsTarget, Launch, Server, assert_error, body_json};
use crate::moto::Moto;

/// `PUT /products/{product_id}/stock` with `body`, and `If-Match` when given.
async fn set_stock(server: &Server, product_id: &str, body: &Value, if_match: Option<&str>) -> Response {
    let mut request = server.request(Method::PUT, &format!("/products/{product_id}/stock")).json(body);
    if let Some(version) = if_match {
        request = request.header("If-Match", version);
    }
    request.send().await.unwrap()
}

/// The response's `ETag`.
fn etag(response: &Response) -> String {
    response.headers().get("etag").expect("an ETag").to_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<&str> {
    page["products"].as_array().unwrap().iter().map(|p| p["product_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_catalog_is_listed_in_pages_by_product_id() {
    // Given the demo catalog
    let server = Server::start().await;
    // When it is listed with the defaults
    let (status, all) = server.get_json("/products").await;
    // Then every product is on page 1 of 10, by id, with the seed's pagination figures
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all), ["PROD001", "PROD002", "PROD003", "PROD004", "PROD005"]);
    assert_eq!(all["pagination"], json!({"page": 1, "limit": 10, "total": 5, "pages": 1}));
    let fields: Vec<&str> = all["products"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["name", "product_id", "reserved", "stock", "unit_price", "version"]);
    // And pages of two hold two products each, the last one the rest, a page past the end none
    let (_, second) = server.get_json("/products?page=2&limit=2").await;
    assert_eq!(ids(&second), ["PROD003", "PROD004"]);
    assert_eq!(second["pagination"], json!({"page": 2, "limit": 2, "total": 5, "pages": 3}));
    let (_, last) = server.get_json("/products?page=3&limit=2").await;
    assert_eq!(ids(&last), ["PROD005"]);
    let (status, beyond) = server.get_json("/products?page=9223372036854775807&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(beyond["products"], json!([]));
    assert_eq!(beyond["pagination"]["total"], 5);
    // And limits above 100 are capped, as for orders
    let (_, capped) = server.get_json("/products?limit=1000").await;
    assert_eq!(capped["pagination"]["limit"], 100);
}

#[tokio::test]
async fn bad_listing_parameters_are_400s_naming_them() {
    let server = Server::start().await;
    let cases = [
        ("/products?page=0", "Invalid field page: must be a positive integer"),
        ("/products?page=abc", "Invalid field page: must be a positive integer"),
        ("/products?limit=0", "Invalid field limit: must be a positive integer"),
        ("/products?limit=-1", "Invalid field limit: must be a positive integer"),
        ("/products?page=9223372036854775808", "Invalid field page: must be at most 9223372036854775807"),
        ("/products?page=%FF", "Invalid query string: page is not UTF-8 once percent-decoded"),
    ];
    for (path, message) in cases {
        let response = server.request(Method::GET, path).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, message).await;
    }
}

#[tokio::test]
async fn a_product_shows_its_price_and_untracked_stock_with_its_version_as_etag() {
    // Given the demo catalog
    let server = Server::start().await;
    // When a product is read
    let response = server.request(Method::GET, "/products/PROD001").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tag = etag(&response);
    let text = response.text().await.unwrap();
    // Then its price is written as order prices are (two decimals), its stock is null (not tracked)
    // and nothing is reserved
    assert!(text.contains(r#""unit_price":25.50"#), "{text}");
    let product: Value = serde_json::from_str(&text).unwrap();
    let version = product["version"].as_u64().unwrap();
    assert_eq!(
        product,
        json!({"product_id": "PROD001", "name": "Widget", "unit_price": 25.5, "stock": null, "reserved": 0, "version": version})
    );
    // And the ETag is its version
    assert_eq!(tag, format!("\"{version}\""));
    // And the listing shows the same product
    let (_, page) = server.get_json("/products?limit=1").await;
    assert_eq!(page["products"][0], product);
}

#[tokio::test]
async fn stock_is_set_at_the_version_read_and_a_stale_version_is_a_412() {
    // Given a product read with its ETag
    let server = Server::start().await;
    let read = server.request(Method::GET, "/products/PROD002").send().await.unwrap();
    let first_tag = etag(&read);
    let version = body_json(read).await["version"].as_u64().unwrap();
    // When its stock is set with that ETag as If-Match
    let response = set_stock(&server, "PROD002", &json!({"stock": 120}), Some(&first_tag)).await;
    // Then it is tracked with that stock, at the next version, also its new ETag
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), format!("\"{}\"", version + 1));
    let updated = body_json(response).await;
    assert_eq!(
        (&updated["stock"], &updated["reserved"], &updated["version"]),
        (&json!(120), &json!(0), &json!(version + 1))
    );
    let (_, stored) = server.get_json("/products/PROD002").await;
    assert_eq!(stored, updated);
    // When it is set again with the first ETag
    let response = set_stock(&server, "PROD002", &json!({"stock": 5}), Some(&first_tag)).await;
    // Then it is refused, naming both versions, and the stock is unchanged
    let message = format!("Version mismatch: the product is at version {}, not {version}", version + 1);
    assert_error(response, StatusCode::PRECONDITION_FAILED, &message).await;
    assert_eq!(server.get_json("/products/PROD002").await.1["stock"], 120);
    // And without If-Match (or with `*`, or a bare version) the stock is set whatever the version
    let response = set_stock(&server, "PROD002", &json!({"stock": 0}), None).await;
    assert_eq!((response.status(), body_json(response).await["stock"].clone()), (StatusCode::OK, json!(0)));
    let response = set_stock(&server, "PROD002", &json!({"stock": 1000000000}), Some("*")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = set_stock(&server, "PROD002", &json!({"stock": 7}), Some(&(version + 3).to_string())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["version"], version + 4);
    // And a whole number written as JSON Schema also counts integers (`120.0`) is taken
    let response = set_stock(&server, "PROD002", &json!({"stock": 120.0}), None).await;
    assert_eq!(body_json(response).await["stock"], 120);
    // And the other products are untouched
    assert_eq!(server.get_json("/products/PROD001").await.1["stock"], json!(null));
}

#[tokio::test]
async fn bad_stock_bodies_and_if_match_values_are_400s() {
    let server = Server::start().await;
    let out_of_range = "Invalid field stock: must be an integer from 0 to 1000000000";
    let cases = [
        (json!({}), "Missing required field: stock"),
        (json!({"stock": null}), "Missing required field: stock"),
        (json!({"stock": -1}), out_of_range),
        (json!({"stock": 1000000001}), out_of_range),
        (json!({"stock": 2.5}), out_of_range),
        (json!({"stock": "120"}), out_of_range),
        (json!({"stock": 1, "reserved": 0}), "Invalid field reserved: is not a known field"),
        (json!([120]), "Request body must be a JSON object"),
    ];
    for (body, message) in cases {
        assert_error(set_stock(&server, "PROD001", &body, None).await, StatusCode::BAD_REQUEST, message).await;
    }
    let response = set_stock(&server, "PROD001", &json!({"stock": 1}), Some("v1")).await;
    let message = "Invalid If-Match header: expected the product's version, like \"3\"";
    assert_error(response, StatusCode::BAD_REQUEST, message).await;
    // A body not declared as JSON is a 415, as for orders
    let response = server
        .request(Method::PUT, "/products/PROD001/stock")
        .header("content-type", "text/plain")
        .body(r#"{"stock": 1}"#)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json").await;
    // And none of them changed the product
    assert_eq!(server.get_json("/products/PROD001").await.1["stock"], json!(null));
}

#[tokio::test]
async fn unknown_products_are_404s_and_malformed_ids_400s() {
    let server = Server::start().await;
    // An id the catalog does not hold: 404 to read it or set its stock
    let (status, body) = server.get_json("/products/PROD999").await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"message": "Product not found"})));
    let response = set_stock(&server, "PROD999", &json!({"stock": 1}), None).await;
    assert_error(response, StatusCode::NOT_FOUND, "Product not found").await;
    // An id no catalog can hold: 400 naming the rule, on both routes
    let surrounded = "Invalid field product_id: must not contain control characters or surrounding spaces";
    let long = "P".repeat(65);
    let cases = [
        ("%20PROD001", surrounded),
        ("PROD001%09", surrounded),
        ("PR%00OD", surrounded),
        (long.as_str(), "Invalid field product_id: must be 1 to 64 characters"),
        ("%FF", "Invalid field product_id: must be UTF-8 once percent-decoded"),
    ];
    for (segment, message) in cases {
        let response = server.request(Method::GET, &format!("/products/{segment}")).send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, message).await;
        assert_error(set_stock(&server, segment, &json!({"stock": 1}), None).await, StatusCode::BAD_REQUEST, message)
            .await;
    }
    // A method the routes do not have: 405, as for orders
    let response = server.request(Method::DELETE, "/products/PROD001").send().await.unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").await;
}

#[tokio::test]
async fn the_catalog_routes_refuse_a_missing_or_wrong_key() {
    // Given the demo catalog
    let server = Server::start().await;
    let routes =
        [(Method::GET, "/products"), (Method::GET, "/products/PROD001"), (Method::PUT, "/products/PROD001/stock")];
    for (method, path) in routes {
        // When no key is sent, or a wrong one, then 403 Forbidden, even with a valid body
        let anonymous = server.anonymous(method.clone(), path).json(&json!({"stock": 1})).send().await.unwrap();
        assert_error(anonymous, StatusCode::FORBIDDEN, "Forbidden").await;
        let wrong = server
            .anonymous(method.clone(), path)
            .header("x-api-key", "test-key-0123456789abcdeF")
            .json(&json!({"stock": 1}))
            .send()
            .await
            .unwrap();
        assert_error(wrong, StatusCode::FORBIDDEN, "Forbidden").await;
    }
    // And the refused requests set nothing
    assert_eq!(server.get_json("/products/PROD001").await.1["stock"], json!(null));
}

#[tokio::test]
async fn on_dynamodb_the_catalog_reads_and_sets_stock_the_same_way() {
    // Given `orders serve` on DynamoDB (moto) with the demo catalog
    let moto = Moto::start().await;
    let aws = AwsTarget { endpoint: moto.endpoint(), prefix: "products".into() };
    let server = Server::launch(Launch { aws: Some(aws), ..Default::default() }).await;
    // When the catalog is listed, then it is paged by id with the same figures
    let (status, page) = server.get_json("/products?page=2&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page), ["PROD003", "PROD004"]);
    assert_eq!(page["pagination"], json!({"page": 2, "limit": 2, "total": 5, "pages": 3}));
    // And a product reads as on the embedded default, its version as ETag
    let read = server.request(Method::GET, "/products/PROD004").send().await.unwrap();
    let tag = etag(&read);
    let product = body_json(read).await;
    let version = product["version"].as_u64().unwrap();
    assert_eq!(tag, format!("\"{version}\""));
    assert_eq!(
        (&product["unit_price"], &product["stock"], &product["reserved"]),
        (&json!(4.99), &json!(null), &json!(0))
    );
    // When its stock is set at that version, then it is tracked at the next one
    let response = set_stock(&server, "PROD004", &json!({"stock": 30}), Some(&tag)).await;
    assert_eq!((response.status(), etag(&response)), (StatusCode::OK, format!("\"{}\"", version + 1)));
    assert_eq!(server.get_json("/products/PROD004").await.1["stock"], 30);
    // And the version read first is now stale: 412, nothing changed
    let response = set_stock(&server, "PROD004", &json!({"stock": 1}), Some(&tag)).await;
    let message = format!("Version mismatch: the product is at version {}, not {version}", version + 1);
    assert_error(response, StatusCode::PRECONDITION_FAILED, &message).await;
    assert_eq!(server.get_json("/products/PROD004").await.1["stock"], 30);
    // And an unknown product is a 404 to read or to set
    assert_error(
        server.request(Method::GET, "/products/PROD999").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "Product not found",
    )
    .await;
    let response = set_stock(&server, "PROD999", &json!({"stock": 1}), None).await;
    assert_error(response, StatusCode::NOT_FOUND, "Product not found").await;
}
