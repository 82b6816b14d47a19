//! `orders setup`, and the AWS side of `orders serve`: builds the SDK clients once, creates the
//! deployment's resources that are absent (tables, queues with DLQs, bucket, state machine), and
//! wires the ports over them (`orders_core::wiring::wire_aws`).

use anyhow::Context;
use orders_core::adapters::aws::setup::{self, SetupOptions};
use orders_core::adapters::aws::{AwsClients, AwsResources};
use orders_core::adapters::embedded::ORDER_PROCESSING_DEFINITION;
use orders_core::wiring::{AwsSystem, wire_aws};

use crate::config::{BackendArgs, SetupArgs};

/// Queue settings for `orders setup`.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Seconds a received message stays hidden.
    pub visibility_timeout: u32,
    /// Deliveries before the DLQ.
    pub max_receive_count: u32,
}

/// Creates what is absent and wires the ports over it.
pub async fn aws_system(
    backend: &BackendArgs,
    account_id: &str,
    region: &str,
    queues: &QueueOptions,
) -> anyhow::Result<AwsSystem> {
    let clients = AwsClients::from_env(backend.aws_endpoint.as_deref()).await;
    let mut resources = AwsResources::named(&backend.prefix, account_id, region);
    let options = SetupOptions {
        visibility_timeout_seconds: queues.visibility_timeout,
        max_receive_count: queues.max_receive_count,
        definition: ORDER_PROCESSING_DEFINITION.to_owned(),
        role_arn: format!("arn:aws:iam::{account_id}:role/{}-state-machine", backend.prefix),
    };
    setup::ensure(&clients, &mut resources, &options).await.context("cannot set up the AWS resources")?;
    Ok(wire_aws(clients, resources))
}

/// The ports of an existing deployment, found without creating or changing anything.
pub async fn existing_aws_system(backend: &BackendArgs, account_id: &str, region: &str) -> anyhow::Result<AwsSystem> {
    let clients = AwsClients::from_env(backend.aws_endpoint.as_deref()).await;
    let mut resources = AwsResources::named(&backend.prefix, account_id, region);
    setup::discover(&clients, &mut resources).await.context("cannot find the deployment's resources")?;
    Ok(wire_aws(clients, resources))
}

/// `orders setup`: creates what is absent and prints what there is.
pub async fn run(args: SetupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.backend.uses_aws(), "orders setup needs --aws or --aws-endpoint URL");
    let queues =
        QueueOptions { visibility_timeout: args.visibility_timeout, max_receive_count: args.max_receive_count };
    let system = aws_system(&args.backend, &args.account_id, &args.region, &queues).await?;
    let resources = &system.resources;
    println!("orders table:      {}", resources.orders_table);
    println!("catalog table:     {}", resources.catalog_table);
    println!("idempotency table: {}", resources.idempotency_table);
    println!("counters table:    {}", resources.counters_table);
    println!("reservations table: {}", resources.reservations_table);
    for (queue, url) in &resources.queue_urls {
        println!("queue {:<14} {url}", format!("{queue}:"));
    }
    println!("backup bucket:     {}", resources.backup_bucket);
    println!("state machine:     {}", resources.state_machine_arn);
    Ok(())
}
