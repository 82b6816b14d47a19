//! `x-api-key` on every route: missing or wrong keys get the seed's 403, whatever the route.

use reqwest::{Method, StatusCode};

use crate::common::{Server, assert_error};

const ROUTES: [(&str, &str); 10] = [
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/550e8400-e29b-41d4-a716-446655440000"),
    ("PUT", "/orders/550e8400-e29b-41d4-a716-446655440000/status"),
    ("DELETE", "/orders/550e8400-e29b-41d4-a716-446655440000"),
    ("POST", "/orders/550e8400-e29b-41d4-a716-446655440000/workflow"),
    ("GET", "/executions/arn%3Aaws%3Astates%3Aus-east-1%3A123456789012%3Aexecution%3AOrderProcessing%3Ax"),
    ("GET", "/openapi.json"),
    ("GET", "/no/such/route"),
    ("PATCH", "/orders"),
];

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_key() {
    // Given an order that exists (so a refusal cannot be a 404 in disguise)
    let server = Server::start().await;
    let order_id = server.create_for("CUST001").await;
    let mut routes: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).into(), (*p).into())).collect();
    routes.push(("GET".into(), format!("/orders/{order_id}")));
    routes.push(("DELETE".into(), format!("/orders/{order_id}")));
    for (method, path) in routes {
        let method: Method = method.parse().unwrap();
        // When no key is sent, then 403 Forbidden
        let response = server.anonymous(method.clone(), &path).send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "Forbidden").await;
        // When a wrong key is sent (one character off), then 403 Forbidden
        let response = server
            .anonymous(method.clone(), &path)
            .header("x-api-key", "test-key-0123456789abcdeF")
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "Forbidden").await;
    }
    // And nothing was deleted by the refused requests
    let (status, _) = server.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_generated_key_is_printed_once_and_works_after_a_restart() {
    // Given a server started without ORDERS_API_KEY
    let dir = tempfile::tempdir().unwrap();
    let launch =
        || crate::common::Launch { data_dir: Some(dir.path().to_owned()), api_key: None, ..Default::default() };
    let server = Server::launch(launch()).await;
    let key_line = server.banner.iter().find(|l| l.contains("x-api-key: ")).expect("the generated key is printed");
    let key = key_line.split("x-api-key: ").nth(1).unwrap().trim().to_owned();
    let stored = std::fs::read_to_string(dir.path().join("api-key.sha256")).unwrap();
    assert!(!stored.contains(&key), "only the digest is stored");
    assert_eq!(server.stop_with("TERM").await, Some(0));
    // When it restarts, the key is not printed again, and it still works
    let server = Server::launch(launch()).await;
    assert!(server.banner.iter().all(|l| !l.contains(&key)));
    let response = server.anonymous(Method::GET, "/orders").header("x-api-key", &key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
