//! A deployment on moto for tests of the Lambda binaries: the resources `orders setup` creates,
//! the ports wired over them, and the environment a function of that deployment is configured with.

#![allow(dead_code)]

use orders_core::adapters::aws::setup::{self, SetupOptions};
use orders_core::adapters::aws::{AwsClients, AwsResources, env};
use orders_core::adapters::embedded::ORDER_PROCESSING_DEFINITION;
use orders_core::ports::QueueName;
use orders_core::wiring::{AwsSystem, wire_aws};

use super::moto::Moto;

/// Resources on moto, and the ports wired over them.
pub struct Deployment {
    /// The emulator (alive as long as the deployment).
    pub moto: Moto,
    /// The ports over the deployment.
    pub system: AwsSystem,
}

impl Deployment {
    /// Starts moto and creates a deployment in it (visibility timeout 30 s, maxReceiveCount 3).
    pub async fn start() -> Deployment {
        Self::start_with(30, 3).await
    }

    /// Starts moto and creates a deployment whose queues have these settings.
    pub async fn start_with(visibility_timeout_seconds: u32, max_receive_count: u32) -> Deployment {
        let moto = Moto::start().await;
        let clients = AwsClients::for_emulator(&moto.endpoint(), "us-east-1").await;
        let mut resources = AwsResources::named("lambda", "123456789012", "us-east-1");
        let options = SetupOptions {
            visibility_timeout_seconds,
            max_receive_count,
            definition: ORDER_PROCESSING_DEFINITION.to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/lambda".into(),
        };
        setup::ensure(&clients, &mut resources, &options).await.expect("the deployment is set up");
        Deployment { moto, system: wire_aws(clients, resources) }
    }

    /// Every item of `table`, read page by page with a Scan (test inspection only: the code under
    /// test never scans).
    pub async fn scan_all(
        &self,
        table: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .system
                .clients
                .dynamodb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return items;
            }
        }
    }

    /// The environment every function of the deployment gets (as infra/template.yaml sets it).
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        let resources = &self.system.resources;
        vec![
            (env::AWS_ENDPOINT_URL, self.moto.endpoint()),
            (env::ORDERS_TABLE, resources.orders_table.clone()),
            (env::CATALOG_TABLE, resources.catalog_table.clone()),
            (env::IDEMPOTENCY_TABLE, resources.idempotency_table.clone()),
            (env::COUNTERS_TABLE, resources.counters_table.clone()),
            (env::RESERVATIONS_TABLE, resources.reservations_table.clone()),
            (env::BACKUP_BUCKET, resources.backup_bucket.clone()),
            (env::STATE_MACHINE_ARN, resources.state_machine_arn.clone()),
            (env::BACKUP_QUEUE_URL, resources.queue_urls[&QueueName::Backup].clone()),
            (env::IMPORT_DLQ_URL, resources.queue_urls[&QueueName::ImportDlq].clone()),
            (env::BACKUP_DLQ_URL, resources.queue_urls[&QueueName::BackupDlq].clone()),
            (env::FULFILMENT_DLQ_URL, resources.queue_urls[&QueueName::FulfilmentDlq].clone()),
        ]
    }
}
