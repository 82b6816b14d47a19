//! `orders setup --aws-endpoint URL`: creates the deployment's tables, queues (each with its DLQ),
//! bucket and state machine when they are absent, and finds them when they exist, so running it
//! twice changes nothing. On real AWS the SAM template (infra/) does this; this is for AWS-compatible
//! endpoints (moto in the tests) and quick experiments.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::dynamodb::{EXPIRES_AT, LISTING_INDEXES, SUMMARY_ATTRIBUTES};
use super::errors::describe;
use super::{AwsClients, AwsResources};
use crate::ports::QueueName;

/// How to set a deployment up.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// Seconds a received message stays hidden (keep it ≥ 6× the consumer's timeout on AWS).
    pub visibility_timeout_seconds: u32,
    /// Deliveries before a message moves to its DLQ.
    pub max_receive_count: u32,
    /// The state machine definition (ASL, with `${…}` placeholders).
    pub definition: String,
    /// The role Step Functions runs as.
    pub role_arn: String,
}

/// Why setting up failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up {what}: {detail}")]
pub struct SetupError {
    what: String,
    detail: String,
}

fn failed(what: impl Into<String>, detail: impl Into<String>) -> SetupError {
    SetupError { what: what.into(), detail: detail.into() }
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, SetupError> {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(|e| failed(name, e.to_string()))
}

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, SetupError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| failed(name, e.to_string()))
}

/// Creates what is missing and fills in `resources` (queue URLs, the state machine ARN).
pub async fn ensure(
    clients: &AwsClients,
    resources: &mut AwsResources,
    options: &SetupOptions,
) -> Result<(), SetupError> {
    ensure_tables(clients, resources).await?;
    ensure_queues(clients, resources, options).await?;
    ensure_bucket(clients, &resources.backup_bucket).await?;
    ensure_state_machine(clients, resources, options).await
}

/// Finds an existing deployment's queue URLs and state machine ARN without creating or changing
/// anything (what operator commands use: they must never alter a deployment's settings).
pub async fn discover(clients: &AwsClients, resources: &mut AwsResources) -> Result<(), SetupError> {
    let mut urls = BTreeMap::new();
    for queue in QueueName::ALL {
        let name = queue_name(resources, queue);
        let found =
            clients.sqs.get_queue_url().queue_name(&name).send().await.map_err(|e| failed(&name, describe(&e)))?;
        urls.insert(queue, found.queue_url.unwrap_or_default());
    }
    resources.queue_urls = urls;
    let name = resources.state_machine_arn.rsplit(':').next().unwrap_or("OrderProcessing").to_owned();
    resources.state_machine_arn = find_state_machine(clients, &name)
        .await?
        .ok_or_else(|| failed(&name, "no such state machine (run orders setup, or deploy infra/)"))?;
    Ok(())
}

/// The ARN of the state machine called `name`, if there is one.
async fn find_state_machine(clients: &AwsClients, name: &str) -> Result<Option<String>, SetupError> {
    let mut token = None;
    loop {
        let page = clients
            .sfn
            .list_state_machines()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failed("state machines", describe(&e)))?;
        if let Some(machine) = page.state_machines().iter().find(|m| m.name() == name) {
            return Ok(Some(machine.state_machine_arn().to_owned()));
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn table_exists(clients: &AwsClients, name: &str) -> Result<bool, SetupError> {
    match clients.dynamodb.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
        Err(error) => Err(failed(name, describe(&error))),
    }
}

async fn ensure_tables(clients: &AwsClients, resources: &AwsResources) -> Result<(), SetupError> {
    use KeyType::{Hash, Range};
    use ScalarAttributeType::{N, S};
    let db = &clients.dynamodb;

    let orders = &resources.orders_table;
    if !table_exists(clients, orders).await? {
        let mut request = db
            .create_table()
            .table_name(orders)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("order_id", Hash)?)
            .attribute_definitions(attribute("order_id", S)?)
            .attribute_definitions(attribute("seq", N)?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| failed(orders, e.to_string()))?,
            );
        for (index, partition) in LISTING_INDEXES {
            let projection = Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(SUMMARY_ATTRIBUTES.iter().map(|a| (*a).to_owned()).collect()))
                .build();
            request = request.attribute_definitions(attribute(partition, S)?).global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(partition, Hash)?)
                    .key_schema(key("seq", Range)?)
                    .projection(projection)
                    .build()
                    .map_err(|e| failed(index, e.to_string()))?,
            );
        }
        request.send().await.map_err(|e| failed(orders, describe(&e)))?;
    }

    let simple = [
        (&resources.catalog_table, "product_id"),
        (&resources.idempotency_table, "key"),
        (&resources.reservations_table, "order_id"),
    ];
    for (table, hash) in simple {
        if !table_exists(clients, table).await? {
            db.create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key(hash, Hash)?)
                .attribute_definitions(attribute(hash, S)?)
                .send()
                .await
                .map_err(|e| failed(table, describe(&e)))?;
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(EXPIRES_AT)
        .build()
        .map_err(|e| failed("ttl", e.to_string()))?;
    // Enabling TTL twice is refused by some endpoints; the table works either way.
    let _ =
        db.update_time_to_live().table_name(&resources.idempotency_table).time_to_live_specification(ttl).send().await;

    let counters = &resources.counters_table;
    if !table_exists(clients, counters).await? {
        db.create_table()
            .table_name(counters)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("scope", Hash)?)
            .key_schema(key("bucket", Range)?)
            .attribute_definitions(attribute("scope", S)?)
            .attribute_definitions(attribute("bucket", N)?)
            .send()
            .await
            .map_err(|e| failed(counters, describe(&e)))?;
    }
    Ok(())
}

/// Fourteen days, the SQS maximum: what every queue keeps a message (infra/template.yaml).
const RETENTION_SECONDS: &str = "1209600";

/// The SQS name of a queue in a deployment: `{orders table prefix}-{queue}`.
pub fn queue_name(resources: &AwsResources, queue: QueueName) -> String {
    let prefix = resources.orders_table.strip_suffix("-orders").unwrap_or(&resources.orders_table);
    format!("{prefix}-{}", queue.as_str())
}

async fn ensure_queues(
    clients: &AwsClients,
    resources: &mut AwsResources,
    options: &SetupOptions,
) -> Result<(), SetupError> {
    let sqs = &clients.sqs;
    let mut urls = BTreeMap::new();
    for queue in QueueName::ALL.into_iter().filter(|q| q.dead_letter_queue().is_none()) {
        let name = queue_name(resources, queue);
        let output = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::MessageRetentionPeriod, RETENTION_SECONDS)
            .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
            .send()
            .await
            .map_err(|e| failed(&name, describe(&e)))?;
        urls.insert(queue, output.queue_url.unwrap_or_default());
    }
    for queue in QueueName::ALL {
        let Some(dead_letter) = queue.dead_letter_queue() else { continue };
        let dlq_url = urls.get(&dead_letter).cloned().unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| failed(&dlq_url, describe(&e)))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        let redrive =
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": options.max_receive_count.to_string()});
        let name = queue_name(resources, queue);
        let attributes = HashMap::from([
            (QueueAttributeName::VisibilityTimeout, options.visibility_timeout_seconds.to_string()),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (QueueAttributeName::MessageRetentionPeriod, RETENTION_SECONDS.to_owned()),
            (QueueAttributeName::SqsManagedSseEnabled, "true".to_owned()),
        ]);
        let url = match sqs.get_queue_url().queue_name(&name).send().await {
            Ok(found) => found.queue_url.unwrap_or_default(),
            Err(_) => sqs
                .create_queue()
                .queue_name(&name)
                .set_attributes(Some(attributes.clone()))
                .send()
                .await
                .map_err(|e| failed(&name, describe(&e)))?
                .queue_url
                .unwrap_or_default(),
        };
        sqs.set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| failed(&name, describe(&e)))?;
        urls.insert(queue, url);
    }
    resources.queue_urls = urls;
    Ok(())
}

async fn ensure_bucket(clients: &AwsClients, bucket: &str) -> Result<(), SetupError> {
    if clients.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    let s3 = &clients.s3;
    let fail = |e: &dyn std::fmt::Display| failed(bucket, e.to_string());
    s3.create_bucket().bucket(bucket).send().await.map_err(|e| failed(bucket, describe(&e)))?;
    // The backup bucket's settings in infra/template.yaml (BackupBucket), so that a bucket made
    // here keeps and protects backups as the deployed one does.
    let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(versioning)
        .send()
        .await
        .map_err(|e| failed(bucket, describe(&e)))?;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| fail(&e))?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
        .build()
        .map_err(|e| fail(&e))?;
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| failed(bucket, describe(&e)))?;
    let private = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .block_public_policy(true)
        .ignore_public_acls(true)
        .restrict_public_buckets(true)
        .build();
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(private)
        .send()
        .await
        .map_err(|e| failed(bucket, describe(&e)))?;
    let owner = OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced).build();
    let ownership = OwnershipControls::builder().rules(owner.map_err(|e| fail(&e))?).build().map_err(|e| fail(&e))?;
    s3.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(ownership)
        .send()
        .await
        .map_err(|e| failed(bucket, describe(&e)))?;
    let whole_bucket = || LifecycleRuleFilter::builder().prefix("").build();
    let abort_uploads = LifecycleRule::builder()
        .id("abort-incomplete-uploads")
        .status(ExpirationStatus::Enabled)
        .filter(whole_bucket())
        .abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build())
        .build()
        .map_err(|e| fail(&e))?;
    let expire_replaced = LifecycleRule::builder()
        .id("expire-replaced-versions")
        .status(ExpirationStatus::Enabled)
        .filter(whole_bucket())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(90).build())
        .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
        .build()
        .map_err(|e| fail(&e))?;
    let lifecycle = BucketLifecycleConfiguration::builder()
        .rules(abort_uploads)
        .rules(expire_replaced)
        .build()
        .map_err(|e| fail(&e))?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(lifecycle)
        .send()
        .await
        .map_err(|e| failed(bucket, describe(&e)))?;
    Ok(())
}

/// The values of the definition's placeholders in this deployment.
pub fn definition_substitutions(resources: &AwsResources) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("OrdersTableName".to_owned(), resources.orders_table.clone()),
        (
            "FulfilmentQueueUrl".to_owned(),
            resources.queue_urls.get(&QueueName::Fulfilment).cloned().unwrap_or_default(),
        ),
    ])
}

async fn ensure_state_machine(
    clients: &AwsClients,
    resources: &mut AwsResources,
    options: &SetupOptions,
) -> Result<(), SetupError> {
    let definition = statemachine::substitute(&options.definition, &definition_substitutions(resources))
        .map_err(|e| failed("the state machine definition", e.to_string()))?;
    let name = resources.state_machine_arn.rsplit(':').next().unwrap_or("OrderProcessing").to_owned();
    let found = find_state_machine(clients, &name).await?;
    let arn = match found {
        Some(arn) => {
            clients
                .sfn
                .update_state_machine()
                .state_machine_arn(&arn)
                .definition(&definition)
                .send()
                .await
                .map_err(|e| failed(&name, describe(&e)))?;
            arn
        }
        None => {
            clients
                .sfn
                .create_state_machine()
                .name(&name)
                .definition(&definition)
                .role_arn(&options.role_arn)
                .send()
                .await
                .map_err(|e| failed(&name, describe(&e)))?
                .state_machine_arn
        }
    };
    resources.state_machine_arn = arn;
    Ok(())
}
