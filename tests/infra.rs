//! `infra/template.yaml` agrees with the code: every Lambda binary has a function built from it and
//! configured with exactly the environment the binary requires, every trigger is wired as its handler
//! expects, every queue has its DLQ and alarm, the tables are the ones the store queries, the names are
//! the ones the operator CLI looks up, the state machine's substitutions cover the ASL placeholders,
//! no IAM statement grants `*` where a resource can be named, and the dashboard and the backup-lag alarm
//! read the metrics the functions emit. (cfn-lint and checkov check the template itself:
//! `scripts/check-infra`.)

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use orders_core::adapters::aws::functions::{self, FunctionConfig, LambdaFunction, Trigger};
use orders_core::adapters::aws::setup::queue_name;
use orders_core::adapters::aws::{AwsResources, EXPIRES_AT, LISTING_INDEXES, SUMMARY_ATTRIBUTES, env};
use orders_core::metrics;
use orders_core::ports::QueueName;
use orders_workers::fulfilment::DEPLOYED_BACKOFF;
use serde_json::{Value, json};

#[path = "support/template.rs"]
mod template;

const STACK: &str = "shop";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The template as CloudFormation JSON: `!Ref X` becomes `{"Ref": X}`, `!Sub s` `{"Fn::Sub": s}`, …
struct Template(Value);

impl Template {
    fn load() -> Self {
        Template(template::as_json())
    }

    fn resources(&self) -> &serde_json::Map<String, Value> {
        self.0["Resources"].as_object().unwrap()
    }

    fn resource(&self, logical_id: &str) -> &Value {
        self.resources().get(logical_id).unwrap_or_else(|| panic!("no resource {logical_id}"))
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().iter().filter(move |(_, r)| r["Type"] == kind)
    }

    /// The function built from `binary`.
    fn function(&self, binary: &str) -> (&String, &Value) {
        let mut found = self
            .of_type("AWS::Serverless::Function")
            .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary);
        let function = found.next().unwrap_or_else(|| panic!("no function is built from the {binary} binary"));
        assert!(found.next().is_none(), "two functions are built from {binary}");
        function
    }

    /// The logical id a `Ref`/`GetAtt` points at.
    fn target(value: &Value) -> &str {
        if let Some(id) = value["Ref"].as_str() {
            return id;
        }
        let get_att = &value["Fn::GetAtt"];
        get_att
            .as_str()
            .map(|s| s.split('.').next().unwrap())
            .or_else(|| get_att[0].as_str())
            .unwrap_or_else(|| panic!("{value} is neither a Ref nor a GetAtt"))
    }

    /// A resource's physical name, with the stack's pseudo parameters filled in.
    fn name_of(&self, logical_id: &str) -> String {
        let resource = self.resource(logical_id);
        let property = match resource["Type"].as_str().unwrap() {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::SQS::Queue" => "QueueName",
            "AWS::S3::Bucket" => "BucketName",
            "AWS::Serverless::StateMachine" => "Name",
            "AWS::Serverless::Function" => "FunctionName",
            other => panic!("{logical_id} is a {other}: no name"),
        };
        let name = resource["Properties"][property]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{logical_id}'s {property} is not a !Sub of the stack name"));
        name.replace("${AWS::StackName}", STACK).replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
    }

    /// The queue whose physical name is `{STACK}-{suffix}`.
    fn queue_named(&self, suffix: &str) -> &String {
        let name = format!("{STACK}-{suffix}");
        self.of_type("AWS::SQS::Queue")
            .find(|(id, _)| self.name_of(id) == name)
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no queue is named {name}"))
    }

    /// The alarms watching `metric` with this dimension value (a Ref/GetAtt of `logical_id`).
    fn alarms_on(&self, metric: &str, logical_id: &str) -> Vec<&Value> {
        self.of_type("AWS::CloudWatch::Alarm")
            .map(|(_, alarm)| &alarm["Properties"])
            .filter(|alarm| alarm["MetricName"] == metric)
            .filter(|alarm| {
                alarm["Dimensions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["Value"].is_object() && Template::target(&d["Value"]) == logical_id)
            })
            .collect()
    }
}

fn function_timeout(function: &Value) -> u64 {
    function["Properties"]["Timeout"].as_u64().expect("every function sets its Timeout")
}

#[test]
fn every_lambda_binary_has_one_function_built_from_it_and_nothing_else_is_deployed() {
    // Given the template and the code's list of Lambda functions
    let template = Template::load();

    // Then each binary has a function, built by cargo-lambda from the package that defines the binary
    for function in functions::ALL {
        let (id, resource) = template.function(function.binary);
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        let package = resource["Properties"]["CodeUri"].as_str().unwrap();
        let source = repo().join("infra").join(package).join("src/bin").join(format!("{}.rs", function.binary));
        assert!(source.is_file(), "{id} is built from {package}, which has no {} binary", function.binary);
        // And `cargo lambda build --bin NAME` in that folder turns on the features the binary requires
        let manifest = std::fs::read_to_string(repo().join("infra").join(package).join("Cargo.toml")).unwrap();
        let required = regex_lite::Regex::new(&format!(
            r#"(?s)\[\[bin\]\]\s*name = "{}"\s*required-features = \[([^\]]*)\]"#,
            function.binary
        ))
        .unwrap()
        .captures(&manifest)
        .map(|c| c[1].to_owned());
        if let Some(required) = required {
            let lambda_features =
                regex_lite::Regex::new(r#"(?s)\[package\.metadata\.lambda\.build\]\s*features = \[([^\]]*)\]"#)
                    .unwrap()
                    .captures(&manifest)
                    .map(|c| c[1].to_owned())
                    .unwrap_or_default();
            for feature in required.split(',').map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()) {
                assert!(
                    lambda_features.contains(&format!("\"{feature}\"")),
                    "{id}: cargo lambda would build {} without {feature}",
                    function.binary
                );
            }
        }
    }
    // And the template deploys no function the code does not know
    assert_eq!(template.of_type("AWS::Serverless::Function").count(), functions::ALL.len());
    // And every function runs on provided.al2023 (the binaries link glibc 2.34), on arm64
    let globals = &template.0["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Handler"], "bootstrap");
}

#[test]
fn every_function_gets_exactly_the_environment_its_binary_requires() {
    let template = Template::load();
    let globals: BTreeSet<&str> = template.0["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .map(|vars| vars.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for function in functions::ALL {
        // Given the function's environment in the template
        let (id, resource) = template.function(function.binary);
        let variables = resource["Properties"]["Environment"]["Variables"].as_object().unwrap();

        // When the binary reads its configuration from it
        let config = FunctionConfig::from_lookup(function, |name| {
            variables.get(name).map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned))
        });

        // Then nothing is missing, and nothing is set that no binary reads (besides the globals)
        assert!(config.is_ok(), "{id}: {}", config.unwrap_err());
        let set: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
        let required: BTreeSet<&str> = function.required_env.iter().copied().collect();
        let read: BTreeSet<&str> = required.iter().chain(function.optional_env).copied().collect();
        assert_eq!(set, read, "{id} sets other variables than {} reads", function.binary);
        assert!(globals.iter().all(|g| !required.contains(g)), "a global shadows a function's variable");
    }
}

#[test]
fn each_variable_points_at_the_resource_the_binary_expects() {
    // Given the names the code gives a deployment's resources for a prefix
    let template = Template::load();
    let expected = AwsResources::named(STACK, ACCOUNT, REGION);
    let name_for = |variable: &str| -> Option<String> {
        Some(match variable {
            v if v == env::ORDERS_TABLE => expected.orders_table.clone(),
            v if v == env::CATALOG_TABLE => expected.catalog_table.clone(),
            v if v == env::IDEMPOTENCY_TABLE => expected.idempotency_table.clone(),
            v if v == env::COUNTERS_TABLE => expected.counters_table.clone(),
            v if v == env::RESERVATIONS_TABLE => expected.reservations_table.clone(),
            v if v == env::BACKUP_BUCKET => expected.backup_bucket.clone(),
            v if v == env::BACKUP_QUEUE_URL => queue_name(&expected, QueueName::Backup),
            v if v == env::IMPORT_DLQ_URL => queue_name(&expected, QueueName::ImportDlq),
            v if v == env::BACKUP_DLQ_URL => queue_name(&expected, QueueName::BackupDlq),
            v if v == env::FULFILMENT_DLQ_URL => queue_name(&expected, QueueName::FulfilmentDlq),
            v if v == env::STATE_MACHINE_ARN => expected.state_machine_arn.rsplit(':').next().unwrap().to_owned(),
            _ => return None,
        })
    };
    for function in functions::ALL {
        let (id, resource) = template.function(function.binary);
        for (variable, value) in resource["Properties"]["Environment"]["Variables"].as_object().unwrap() {
            // When a variable names a resource of the stack
            let Some(wanted) = name_for(variable) else { continue };
            // Then it is that resource, named as `orders setup` and the operator CLI name it
            assert_eq!(template.name_of(Template::target(value)), wanted, "{id}'s {variable}");
        }
    }
    // And the API is told it runs behind a stage (or every route 404s)
    let (_, api) = template.function(functions::API.binary);
    assert_eq!(api["Properties"]["Environment"]["Variables"][env::AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH], "true");
}

#[test]
fn every_trigger_is_wired_the_way_its_handler_answers() {
    let template = Template::load();
    for function in functions::ALL {
        let (id, resource) = template.function(function.binary);
        let events: Vec<&Value> = resource["Properties"]["Events"].as_object().unwrap().values().collect();
        match function.trigger {
            Trigger::Http => {
                // Every path goes to the Router, and API Gateway requires the key on every method
                let paths: BTreeSet<&str> = events
                    .iter()
                    .inspect(|e| assert_eq!(e["Type"], "Api"))
                    .inspect(|e| assert_eq!(e["Properties"]["Method"], "ANY"))
                    .map(|e| e["Properties"]["Path"].as_str().unwrap())
                    .collect();
                assert_eq!(paths, BTreeSet::from(["/", "/{proxy+}"]), "{id}");
                let api = Template::target(&events[0]["Properties"]["RestApiId"]);
                assert_eq!(template.resource(api)["Properties"]["Auth"]["ApiKeyRequired"], true);
            }
            Trigger::Sqs(queue) => {
                // One SQS source, reporting partial batch failures (what the handler returns)
                let [event] = events[..] else { panic!("{id} has {} events", events.len()) };
                assert_eq!(event["Type"], "SQS", "{id}");
                let source = Template::target(&event["Properties"]["Queue"]);
                assert_eq!(source, template.queue_named(queue.as_str()), "{id} reads another queue");
                assert_eq!(event["Properties"]["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]), "{id}");
                assert!(event["Properties"]["BatchSize"].as_u64().is_some(), "{id} sets its batch size");
                assert!(event["Properties"]["MaximumBatchingWindowInSeconds"].is_u64(), "{id} sets its window");
                // Its pollers stay within the function's reserved concurrency (no throttled messages)
                let pollers = event["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64().unwrap();
                let reserved = resource["Properties"]["ReservedConcurrentExecutions"].as_u64().unwrap();
                assert!(pollers <= reserved, "{id}: {pollers} pollers over {reserved} reserved");
            }
            Trigger::OrdersStream => {
                let [event] = events[..] else { panic!("{id} has {} events", events.len()) };
                let properties = &event["Properties"];
                assert_eq!(event["Type"], "DynamoDB");
                assert_eq!(properties["Stream"], json!({"Fn::GetAtt": "OrdersTable.StreamArn"}));
                assert_eq!(properties["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
                assert_eq!(properties["BisectBatchOnFunctionError"], true);
                assert!(properties["MaximumRetryAttempts"].as_u64().is_some_and(|n| (1..=10_000).contains(&n)));
                let destination = &properties["DestinationConfig"]["OnFailure"];
                assert_eq!(destination["Type"], "SQS");
                template.resource(Template::target(&destination["Destination"]));
            }
        }
    }
}

#[test]
fn every_queue_has_its_dead_letter_queue_a_long_enough_visibility_and_alarms() {
    let template = Template::load();
    let consumers: BTreeMap<QueueName, &LambdaFunction> = functions::ALL
        .iter()
        .filter_map(|f| match f.trigger {
            Trigger::Sqs(queue) => Some((queue, *f)),
            _ => None,
        })
        .collect();
    let mut dead_letter_queues = BTreeSet::new();
    for queue in [QueueName::Backup, QueueName::Fulfilment, QueueName::Import] {
        // Given a work queue of the code
        let id = template.queue_named(queue.as_str());
        let properties = &template.resource(id)["Properties"];

        // Then its redrive policy names its DLQ, as the code names it
        let dlq = queue.dead_letter_queue().unwrap();
        let target = Template::target(&properties["RedrivePolicy"]["deadLetterTargetArn"]);
        assert_eq!(target, template.queue_named(dlq.as_str()), "{id}'s DLQ");
        let receives = properties["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
        assert!((2..=10).contains(&receives), "{id} gives a message {receives} deliveries");
        dead_letter_queues.insert(target.to_owned());

        // And its visibility timeout is at least 6 times its consumer's timeout (Lambda's rule for SQS)
        let (_, consumer) = template.function(consumers[&queue].binary);
        let visibility = properties["VisibilityTimeout"].as_u64().unwrap();
        assert!(visibility >= 6 * function_timeout(consumer), "{id}: visibility {visibility} s");

        // And an alarm watches how old its oldest message gets
        assert_eq!(template.alarms_on("ApproximateAgeOfOldestMessage", id).len(), 1, "{id}'s age alarm");
    }
    // The stream's on-failure destination is a dead-letter queue too
    let (_, stream) = template.function(functions::STREAM.binary);
    let destination = stream["Properties"]["Events"].as_object().unwrap().values().next().unwrap();
    dead_letter_queues.insert(
        Template::target(&destination["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]).to_owned(),
    );

    for dlq in &dead_letter_queues {
        // Every dead-letter queue alarms as soon as anything is in it
        let alarms = template.alarms_on("ApproximateNumberOfMessagesVisible", dlq);
        let [alarm] = alarms[..] else { panic!("{dlq} has {} not-empty alarms", alarms.len()) };
        assert_eq!(alarm["Threshold"], 0);
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
        assert!(alarm["AlarmActions"].as_array().is_some_and(|a| !a.is_empty()), "{dlq}'s alarm notifies");
        // And keeps its messages as long as SQS allows (14 days), for the operator to replay
        assert_eq!(template.resource(dlq)["Properties"]["MessageRetentionPeriod"], 1_209_600, "{dlq}");
    }
    // And there is no other queue: every queue is a work queue or some queue's DLQ
    assert_eq!(template.of_type("AWS::SQS::Queue").count(), 3 + dead_letter_queues.len());
}

#[test]
fn every_function_alarms_on_errors_and_throttles_and_the_workflow_on_failures() {
    let template = Template::load();
    for function in functions::ALL {
        let (id, _) = template.function(function.binary);
        assert_eq!(template.alarms_on("Errors", id).len(), 1, "{id}'s error alarm");
        assert_eq!(template.alarms_on("Throttles", id).len(), 1, "{id}'s throttle alarm");
    }
    assert_eq!(template.alarms_on("ExecutionsFailed", "OrderProcessing").len(), 1);
}

#[test]
fn the_state_machine_substitutions_cover_every_placeholder_of_the_definition() {
    // Given the deployed state machine and the definition file it points at
    let template = Template::load();
    let machine = &template.resource("OrderProcessing")["Properties"];
    let definition_path = repo().join("infra").join(machine["DefinitionUri"].as_str().unwrap());
    let definition = std::fs::read_to_string(&definition_path).unwrap();
    assert_eq!(
        definition_path.canonicalize().unwrap(),
        repo().join("statemachine/order-processing.asl.json").canonicalize().unwrap(),
        "the template deploys the definition the embedded default runs"
    );

    // Then the substitutions are exactly the definition's placeholders
    let placeholders: BTreeSet<&str> = regex_lite::Regex::new(r"\$\{([A-Za-z0-9_]+)\}")
        .unwrap()
        .captures_iter(&definition)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let substitutions: BTreeSet<&str> =
        machine["DefinitionSubstitutions"].as_object().unwrap().keys().map(String::as_str).collect();
    assert!(!placeholders.is_empty());
    assert_eq!(placeholders, substitutions);

    // And each one names the resource the embedded engine substitutes for it
    assert_eq!(machine["DefinitionSubstitutions"]["OrdersTableName"], json!({"Ref": "OrdersTable"}));
    assert_eq!(machine["DefinitionSubstitutions"]["FulfilmentQueueUrl"], json!({"Ref": "FulfilmentQueue"}));
    assert_eq!(machine["Type"], "STANDARD", "orders wait days for delivery; Express stops at 5 minutes");
    assert_eq!(machine["Tracing"]["Enabled"], true);
    assert!(machine["Logging"]["Destinations"].as_array().is_some_and(|d| !d.is_empty()));
}

#[test]
fn the_tables_are_the_ones_the_store_queries() {
    let template = Template::load();
    let table = |id: &str| &template.resource(id)["Properties"];

    // The orders table streams both images and has every listing index, sorted by seq
    let orders = table("OrdersTable");
    assert_eq!(orders["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(orders["KeySchema"], json!([{"AttributeName": "order_id", "KeyType": "HASH"}]));
    let indexes: BTreeMap<&str, &Value> = orders["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|index| (index["IndexName"].as_str().unwrap(), index))
        .collect();
    assert_eq!(indexes.len(), LISTING_INDEXES.len());
    for (name, partition_key) in LISTING_INDEXES {
        let index = indexes.get(name).unwrap_or_else(|| panic!("no index {name}"));
        assert_eq!(
            index["KeySchema"],
            json!([{"AttributeName": partition_key, "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}])
        );
        assert_eq!(index["Projection"], json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": SUMMARY_ATTRIBUTES}));
    }

    // The other tables have the keys the store writes, and idempotency keys expire
    assert_eq!(table("CatalogTable")["KeySchema"], json!([{"AttributeName": "product_id", "KeyType": "HASH"}]));
    assert_eq!(table("IdempotencyTable")["KeySchema"], json!([{"AttributeName": "key", "KeyType": "HASH"}]));
    assert_eq!(
        table("IdempotencyTable")["TimeToLiveSpecification"],
        json!({"AttributeName": EXPIRES_AT, "Enabled": true})
    );
    assert_eq!(
        table("CountersTable")["KeySchema"],
        json!([{"AttributeName": "scope", "KeyType": "HASH"}, {"AttributeName": "bucket", "KeyType": "RANGE"}])
    );

    // And every table is recoverable, encrypted, and kept when the stack goes
    for (id, resource) in template.of_type("AWS::DynamoDB::Table") {
        let properties = &resource["Properties"];
        assert_eq!(properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true, "{id}");
        assert_eq!(properties["SSESpecification"]["SSEEnabled"], true, "{id}");
        assert_eq!(resource["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST", "{id}");
    }
}

/// Actions IAM cannot scope to a resource (they take a task token, or are account-wide).
const RESOURCELESS_ACTIONS: [&str; 14] = [
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
];

fn as_list(value: &Value) -> Vec<&Value> {
    value.as_array().map(|items| items.iter().collect()).unwrap_or_else(|| vec![value])
}

#[test]
fn no_statement_grants_everything_where_a_resource_can_be_named() {
    let template = Template::load();
    let mut statements = 0;
    for (id, resource) in template.resources() {
        let Some(policies) = resource["Properties"]["Policies"].as_array() else { continue };
        for statement in policies.iter().flat_map(|p| p["Statement"].as_array().unwrap()) {
            // A statement present only under a condition (`!If [Condition, statement, AWS::NoValue]`)
            let statement = statement.get("Fn::If").map_or(statement, |branches| &branches[1]);
            statements += 1;
            if statement["Effect"] != "Allow" {
                continue;
            }
            let actions: Vec<&str> = as_list(&statement["Action"]).iter().map(|a| a.as_str().unwrap()).collect();
            for action in &actions {
                assert!(!action.contains('*'), "{id} allows the wildcard action {action}");
            }
            for target in as_list(&statement["Resource"]) {
                if target == "*" {
                    let scoped: Vec<_> = actions.iter().filter(|a| !RESOURCELESS_ACTIONS.contains(a)).collect();
                    assert!(scoped.is_empty(), "{id} allows {scoped:?} on every resource");
                }
            }
        }
    }
    assert!(statements > 10, "the statements were found");
}

#[test]
fn the_api_key_parameter_is_as_long_as_both_checks_demand() {
    // API Gateway refuses keys under 20 characters; the api function refuses keys under its minimum
    let template = Template::load();
    let parameter = &template.0["Parameters"]["ApiKeyValue"];
    assert_eq!(parameter["NoEcho"], true);
    assert!(parameter["MinLength"].as_u64().unwrap() >= 20);
    assert!(parameter["MinLength"].as_u64().unwrap() >= orders_ingest::http::MIN_KEY_CHARS as u64);
}

#[test]
fn the_fulfilment_retries_fit_inside_the_wait_the_workflow_allows_the_hand_off() {
    let template = Template::load();
    let queue = &template.resource(template.queue_named(QueueName::Fulfilment.as_str()))["Properties"];
    let backoff = DEPLOYED_BACKOFF;
    // Given the fulfilment queue: its visibility timeout is the first pause, and its redrive comes one
    // delivery after the worker parks a task with its reason
    assert_eq!(queue["VisibilityTimeout"].as_u64().unwrap(), backoff.first_delay.as_secs());
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap(), u64::from(backoff.attempts) + 1);
    // And the state machine's processing task, which the worker fails when the hand-off has not
    // gone through by its deadline, and which then waits up to 60 days for the delivery
    let definition: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("statemachine/order-processing.asl.json")).unwrap())
            .unwrap();
    let process = &definition["States"]["Process"];
    let wait = orders_core::domain::HAND_OFF_DEADLINE.num_seconds().unsigned_abs();
    assert_eq!(wait, 24 * 60 * 60, "an order waits 24 hours for its hand-off");
    assert_eq!(process["TimeoutSeconds"].as_u64().unwrap(), wait + 60 * 24 * 60 * 60);
    assert!(process.get("HeartbeatSeconds").is_none(), "a retried hand-off sends no heartbeat");
    // Then every attempt happens well before the wait ends, leaving an operator most of a day to
    // replay a parked task once the endpoint is back
    let retrying: u64 = (1..backoff.attempts).map(|attempt| backoff.delay(attempt).as_secs()).sum();
    assert!(retrying * 4 < wait, "the retries take {retrying} s of the {wait} s an order may wait");
    // And the function may read the webhook's secret, and only that secret, when one is configured
    let (_, function) = template.function(functions::FULFILMENT.binary);
    let statements: Vec<&Value> = function["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["Statement"].as_array().unwrap())
        .collect();
    let secret = statements.iter().find_map(|s| s.get("Fn::If")).expect("a statement conditional on the webhook");
    assert_eq!(secret[0], "HandOffToWebhook");
    assert_eq!(secret[1]["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(secret[1]["Resource"], json!({"Ref": "FulfilmentWebhookSecretArn"}));
}

/// The functions' metrics namespace, one per stack (`METRICS_NAMESPACE`).
const METRICS_NAMESPACE: &str = "OrderPipeline/${AWS::StackName}";

/// Every metric the functions emit (`core/src/metrics.rs`).
const EMITTED: [&str; 12] = [
    metrics::ORDERS_CREATED,
    metrics::IMPORT_ENTRIES,
    metrics::ORDERS_FAILED,
    metrics::ORDERS_CANCELLED,
    metrics::ORDERS_DELIVERED,
    metrics::STOCK_OUTS,
    metrics::DLQ_MESSAGES_PARKED,
    metrics::DLQ_REPLAYS,
    metrics::BACKUP_LAG_SECONDS,
    metrics::WEBHOOK_HANDOFF_SECONDS,
    metrics::WEBHOOK_HANDOFFS,
    metrics::COLD_STARTS,
];

#[test]
fn the_dashboard_and_the_backup_lag_alarm_read_the_metrics_the_functions_emit() {
    // Given every function's metrics namespace, one per stack
    let template = Template::load();
    let variables = &template.0["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(variables["METRICS_NAMESPACE"], json!({"Fn::Sub": METRICS_NAMESPACE}));

    // Then the dashboard searches it, by the `function` dimension, for every metric the code emits
    let [(_, dashboard)] = template.of_type("AWS::CloudWatch::Dashboard").collect::<Vec<_>>()[..] else {
        panic!("one dashboard")
    };
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"].as_str().expect("a !Sub of the dashboard's JSON");
    let search = format!(r#"SEARCH('{{{METRICS_NAMESPACE},function"#);
    for metric in EMITTED {
        let found = body.match_indices(&search).any(|(at, _)| {
            let dimensions_then_rest = &body[at + search.len()..];
            dimensions_then_rest
                .split_once('}')
                .is_some_and(|(_, rest)| rest.starts_with(&format!(r#" MetricName=\"{metric}\""#)))
        });
        assert!(found, "the dashboard does not search for {metric}");
    }
    // And shows each function's, each queue's and the workflow's own AWS metrics
    for (id, _) in template.of_type("AWS::Serverless::Function") {
        assert!(body.contains(&format!(r#""FunctionName", "${{{id}}}""#)), "the dashboard does not show {id}");
    }
    for (id, _) in template.of_type("AWS::SQS::Queue") {
        assert!(body.contains(&format!(r#""QueueName", "${{{id}.QueueName}}""#)), "the dashboard does not show {id}");
    }
    assert!(body.contains(r#""StateMachineArn", "${OrderProcessing}""#));
    // And, substituted as CloudFormation does, it is JSON, every graph in the stack's region
    let substituted = regex_lite::Regex::new(r"\$\{([^!}][^}]*)\}")
        .unwrap()
        .replace_all(body, |c: &regex_lite::Captures| match &c[1] {
            "AWS::Region" => REGION.to_owned(),
            name => match &template.0["Parameters"][name] {
                parameter if parameter["Type"] == "Number" => parameter["Default"].to_string(),
                _ => "x".to_owned(),
            },
        })
        .replace("${!", "${");
    let widgets: Value = serde_json::from_str(&substituted).unwrap_or_else(|e| panic!("the dashboard body: {e}"));
    for widget in widgets["widgets"].as_array().unwrap().iter().filter(|w| w["type"] == "metric") {
        assert_eq!(widget["properties"]["region"], REGION, "{widget}");
    }

    // And the backup-lag alarm takes the worse of the two functions that write backups
    let alarms: Vec<&Value> = template
        .of_type("AWS::CloudWatch::Alarm")
        .map(|(_, alarm)| &alarm["Properties"])
        .filter(|alarm| alarm["Metrics"].is_array())
        .collect();
    let [alarm] = alarms[..] else { panic!("{} metric-math alarms", alarms.len()) };
    let queries = alarm["Metrics"].as_array().unwrap();
    let mut watched = BTreeSet::new();
    for query in queries.iter().filter(|q| q.get("MetricStat").is_some()) {
        let metric = &query["MetricStat"]["Metric"];
        assert_eq!(metric["Namespace"], json!({"Fn::Sub": METRICS_NAMESPACE}));
        assert_eq!(metric["MetricName"], metrics::BACKUP_LAG_SECONDS);
        assert_eq!(query["MetricStat"]["Stat"], "Maximum");
        assert_eq!(query["ReturnData"], false);
        let [dimension] = metric["Dimensions"].as_array().unwrap().as_slice() else { panic!("{metric}") };
        assert_eq!(dimension["Name"], "function");
        watched.insert((query["Id"].as_str().unwrap(), dimension["Value"].as_str().unwrap()));
    }
    let binaries: BTreeSet<&str> = watched.iter().map(|(_, binary)| *binary).collect();
    assert_eq!(binaries, BTreeSet::from([functions::STREAM.binary, functions::BACKUP.binary]));
    let [expression] = queries.iter().filter(|q| q["ReturnData"] == true).collect::<Vec<_>>()[..] else {
        panic!("one query returns data")
    };
    let ids: Vec<&str> = watched.iter().map(|(id, _)| *id).collect();
    let filled: Vec<String> = ids.iter().map(|id| format!("FILL({id}, 0)")).collect();
    assert_eq!(expression["Expression"], format!("MAX([{}])", filled.join(", ")));
    let threshold = Template::target(&alarm["Threshold"]);
    assert_eq!(template.0["Parameters"][threshold]["Type"], "Number", "the threshold is a parameter");
    assert!(alarm["AlarmActions"].as_array().is_some_and(|a| !a.is_empty()), "the alarm notifies");
}
