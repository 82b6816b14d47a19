//! The deployment's Lambda functions and the environment each one is configured with. A function's
//! `main` reads its whole configuration here, once, at start, and stops naming every variable that is
//! missing. `infra/template.yaml` sets exactly these variables; `tests/infra.rs` checks that the
//! template and this list agree, so neither can drift from the other.

use std::collections::BTreeMap;

use super::AwsResources;
use super::env::*;
use crate::ports::QueueName;

/// One Lambda function of the deployment.
#[derive(Debug)]
pub struct LambdaFunction {
    /// The cargo binary the function runs (and the template's `BuildProperties.Binary`).
    pub binary: &'static str,
    /// What it consumes: `http`, `sqs` or `dynamodb-stream`.
    pub trigger: Trigger,
    /// The environment variables it requires (each one non-empty).
    pub required_env: &'static [&'static str],
    /// The environment variables it reads when they are set (blank counts as not set).
    pub optional_env: &'static [&'static str],
}

/// What invokes a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// API Gateway (REST API proxy events).
    Http,
    /// An SQS queue (partial batch responses), by the queue it reads.
    Sqs(QueueName),
    /// The orders table's DynamoDB stream.
    OrdersStream,
}

/// The REST API (`ingest`'s Router under `lambda_http`); a delivery consumes the order's reserved
/// stock in its own transaction (hence the reservations table). `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`
/// is read by `lambda_http`: behind a REST API stage, routes 404 without it.
pub const API: LambdaFunction = LambdaFunction {
    binary: "api",
    trigger: Trigger::Http,
    required_env: &[
        ORDERS_TABLE,
        CATALOG_TABLE,
        IDEMPOTENCY_TABLE,
        COUNTERS_TABLE,
        RESERVATIONS_TABLE,
        STATE_MACHINE_ARN,
        API_KEY_SHA256,
        AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH,
    ],
    optional_env: &[],
};

/// Batch order imports from the import queue; refusals go to the import DLQ with their reason.
pub const IMPORT: LambdaFunction = LambdaFunction {
    binary: "import",
    trigger: Trigger::Sqs(QueueName::Import),
    required_env: &[ORDERS_TABLE, CATALOG_TABLE, IDEMPOTENCY_TABLE, COUNTERS_TABLE, STATE_MACHINE_ARN, IMPORT_DLQ_URL],
    optional_env: &[],
};

/// Backup jobs from the backup queue (the writes the stream function could not make), written to
/// the backup bucket; malformed jobs go to the backup DLQ with their reason.
pub const BACKUP: LambdaFunction = LambdaFunction {
    binary: "backup",
    trigger: Trigger::Sqs(QueueName::Backup),
    required_env: &[BACKUP_BUCKET, BACKUP_DLQ_URL],
    optional_env: &[],
};

/// The workflow's fulfilment callback tasks (task tokens answered through Step Functions); malformed
/// tasks go to the fulfilment DLQ with their reason.
pub const FULFILMENT: LambdaFunction = LambdaFunction {
    binary: "fulfilment",
    trigger: Trigger::Sqs(QueueName::Fulfilment),
    required_env: &[
        ORDERS_TABLE,
        CATALOG_TABLE,
        IDEMPOTENCY_TABLE,
        COUNTERS_TABLE,
        RESERVATIONS_TABLE,
        FULFILMENT_DLQ_URL,
    ],
    optional_env: &[FULFILMENT_WEBHOOK_URL, FULFILMENT_WEBHOOK_SECRET_ARN],
};

/// The orders table's stream: new orders' executions started, backups written (a write that fails
/// goes to the backup queue as a job), listing reconciliation, waiting workflows answered (a
/// delivered order's stock consumed first).
pub const STREAM: LambdaFunction = LambdaFunction {
    binary: "stream",
    trigger: Trigger::OrdersStream,
    required_env: &[
        ORDERS_TABLE,
        CATALOG_TABLE,
        IDEMPOTENCY_TABLE,
        COUNTERS_TABLE,
        RESERVATIONS_TABLE,
        BACKUP_BUCKET,
        BACKUP_QUEUE_URL,
        STATE_MACHINE_ARN,
    ],
    optional_env: &[],
};

/// Every function of a deployment.
pub const ALL: [&LambdaFunction; 5] = [&API, &IMPORT, &BACKUP, &FULFILMENT, &STREAM];

/// Required environment variables are missing or empty (all of them are named).
#[derive(thiserror::Error)]
#[error("{}", missing_message(.0))]
pub struct MissingEnv(pub Vec<&'static str>);

fn missing_message(names: &[&str]) -> String {
    match names {
        [one] => format!("environment variable {one} is required"),
        many => format!("environment variables {} are required", many.join(", ")),
    }
}

impl std::fmt::Debug for MissingEnv {
    /// As the message: a Lambda `main` returning this error prints it with `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A function's configuration: every variable it declares, read once.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    function: &'static LambdaFunction,
    values: BTreeMap<&'static str, String>,
}

impl FunctionConfig {
    /// Reads `function`'s variables from the process environment.
    pub fn from_env(function: &'static LambdaFunction) -> Result<Self, MissingEnv> {
        Self::from_lookup(function, |name| std::env::var(name).ok())
    }

    /// Reads `function`'s variables through `lookup`; blank values count as missing.
    pub fn from_lookup(
        function: &'static LambdaFunction,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MissingEnv> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for &name in function.required_env {
            match lookup(name).filter(|value| !value.trim().is_empty()) {
                Some(value) => {
                    values.insert(name, value);
                }
                None => missing.push(name),
            }
        }
        for &name in function.optional_env {
            if let Some(value) = lookup(name).filter(|value| !value.trim().is_empty()) {
                values.insert(name, value);
            }
        }
        if missing.is_empty() { Ok(FunctionConfig { function, values }) } else { Err(MissingEnv(missing)) }
    }

    /// A declared variable's value.
    ///
    /// # Panics
    /// When `name` is not in the function's `required_env`: reading an undeclared variable is a bug
    /// (the template would not set it), and the function's start-up tests reach every read.
    pub fn get(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some(value) => value,
            None => {
                panic!("the {} function reads {name} without declaring it in its required_env", self.function.binary)
            }
        }
    }

    /// An optional variable's value, if it is set.
    ///
    /// # Panics
    /// When `name` is not in the function's `optional_env` (a bug, as for [`FunctionConfig::get`]).
    pub fn optional(&self, name: &str) -> Option<&str> {
        assert!(
            self.function.optional_env.contains(&name),
            "the {} function reads {name} without declaring it in its optional_env",
            self.function.binary
        );
        self.values.get(name).map(String::as_str)
    }

    /// The resources this function is configured with; what it does not use stays empty.
    pub fn resources(&self) -> AwsResources {
        let value = |name: &str| self.values.get(name).cloned().unwrap_or_default();
        let mut queue_urls = BTreeMap::new();
        let queues = [
            (BACKUP_QUEUE_URL, QueueName::Backup),
            (BACKUP_DLQ_URL, QueueName::BackupDlq),
            (FULFILMENT_DLQ_URL, QueueName::FulfilmentDlq),
            (IMPORT_DLQ_URL, QueueName::ImportDlq),
        ];
        for (name, queue) in queues {
            if let Some(url) = self.values.get(name) {
                queue_urls.insert(queue, url.clone());
            }
        }
        AwsResources {
            orders_table: value(ORDERS_TABLE),
            catalog_table: value(CATALOG_TABLE),
            idempotency_table: value(IDEMPOTENCY_TABLE),
            counters_table: value(COUNTERS_TABLE),
            reservations_table: value(RESERVATIONS_TABLE),
            queue_urls,
            backup_bucket: value(BACKUP_BUCKET),
            state_machine_arn: value(STATE_MACHINE_ARN),
            metrics_namespace: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let error = FunctionConfig::from_lookup(&IMPORT, |name| (name == ORDERS_TABLE).then(|| "t".into()))
            .expect_err("most variables are missing");
        assert_eq!(
            error.to_string(),
            "environment variables CATALOG_TABLE, IDEMPOTENCY_TABLE, COUNTERS_TABLE, STATE_MACHINE_ARN, \
             IMPORT_DLQ_URL are required"
        );
        let error = FunctionConfig::from_lookup(&BACKUP, |name| (name == BACKUP_BUCKET).then(|| "  ".into()))
            .expect_err("blank is missing");
        assert_eq!(error.to_string(), "environment variables BACKUP_BUCKET, BACKUP_DLQ_URL are required");
        let error = FunctionConfig::from_lookup(&BACKUP, |name| (name == BACKUP_BUCKET).then(|| "b".into()))
            .expect_err("the DLQ is missing");
        assert_eq!(error.to_string(), "environment variable BACKUP_DLQ_URL is required");
    }

    #[test]
    fn resources_carry_what_the_function_declares() {
        let config = FunctionConfig::from_lookup(&STREAM, |name| Some(format!("{name}-value"))).expect("all set");
        let resources = config.resources();
        assert_eq!(resources.orders_table, "ORDERS_TABLE-value");
        assert_eq!(resources.queue_urls[&QueueName::Backup], "BACKUP_QUEUE_URL-value");
        assert_eq!(resources.backup_bucket, "BACKUP_BUCKET-value");
        assert_eq!(resources.state_machine_arn, "STATE_MACHINE_ARN-value");
        assert_eq!(config.get(BACKUP_QUEUE_URL), "BACKUP_QUEUE_URL-value");
    }

    #[test]
    #[should_panic(expected = "the backup function reads ORDERS_TABLE without declaring it")]
    fn reading_an_undeclared_variable_is_a_bug() {
        let config = FunctionConfig::from_lookup(&BACKUP, |_| Some("b".into())).expect("all set");
        config.get(ORDERS_TABLE);
    }

    #[test]
    fn every_function_has_its_own_binary_and_trigger() {
        let binaries: std::collections::BTreeSet<_> = ALL.iter().map(|f| f.binary).collect();
        assert_eq!(binaries.len(), ALL.len());
        let triggers: Vec<_> = ALL.iter().map(|f| f.trigger).collect();
        for (i, trigger) in triggers.iter().enumerate() {
            assert!(!triggers[i + 1..].contains(trigger), "{trigger:?} is consumed twice");
        }
    }
}
