//! The deployed stack, stood up before anyone deploys it (`tests/support/stack.rs`): `orders serve
//! --aws-endpoint --prefix STACK`, signing as an administrator under enforced IAM, runs an order
//! through the tables, queues, bucket and state machine that stack made, and has to create nothing
//! of its own: a resource the code names differently from the template would be made anew, and
//! fail the test. And `orders setup`, which users run against an AWS-compatible endpoint, makes the
//! tables, queues and bucket the template deploys, setting for setting.

use std::collections::{BTreeMap, BTreeSet};

use orders_core::adapters::aws::{AwsClients, S3BackupStore};
use reqwest::StatusCode;
use serde_json::{Value, json};

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

/// Another deployment on the same endpoint, made by `orders setup`.
const LOCAL: &str = "local";

#[tokio::test(flavor = "multi_thread")]
async fn orders_setup_makes_the_tables_queues_and_bucket_the_template_deploys() {
    // Given the template deployed into moto's CloudFormation
    let stack = Stack::deploy().await;
    let admin = stack.admin().await;

    // When `orders setup` makes another deployment on the same endpoint, as the administrator
    let (key_id, secret) = stack.admin_keys();
    let setup = std::process::Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["setup", "--aws-endpoint", &stack.moto.endpoint(), "--prefix", LOCAL])
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(setup.status.success(), "orders setup failed: {}", String::from_utf8_lossy(&setup.stderr));

    // Then every resource of the template is one `orders setup` makes, or one it leaves out on purpose
    let template = &stack.transformed;
    let kinds: BTreeSet<&str> =
        template["Resources"].as_object().unwrap().values().map(|r| r["Type"].as_str().unwrap()).collect();
    let unexplained: Vec<&&str> = kinds
        .iter()
        .filter(|kind| !COMPARED.contains(kind) && !ONLY_DEPLOYED.iter().any(|(k, _)| k == *kind))
        .collect();
    assert!(
        unexplained.is_empty(),
        "say whether orders setup makes these, and compare them or say why not: {unexplained:?}"
    );

    // And both made the same tables, queues, bucket and state machine, setting for setting
    let mut deployed = BTreeMap::new();
    let physical = &stack.deployed["resources"];
    for (logical, resource) in template["Resources"].as_object().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        if COMPARED.contains(&kind) {
            let physical = physical[logical].as_str().unwrap_or_else(|| panic!("the stack has no {logical}"));
            let (name, mut settings) = describe(&admin, STACK, kind, physical).await.unwrap();
            settings.extend(declared_only(template, logical));
            deployed.insert(name, settings);
        }
    }
    let made = made_by_setup(&admin, LOCAL).await;
    let differences = compare(&deployed, &made);
    let unexpected: Vec<String> = differences
        .iter()
        .filter(|d| !KNOWN_DIFFERENCES.iter().any(|known| d.is(known)))
        .map(ToString::to_string)
        .collect();
    assert!(unexpected.is_empty(), "orders setup and the template differ:\n{}", unexpected.join("\n"));
    // And each difference kept on purpose is still there (else it goes from the lists)
    for known in KNOWN_DIFFERENCES {
        assert!(differences.iter().any(|d| d.is(known)), "no longer a difference: {known:?}");
    }
    for (kind, _) in ONLY_DEPLOYED {
        assert!(kinds.contains(kind), "the template deploys no {kind} any more");
    }
}

/// The kinds of resources compared.
const COMPARED: [&str; 4] =
    ["AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::StepFunctions::StateMachine"];

/// What the template deploys that `orders setup` does not make, and why.
const ONLY_DEPLOYED: [(&str, &str); 17] = [
    ("AWS::Lambda::Function", "locally `orders serve` runs the functions' code in its own process"),
    ("AWS::Lambda::EventSourceMapping", "locally `orders serve` polls the queues and reads the stream itself"),
    ("AWS::Lambda::Permission", "API Gateway's right to call the api function; locally serve answers HTTP itself"),
    ("AWS::IAM::Role", "locally every call is made with the user's own credentials"),
    ("AWS::ApiGateway::RestApi", "locally `orders serve` answers HTTP and checks the API key itself"),
    ("AWS::ApiGateway::Deployment", "part of the REST API (above)"),
    ("AWS::ApiGateway::Stage", "part of the REST API (above)"),
    ("AWS::ApiGateway::ApiKey", "part of the REST API (above)"),
    ("AWS::ApiGateway::UsagePlan", "part of the REST API (above); serve has --rate-limit"),
    ("AWS::ApiGateway::UsagePlanKey", "part of the REST API (above)"),
    ("AWS::ApiGateway::Account", "the account's API Gateway logging role"),
    ("AWS::CloudWatch::Alarm", "alarms watch the deployed functions, queues and workflow; serve logs locally"),
    ("AWS::CloudWatch::Dashboard", "shows the deployed functions' metrics; serve has GET /metrics"),
    ("AWS::Logs::LogGroup", "the functions', API's and workflow's logs; serve writes its own log"),
    ("AWS::Logs::MetricFilter", "reads a deployed log group (above)"),
    ("AWS::SNS::Topic", "where the alarms (above) go"),
    (
        "AWS::S3::BucketPolicy",
        "denies plain HTTP, which a local endpoint speaks (and is compared below as the bucket's policy)",
    ),
];

/// Differences between the deployed stack and `orders setup` that are meant:
/// (resource, setting, template, setup, why).
const KNOWN_DIFFERENCES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "queue stream-failures",
        "",
        "made",
        "absent",
        "where the deployed stream function's event source mapping records batches it gave up on; locally serve reads the stream itself",
    ),
    (
        "queue backup",
        "VisibilityTimeout",
        "180",
        "30",
        "6 x the function's timeout deployed, as Lambda needs; locally --visibility-timeout, the local runner's redelivery delay (30 s by default)",
    ),
    ("queue fulfilment", "VisibilityTimeout", "180", "30", "as for the backup queue"),
    ("queue import", "VisibilityTimeout", "360", "30", "as for the backup queue"),
    (
        "queue fulfilment",
        "RedrivePolicy",
        "maxReceiveCount 10 -> fulfilment-dlq",
        "maxReceiveCount 5 -> fulfilment-dlq",
        "one more than the deployed worker's 9 attempts (DEPLOYED_BACKOFF); locally --max-receive-count is the worker's attempts too",
    ),
    (
        "table *",
        "point-in-time recovery",
        "ENABLED",
        "DISABLED",
        "protects the deployed data and is billed per GB; on a local endpoint there is nothing to recover",
    ),
    (
        "table *",
        "encryption at rest",
        "KMS",
        "AWS owned key",
        "DynamoDB always encrypts at rest; the template picks the AWS-managed KMS key (billed per request), meaningless on a local endpoint",
    ),
    (
        "bucket backups-123456789012-us-east-1",
        "policy",
        "DenyInsecureTransport",
        "none",
        "a local endpoint speaks plain HTTP, which that policy refuses",
    ),
];

/// One resource's settings, each as text both sides can be compared on.
type Settings = BTreeMap<String, String>;

/// A setting that differs, or a resource only one side makes (`setting` empty).
struct Difference {
    resource: String,
    setting: String,
    template: String,
    setup: String,
}

impl Difference {
    /// Whether this is the known difference `known` (a resource ending in `*` names every
    /// resource it begins).
    fn is(&self, known: &(&str, &str, &str, &str, &str)) -> bool {
        let (resource, setting, template, setup, _why) = *known;
        let resource_matches = match resource.strip_suffix('*') {
            Some(start) => self.resource.starts_with(start),
            None => self.resource == resource,
        };
        resource_matches
            && (self.setting.as_str(), self.template.as_str(), self.setup.as_str()) == (setting, template, setup)
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Difference { resource, setting, template, setup } = self;
        if setting.is_empty() {
            write!(f, "  {resource}: template {template}, orders setup {setup}")
        } else {
            write!(f, "  {resource}, {setting}: template {template:?}, orders setup {setup:?}")
        }
    }
}

fn compare(deployed: &BTreeMap<String, Settings>, made: &BTreeMap<String, Settings>) -> Vec<Difference> {
    let absent = "(absent)".to_owned();
    let mut differences = Vec::new();
    for resource in deployed.keys().chain(made.keys()).collect::<BTreeSet<_>>() {
        let (Some(template), Some(setup)) = (deployed.get(resource), made.get(resource)) else {
            let (template, setup) =
                if deployed.contains_key(resource) { ("made", "absent") } else { ("absent", "made") };
            differences.push(Difference {
                resource: resource.clone(),
                setting: String::new(),
                template: template.into(),
                setup: setup.into(),
            });
            continue;
        };
        for setting in template.keys().chain(setup.keys()).collect::<BTreeSet<_>>() {
            let (left, right) = (template.get(setting).unwrap_or(&absent), setup.get(setting).unwrap_or(&absent));
            if left != right {
                differences.push(Difference {
                    resource: resource.clone(),
                    setting: setting.clone(),
                    template: left.clone(),
                    setup: right.clone(),
                });
            }
        }
    }
    differences
}

/// Every table, queue, bucket and state machine named `{prefix}-…`, described.
async fn made_by_setup(clients: &AwsClients, prefix: &str) -> BTreeMap<String, Settings> {
    let mine = |name: &str| name.starts_with(&format!("{prefix}-"));
    let mut found: Vec<(&str, String)> = Vec::new();
    let tables = clients.dynamodb.list_tables().send().await.unwrap();
    found.extend(tables.table_names().iter().filter(|t| mine(t)).map(|t| (COMPARED[0], t.clone())));
    let queues = clients.sqs.list_queues().queue_name_prefix(format!("{prefix}-")).send().await.unwrap();
    found.extend(queues.queue_urls().iter().map(|q| (COMPARED[1], q.clone())));
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    found
        .extend(buckets.buckets().iter().filter_map(|b| b.name()).filter(|b| mine(b)).map(|b| (COMPARED[2], b.into())));
    let machines = clients.sfn.list_state_machines().send().await.unwrap();
    found.extend(
        machines
            .state_machines()
            .iter()
            .filter(|m| mine(m.name()))
            .map(|m| (COMPARED[3], m.state_machine_arn().to_owned())),
    );
    let mut made = BTreeMap::new();
    for (kind, physical) in found {
        made.extend(describe(clients, prefix, kind, &physical).await);
    }
    made
}

/// What the endpoint reports of one resource: its name without the prefix, and its settings.
async fn describe(clients: &AwsClients, prefix: &str, kind: &str, physical: &str) -> Option<(String, Settings)> {
    let unprefixed = |name: &str| name.strip_prefix(&format!("{prefix}-")).unwrap_or(name).to_owned();
    let name = unprefixed(physical.rsplit(['/', ':']).next().unwrap());
    let mut settings = Settings::new();
    let mut set = |setting: &str, value: String| settings.insert(setting.to_owned(), value);
    let kind = match kind {
        "AWS::DynamoDB::Table" => {
            let db = &clients.dynamodb;
            let table = db.describe_table().table_name(physical).send().await.unwrap().table.unwrap();
            set("key schema", key_schema(table.key_schema()));
            let mut attributes: Vec<String> = table
                .attribute_definitions()
                .iter()
                .map(|a| format!("{} {}", a.attribute_name(), a.attribute_type().as_str()))
                .collect();
            attributes.sort();
            set("attribute definitions", attributes.join(", "));
            let billing = table.billing_mode_summary().and_then(|b| b.billing_mode());
            set("billing mode", billing.map_or("PROVISIONED", |b| b.as_str()).to_owned());
            for index in table.global_secondary_indexes() {
                let projection = index.projection().unwrap();
                let mut carried = projection.non_key_attributes().to_vec();
                carried.sort();
                let shape = format!(
                    "{}; {} {carried:?}",
                    key_schema(index.key_schema()),
                    projection.projection_type().unwrap().as_str()
                );
                set(&format!("global index {}", index.index_name().unwrap()), shape);
            }
            for index in table.local_secondary_indexes() {
                set(&format!("local index {}", index.index_name().unwrap()), key_schema(index.key_schema()));
            }
            let stream = table.stream_specification().filter(|s| s.stream_enabled());
            set("stream", stream.and_then(|s| s.stream_view_type()).map_or("off", |v| v.as_str()).to_owned());
            let ttl = db.describe_time_to_live().table_name(physical).send().await.unwrap();
            let ttl = ttl.time_to_live_description();
            let enabled = ttl.and_then(|t| t.time_to_live_status()).is_some_and(|s| s.as_str() == "ENABLED");
            set("TimeToLive", ttl_text(ttl.and_then(|t| t.attribute_name()).filter(|_| enabled)));
            let backups = db.describe_continuous_backups().table_name(physical).send().await.unwrap();
            let recovery = backups
                .continuous_backups_description()
                .and_then(|b| b.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status());
            set("point-in-time recovery", recovery.map_or("DISABLED", |s| s.as_str()).to_owned());
            let sse = table.sse_description().and_then(|s| s.sse_type());
            set("encryption at rest", sse.map_or("AWS owned key", |t| t.as_str()).to_owned());
            "table"
        }
        "AWS::SQS::Queue" => {
            let url = clients.sqs.get_queue_url().queue_name(format!("{prefix}-{name}")).send().await.unwrap();
            let attributes = clients
                .sqs
                .get_queue_attributes()
                .queue_url(url.queue_url().unwrap())
                .attribute_names("All".into())
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default();
            let by_name: BTreeMap<&str, &String> = attributes.iter().map(|(k, v)| (k.as_str(), v)).collect();
            for setting in QUEUE_SETTINGS {
                set(setting, by_name.get(setting).map_or("(none)".to_owned(), |v| (*v).clone()));
            }
            if let Some(redrive) = by_name.get("RedrivePolicy") {
                let policy: Value = serde_json::from_str(redrive).unwrap();
                let count = policy["maxReceiveCount"].to_string().replace('"', "");
                let target = unprefixed(policy["deadLetterTargetArn"].as_str().unwrap().rsplit(':').next().unwrap());
                set("RedrivePolicy", format!("maxReceiveCount {count} -> {target}"));
            }
            "queue"
        }
        "AWS::S3::Bucket" => {
            let s3 = &clients.s3;
            let versioning = match s3.get_bucket_versioning().bucket(physical).send().await {
                Ok(answer) => answer.status().map(|s| s.as_str().to_owned()),
                // moto's answer has a root the SDK refuses (GetBucketVersioningResponse where S3
                // says VersioningConfiguration): its Status is read from the body itself.
                Err(error) => {
                    let body = error.raw_response().and_then(|r| r.body().bytes()).map(String::from_utf8_lossy);
                    let body = body.unwrap_or_else(|| panic!("{error:?}"));
                    let status = body.split_once("<Status>").and_then(|(_, rest)| rest.split_once("</Status>"));
                    status.map(|(status, _)| status.to_owned())
                }
            };
            set("versioning", versioning.unwrap_or_else(|| "never enabled".into()));
            let encryption = s3.get_bucket_encryption().bucket(physical).send().await.ok();
            let rules = encryption.as_ref().and_then(|e| e.server_side_encryption_configuration()).map(|c| c.rules());
            let algorithms: Vec<&str> = rules
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str())
                .collect();
            set("encryption", if algorithms.is_empty() { "none".into() } else { algorithms.join(", ") });
            let block = s3.get_public_access_block().bucket(physical).send().await.ok();
            let block = block.as_ref().and_then(|b| b.public_access_block_configuration()).map(|c| {
                public_access_block([
                    c.block_public_acls(),
                    c.block_public_policy(),
                    c.ignore_public_acls(),
                    c.restrict_public_buckets(),
                ])
            });
            set("public access block", block.unwrap_or_else(|| "none".into()));
            let ownership = s3.get_bucket_ownership_controls().bucket(physical).send().await.ok();
            let ownership: Vec<&str> = ownership
                .as_ref()
                .and_then(|o| o.ownership_controls())
                .map(|c| c.rules().iter().map(|r| r.object_ownership().as_str()).collect())
                .unwrap_or_default();
            set("ownership", if ownership.is_empty() { "none".into() } else { ownership.join(", ") });
            let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(physical).send().await.ok();
            for rule in lifecycle.as_ref().map(|l| l.rules()).unwrap_or_default() {
                let prefix = rule.filter().and_then(|f| f.prefix()).unwrap_or("");
                let expiration = rule.expiration();
                let described = lifecycle_rule(LifecycleRule {
                    enabled: rule.status().as_str() == "Enabled",
                    prefix,
                    abort_uploads_after: rule
                        .abort_incomplete_multipart_upload()
                        .and_then(|a| a.days_after_initiation()),
                    noncurrent_for: rule.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()),
                    expire_after: expiration.and_then(|e| e.days()),
                    expired_delete_markers: expiration.and_then(|e| e.expired_object_delete_marker()).unwrap_or(false),
                });
                set(&format!("lifecycle rule {}", rule.id().unwrap_or("")), described);
            }
            let policy = s3.get_bucket_policy().bucket(physical).send().await.ok();
            let policy = policy.and_then(|p| p.policy).map(|p| statement_ids(&serde_json::from_str(&p).unwrap()));
            set("policy", policy.unwrap_or_else(|| "none".into()));
            "bucket"
        }
        "AWS::StepFunctions::StateMachine" => {
            let machine = clients.sfn.describe_state_machine().state_machine_arn(physical).send().await.unwrap();
            set("type", machine.r#type().as_str().to_owned());
            "state machine"
        }
        _ => return None,
    };
    Some((format!("{kind} {name}"), settings))
}

/// The queue attributes compared as SQS reports them (the redrive policy is read apart).
const QUEUE_SETTINGS: [&str; 7] = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
];

fn key_schema(keys: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> String {
    keys.iter().map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str())).collect::<Vec<_>>().join(", ")
}

fn ttl_text(attribute: Option<&str>) -> String {
    attribute.map_or("DISABLED".into(), |a| format!("ENABLED on {a}"))
}

fn public_access_block(flags: [Option<bool>; 4]) -> String {
    let names = ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"];
    names.iter().zip(flags).map(|(n, f)| format!("{n}={}", f.unwrap_or(false))).collect::<Vec<_>>().join(", ")
}

fn statement_ids(policy: &Value) -> String {
    let ids: Vec<&str> =
        policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap_or("?")).collect();
    ids.join(", ")
}

/// A lifecycle rule, whether read from S3 or from the template.
struct LifecycleRule<'a> {
    enabled: bool,
    prefix: &'a str,
    abort_uploads_after: Option<i32>,
    noncurrent_for: Option<i32>,
    expire_after: Option<i32>,
    expired_delete_markers: bool,
}

fn lifecycle_rule(rule: LifecycleRule<'_>) -> String {
    let mut text = vec![if rule.enabled { "enabled" } else { "disabled" }.to_owned()];
    text.push(format!("prefix {:?}", rule.prefix));
    text.extend(rule.abort_uploads_after.map(|d| format!("abort incomplete uploads after {d} days")));
    text.extend(rule.noncurrent_for.map(|d| format!("expire replaced versions after {d} days")));
    text.extend(rule.expire_after.map(|d| format!("expire objects after {d} days")));
    if rule.expired_delete_markers {
        text.push("remove expired delete markers".into());
    }
    text.join(", ")
}

/// Settings of a template resource that moto's CloudFormation (5.2.5) does not apply, read from the
/// template as deployed (its conditions resolved with the stack's parameters): of a table,
/// TimeToLiveSpecification and PointInTimeRecoverySpecification are ignored and SSESpecification
/// is read under another key than CloudFormation's; of a bucket only BucketEncryption (and tags)
/// is applied, and a BucketPolicy resource makes nothing. (tools/moto/deploy_stack.py re-creates
/// the orders table through the API with its key schema, indexes and stream only.)
fn declared_only(template: &Value, logical: &str) -> Settings {
    let resource = &template["Resources"][logical];
    let properties = resolve(template, &resource["Properties"]).unwrap_or(Value::Null);
    let mut settings = Settings::new();
    let mut set = |setting: &str, value: String| settings.insert(setting.to_owned(), value);
    match resource["Type"].as_str().unwrap() {
        "AWS::DynamoDB::Table" => {
            let ttl = &properties["TimeToLiveSpecification"];
            set("TimeToLive", ttl_text(ttl["AttributeName"].as_str().filter(|_| ttl["Enabled"] == true)));
            let recovery = properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] == true;
            set("point-in-time recovery", if recovery { "ENABLED" } else { "DISABLED" }.into());
            let kms = properties["SSESpecification"]["SSEEnabled"] == true;
            set("encryption at rest", if kms { "KMS" } else { "AWS owned key" }.into());
        }
        "AWS::S3::Bucket" => {
            let versioning = properties["VersioningConfiguration"]["Status"].as_str();
            set("versioning", versioning.unwrap_or("never enabled").into());
            let block = &properties["PublicAccessBlockConfiguration"];
            let flags = ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"];
            set(
                "public access block",
                if block.is_null() { "none".into() } else { public_access_block(flags.map(|f| block[f].as_bool())) },
            );
            let ownership: Vec<&str> = properties["OwnershipControls"]["Rules"]
                .as_array()
                .map(|rules| rules.iter().map(|r| r["ObjectOwnership"].as_str().unwrap()).collect())
                .unwrap_or_default();
            set("ownership", if ownership.is_empty() { "none".into() } else { ownership.join(", ") });
            let days = |value: &Value| value.as_i64().map(|d| i32::try_from(d).unwrap());
            for rule in properties["LifecycleConfiguration"]["Rules"].as_array().into_iter().flatten() {
                let described = lifecycle_rule(LifecycleRule {
                    enabled: rule["Status"] == "Enabled",
                    prefix: rule["Prefix"].as_str().unwrap_or(""),
                    abort_uploads_after: days(&rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]),
                    noncurrent_for: days(&rule["NoncurrentVersionExpiration"]["NoncurrentDays"]),
                    expire_after: days(&rule["ExpirationInDays"]),
                    expired_delete_markers: rule["ExpiredObjectDeleteMarker"] == true,
                });
                set(&format!("lifecycle rule {}", rule["Id"].as_str().unwrap()), described);
            }
            let policies = template["Resources"].as_object().unwrap().values().filter(|r| {
                r["Type"] == "AWS::S3::BucketPolicy" && r["Properties"]["Bucket"] == serde_json::json!({"Ref": logical})
            });
            let policy: Vec<String> = policies.map(|p| statement_ids(&p["Properties"]["PolicyDocument"])).collect();
            set("policy", if policy.is_empty() { "none".into() } else { policy.join(", ") });
        }
        _ => {}
    }
    settings
}

/// `node` with its `Fn::If`s decided and its `Ref`s to parameters given the values the stack was
/// deployed with (the defaults: the test sets only the API key's); `None` for `AWS::NoValue`.
fn resolve(template: &Value, node: &Value) -> Option<Value> {
    match node {
        Value::Object(object) if object.len() == 1 && object.contains_key("Fn::If") => {
            let [condition, then, otherwise] = &object["Fn::If"].as_array().unwrap()[..] else { panic!("{node}") };
            let condition = &template["Conditions"][condition.as_str().unwrap()];
            resolve(template, if holds(template, condition) { then } else { otherwise })
        }
        Value::Object(object) if object.len() == 1 && object.contains_key("Ref") => {
            let name = object["Ref"].as_str().unwrap();
            match &template["Parameters"][name]["Default"] {
                _ if name == "AWS::NoValue" => None,
                Value::Null => Some(node.clone()),
                default => Some(default.clone()),
            }
        }
        Value::Object(object) => {
            Some(Value::Object(object.iter().filter_map(|(k, v)| Some((k.clone(), resolve(template, v)?))).collect()))
        }
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(|v| resolve(template, v)).collect())),
        _ => Some(node.clone()),
    }
}

fn holds(template: &Value, condition: &Value) -> bool {
    let as_text = |value: Option<Value>| value.map(|v| v.to_string().replace('"', ""));
    if let Some([inner]) = condition["Fn::Not"].as_array().map(Vec::as_slice) {
        !holds(template, inner)
    } else if let Some([left, right]) = condition["Fn::Equals"].as_array().map(Vec::as_slice) {
        as_text(resolve(template, left)) == as_text(resolve(template, right))
    } else if let Some(name) = condition["Condition"].as_str() {
        holds(template, &template["Conditions"][name])
    } else {
        panic!("a condition this test cannot decide: {condition}")
    }
}
