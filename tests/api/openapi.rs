//! `GET /openapi.json` describes every route, body and error of the API.

use serde_json::Value;

use crate::common::Server;

#[tokio::test]
async fn the_document_describes_every_route_with_its_errors() {
    let server = Server::start().await;
    let (status, doc) = server.get_json("/openapi.json").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["name"], "x-api-key");
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["in"], "header");

    let expected: [(&str, &str, &[&str]); 8] = [
        ("/orders", "post", &["201", "400", "403", "413", "415", "422", "500"]),
        ("/orders", "get", &["200", "400", "403", "500"]),
        ("/orders/{order_id}", "get", &["200", "400", "403", "404", "500"]),
        ("/orders/{order_id}", "delete", &["200", "400", "403", "404", "412", "500"]),
        ("/orders/{order_id}/status", "put", &["200", "400", "403", "404", "409", "412", "413", "415", "500"]),
        ("/orders/{order_id}/workflow", "post", &["200", "202", "400", "403", "404", "500"]),
        ("/executions/{execution_arn}", "get", &["200", "400", "403", "404", "500"]),
        ("/openapi.json", "get", &["200", "403"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "every operation, and only those, is documented");
    for (path, method, codes) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        for code in codes {
            assert!(operation["responses"][code].is_object(), "{method} {path} does not document {code}");
        }
        // Every error response points at the seed's error body
        for (code, response) in operation["responses"].as_object().unwrap() {
            if code.starts_with('4') || code.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {code}");
            }
        }
    }
    // Request bodies are described
    let create_schema =
        &doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(create_schema, "#/components/schemas/NewOrder");
    let statuses: Vec<&str> = doc["components"]["schemas"]["OrderStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "processing", "shipped", "delivered", "cancelled", "failed"]);
    assert!(matches!(doc["components"]["schemas"]["Order"]["properties"]["total_amount"]["type"], Value::String(_)));
}
