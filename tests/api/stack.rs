//! The deployed stack, stood up before anyone deploys it (`tests/support/stack.rs`): `orders serve
//! --aws-endpoint --prefix STACK`, signing as an administrator under enforced IAM, runs an order
//! through the tables, queues, bucket and state machine that stack made, and has to create nothing
//! of its own: a resource the code names differently from the template would be made anew, and
//! fail the test.

use orders_core::adapters::aws::{AwsClients, S3BackupStore};
use reqwest::StatusCode;
use serde_json::json;

use crate::backends::{Backups, wait_for_execution};
use crate::common::{AwsTarget, Launch, Server, body_json, seed_order};
use crate::stack_support::{STACK, Stack};

#[tokio::test(flavor = "multi_thread")]
async fn the_template_deploys_and_orders_run_through_the_stack_it_creates() {
    // Given the template deployed into moto's CloudFormation
    let stack = Stack::deploy().await;
    let left_out: Vec<&str> =
        stack.deployed["left_out"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(left_out.iter().all(|id| id.starts_with("Api") || id.starts_with("OrdersApi")), "{left_out:?}");
    let before = stack.inventory().await;
    for expected in [
        "table shop-orders",
        "table shop-catalog",
        "table shop-reservations",
        "queue shop-fulfilment",
        "queue shop-fulfilment-dlq",
        "bucket shop-backups-123456789012-us-east-1",
        "state machine shop-OrderProcessing",
    ] {
        assert!(before.contains(expected), "the stack has no {expected}: {before:?}");
    }
    // And the event source mappings are deployed as the handlers answer (partial batch responses)
    let mappings = stack.deployed["event_source_mappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 4, "{mappings:?}");
    assert!(mappings.iter().all(|m| m["FunctionResponseTypes"] == json!(["ReportBatchItemFailures"])), "{mappings:?}");

    // When `orders serve` runs against it, and an order of a tracked product goes all the way
    let target = AwsTarget { endpoint: stack.moto.endpoint(), prefix: STACK.into() };
    let (key_id, secret) = stack.admin_keys();
    let server = Server::launch(Launch {
        aws: Some(target.clone()),
        args: vec!["--visibility-timeout".into(), "1".into()],
        env: vec![("AWS_ACCESS_KEY_ID".into(), key_id), ("AWS_SECRET_ACCESS_KEY".into(), secret)],
        ..Launch::default()
    })
    .await;
    let set = server.request(reqwest::Method::PUT, "/products/PROD001/stock").json(&json!({"stock": 10})).send().await;
    assert_eq!(set.unwrap().status(), StatusCode::OK);
    let created = body_json(server.create(&seed_order()).await).await;
    let (order_id, arn) = (created["order_id"].as_str().unwrap(), created["execution_arn"].as_str().unwrap());
    server.wait_for_order(order_id, |o| o["status"] == "processing").await;
    server.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 2).await;
    for status in ["shipped", "delivered"] {
        assert_eq!(server.set_status(order_id, status, None).await.status(), StatusCode::OK);
    }
    wait_for_execution(&server, arn, "SUCCEEDED").await;

    // Then every version is backed up in the stack's bucket, and the units are consumed
    let backups = Backups::Bucket(S3BackupStore::new(stack.admin().await.s3, target.bucket()));
    let versions = backups.wait_for(order_id, 4).await;
    assert_eq!(versions[3]["status"], "delivered");
    server.wait_for("/products/PROD001", |p| p["stock"] == 8 && p["reserved"] == 0).await;
    // And the server made no resource of its own: every name the code uses is the stack's
    assert_eq!(stack.inventory().await, before);
    // And IAM was enforced all along: a caller without an identity is refused
    let nobody = AwsClients::for_emulator(&target.endpoint, "us-east-1").await;
    let refused = nobody.dynamodb.list_tables().send().await.unwrap_err();
    assert_eq!(refused.raw_response().map(|r| r.status().as_u16()), Some(403), "{refused:?}");
    // And a role holds only its function's grants: the backup function's may not write an order
    let backup = stack.as_role("BackupFunction").await;
    let order = aws_sdk_dynamodb::types::AttributeValue::S(order_id.to_owned());
    let denied = backup.dynamodb.put_item().table_name("shop-orders").item("order_id", order).send().await.unwrap_err();
    assert_eq!(denied.raw_response().map(|r| r.status().as_u16()), Some(403), "{denied:?}");
    let body = denied.raw_response().and_then(|r| r.body().bytes()).map(String::from_utf8_lossy).unwrap_or_default();
    assert!(body.contains("AccessDenied") && body.contains("BackupFunctionRole"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rest_api_sam_generates_sends_every_route_to_the_api_function_behind_the_key() {
    // Given the REST API the template became (which moto cannot create: checked as generated)
    let stack = Stack::deploy().await;
    let resources = stack.transformed["Resources"].as_object().unwrap();
    let of_type = |kind: &str| -> Vec<&serde_json::Value> {
        resources.values().filter(|r| r["Type"] == kind).map(|r| &r["Properties"]).collect()
    };
    let [api] = of_type("AWS::ApiGateway::RestApi")[..] else { panic!("one REST API") };
    let paths = api["Body"]["paths"].as_object().unwrap();
    // Then the root and every path below it, with every method, go to the api function as a proxy,
    // and every method needs the API key
    assert_eq!(paths.keys().map(String::as_str).collect::<Vec<_>>(), ["/", "/{proxy+}"]);
    for (path, methods) in paths {
        let methods = methods.as_object().unwrap();
        assert_eq!(methods.keys().collect::<Vec<_>>(), ["x-amazon-apigateway-any-method"], "{path}");
        let method = &methods["x-amazon-apigateway-any-method"];
        let integration = &method["x-amazon-apigateway-integration"];
        assert_eq!(
            (integration["type"].as_str(), integration["httpMethod"].as_str()),
            (Some("aws_proxy"), Some("POST"))
        );
        let uri = integration["uri"]["Fn::Sub"].as_str().unwrap();
        assert!(uri.ends_with("/functions/${ApiFunction.Arn}/invocations"), "{path}: {uri}");
        assert_eq!(method["security"], json!([{"api_key": []}]), "{path}");
    }
    assert_eq!(
        api["Body"]["securityDefinitions"]["api_key"],
        json!({"type": "apiKey", "name": "x-api-key", "in": "header"})
    );
    // And every route the api Router serves is one of those paths
    let document = orders_ingest::http::openapi_document();
    let served = serde_json::to_value(&document).unwrap();
    for route in served["paths"].as_object().unwrap().keys() {
        assert!(route.starts_with('/') && route.len() > 1, "{route} is reached through /{{proxy+}}");
    }
    // And throttling comes from the parameters, on the stage and the usage plan, which holds the key
    let [stage] = of_type("AWS::ApiGateway::Stage")[..] else { panic!("one stage") };
    let settings = &stage["MethodSettings"][0];
    assert_eq!(settings["ThrottlingRateLimit"], json!({"Ref": "ApiThrottleRateLimit"}));
    assert_eq!(settings["ThrottlingBurstLimit"], json!({"Ref": "ApiThrottleBurstLimit"}));
    assert_eq!(stage["StageName"], json!({"Ref": "Stage"}));
    let [plan] = of_type("AWS::ApiGateway::UsagePlan")[..] else { panic!("one usage plan") };
    assert_eq!(
        plan["Throttle"],
        json!({"RateLimit": {"Ref": "ApiThrottleRateLimit"}, "BurstLimit": {"Ref": "ApiThrottleBurstLimit"}})
    );
    let [key] = of_type("AWS::ApiGateway::ApiKey")[..] else { panic!("one API key") };
    assert_eq!(key["Value"], json!({"Ref": "ApiKeyValue"}));
    assert_eq!(of_type("AWS::ApiGateway::UsagePlanKey").len(), 1);
    // And the api function is told the stage is not part of its routes
    let function = &stack.deployed["functions"]["ApiFunction"]["Environment"]["Variables"];
    assert_eq!(function["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"], "true");
}
