//! The AWS adapters: every port on the real AWS APIs (DynamoDB, SQS, S3, Step Functions), with the
//! SDK clients built once from one configuration. The same adapters serve Lambda and
//! `orders serve --aws-endpoint URL` (moto in the tests, or any AWS-compatible endpoint).
//!
//! Transient failures (throttling, 5xx, timeouts, connection errors) are retried by the SDK's standard
//! retry mode: exponential backoff with full jitter, [`MAX_ATTEMPTS`] attempts in all. What still
//! fails surfaces as the ports' `Unavailable` errors, which callers and queues retry later.
//!
//! [`AwsClients::counted`] gives copies of the clients that count their requests ([`RequestCounter`]),
//! for the AWS cost benchmark; the clients built for Lambda and `orders serve` count nothing.

mod counting;
mod dynamodb;
mod errors;
mod s3;
mod secrets;
mod sfn;
mod sqs;
mod status;

pub mod functions;
pub mod setup;

pub use counting::{RequestCounter, item_size};
pub use dynamodb::{DynamoDbStore, EXPIRES_AT, LISTING_INDEXES, SUMMARY_ATTRIBUTES};
pub use functions::{FunctionConfig, MissingEnv};
pub use s3::S3BackupStore;
pub use secrets::{WebhookSettingsError, fulfilment_webhook};
pub use sfn::{StepFunctionsCallbacks, StepFunctionsEngine};
pub use sqs::SqsQueues;
pub use status::{AwsGauges, MetricsReader};

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

use crate::ports::QueueName;

/// Attempts per SDK call, the first included.
pub const MAX_ATTEMPTS: u32 = 4;

/// The AWS resources of one deployment.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct AwsResources {
    /// The orders table (stream NEW_AND_OLD_IMAGES, listing indexes).
    pub orders_table: String,
    pub catalog_table: String,
    /// The idempotency-key table (TTL on `expires_at`).
    pub idempotency_table: String,
    /// The listing counters table.
    pub counters_table: String,
    /// The stock reservations table (one record per order).
    pub reservations_table: String,
    /// Queue URLs by queue.
    pub queue_urls: BTreeMap<QueueName, String>,
    pub backup_bucket: String,
    /// The order workflow's state machine ARN.
    pub state_machine_arn: String,
    /// The CloudWatch namespace of the deployment's metrics.
    pub metrics_namespace: String,
}

impl AwsResources {
    /// The conventional names for a deployment called `prefix` (`orders` → `orders-orders`, …), with
    /// queue URLs as the endpoint will report them (filled in by [`setup`]).
    pub fn named(prefix: &str, account_id: &str, region: &str) -> Self {
        AwsResources {
            orders_table: format!("{prefix}-orders"),
            catalog_table: format!("{prefix}-catalog"),
            idempotency_table: format!("{prefix}-idempotency"),
            counters_table: format!("{prefix}-counters"),
            reservations_table: format!("{prefix}-reservations"),
            queue_urls: BTreeMap::new(),
            backup_bucket: format!("{prefix}-backups-{account_id}-{region}"),
            state_machine_arn: format!("arn:aws:states:{region}:{account_id}:stateMachine:{prefix}-OrderProcessing"),
            metrics_namespace: crate::metrics::namespace_of(prefix),
        }
    }
}

/// The SDK clients, built once.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct AwsClients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// DynamoDB Streams.
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// S3 (path-style addressing when an endpoint is given, as emulators need).
    pub s3: aws_sdk_s3::Client,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// Secrets Manager (the fulfilment webhook's signing secret).
    pub secrets: aws_sdk_secretsmanager::Client,
    /// CloudWatch (the figures of `orders status` that only its metrics hold).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl AwsClients {
    /// Clients from the usual AWS environment (region, credentials), talking to `endpoint` when given.
    pub async fn from_env(endpoint: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Self::from_shared(loader.load().await, endpoint.is_some())
    }

    /// Clients for an AWS-compatible emulator at `endpoint` (moto, LocalStack), which accepts any
    /// credentials: these are given here instead of read from the environment.
    pub async fn for_emulator(endpoint: &str, region: &str) -> Self {
        Self::for_emulator_as(endpoint, region, "emulator", "emulator", None).await
    }

    /// Clients for an emulator that checks who calls (moto with IAM enforced), signing with these
    /// credentials (a session token for an assumed role's).
    pub async fn for_emulator_as(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> Self {
        let credentials = aws_sdk_dynamodb::config::Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.map(str::to_owned),
            None,
            "emulator",
        );
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .load()
            .await;
        Self::from_shared(shared, true)
    }

    fn from_shared(shared: aws_config::SdkConfig, path_style: bool) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style).build();
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(&shared),
            streams: aws_sdk_dynamodbstreams::Client::new(&shared),
            sqs: aws_sdk_sqs::Client::new(&shared),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sfn: aws_sdk_sfn::Client::new(&shared),
            secrets: aws_sdk_secretsmanager::Client::new(&shared),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&shared),
        }
    }

    /// Copies of these clients that also count every request they send (each attempt, by service
    /// and operation) in `counter`. Off unless asked for: for benchmarks and tests.
    pub fn counted(&self, counter: &RequestCounter) -> Self {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                self.dynamodb.config().to_builder().interceptor(counter.interceptor("DynamoDB")).build(),
            ),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(
                self.streams.config().to_builder().interceptor(counter.interceptor("DynamoDB Streams")).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                self.sqs.config().to_builder().interceptor(counter.interceptor("SQS")).build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                self.s3.config().to_builder().interceptor(counter.interceptor("S3")).build(),
            ),
            sfn: aws_sdk_sfn::Client::from_conf(
                self.sfn.config().to_builder().interceptor(counter.interceptor("Step Functions")).build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                self.secrets.config().to_builder().interceptor(counter.interceptor("Secrets Manager")).build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                self.cloudwatch.config().to_builder().interceptor(counter.interceptor("CloudWatch")).build(),
            ),
        }
    }
}

/// The environment variables a Lambda function reads its resources from (set by infra/template.yaml).
pub mod env {
    /// The orders table.
    pub const ORDERS_TABLE: &str = "ORDERS_TABLE";
    /// The catalog table.
    pub const CATALOG_TABLE: &str = "CATALOG_TABLE";
    /// The idempotency-key table.
    pub const IDEMPOTENCY_TABLE: &str = "IDEMPOTENCY_TABLE";
    /// The listing counters table.
    pub const COUNTERS_TABLE: &str = "COUNTERS_TABLE";
    /// The stock reservations table.
    pub const RESERVATIONS_TABLE: &str = "RESERVATIONS_TABLE";
    /// The backup bucket.
    pub const BACKUP_BUCKET: &str = "BACKUP_BUCKET";
    /// The order workflow's state machine ARN.
    pub const STATE_MACHINE_ARN: &str = "STATE_MACHINE_ARN";
    /// The backup queue's URL.
    pub const BACKUP_QUEUE_URL: &str = "BACKUP_QUEUE_URL";
    /// The backup dead-letter queue's URL (where malformed backup jobs go, with their reason).
    pub const BACKUP_DLQ_URL: &str = "BACKUP_DLQ_URL";
    /// The fulfilment dead-letter queue's URL (where malformed workflow tasks go, with their reason).
    pub const FULFILMENT_DLQ_URL: &str = "FULFILMENT_DLQ_URL";
    /// The import dead-letter queue's URL (where refused imports go, with their reason).
    pub const IMPORT_DLQ_URL: &str = "IMPORT_DLQ_URL";
    /// The fulfilment webhook's URL (optional: without it, processing is the reservation alone).
    pub const FULFILMENT_WEBHOOK_URL: &str = "FULFILMENT_WEBHOOK_URL";
    /// The Secrets Manager secret holding the fulfilment webhook's signing secret (its ARN).
    pub const FULFILMENT_WEBHOOK_SECRET_ARN: &str = "FULFILMENT_WEBHOOK_SECRET_ARN";
    /// The API keys' SHA-256 digests (hex, comma-separated).
    pub const API_KEY_SHA256: &str = "API_KEY_SHA256";
    /// `true` behind an API Gateway REST API stage (read by `lambda_http`: the stage is not in routes).
    pub const AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH: &str = "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH";
    /// An AWS-compatible endpoint to use instead of AWS (the SDK's own variable).
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
}

impl AwsClients {
    /// Clients for a Lambda function: the function's own credentials and region, and
    /// `AWS_ENDPOINT_URL` when set (tests point it at an emulator).
    pub async fn for_lambda() -> Self {
        let endpoint = std::env::var(env::AWS_ENDPOINT_URL).ok().filter(|v| !v.is_empty());
        Self::from_env(endpoint.as_deref()).await
    }
}
