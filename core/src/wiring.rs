//! One place wires each way of running: one function per way builds every port the system has, in
//! one value ([`Ports`]), and the entry points (the `orders` CLI and `orders serve`, each Lambda
//! `main`, the tests) take what they need from it. Use cases are built by the entry points from
//! the ports ([`Ports::order_service`], [`Ports::backup_service`]), never by an adapter.
//!
//! - [`wire_embedded`]: the embedded default, every port on one SQLite file under a data directory,
//!   the workflow run by the in-process executor; it also has a change feed.
//! - [`wire_aws`] (feature `aws`): AWS or an AWS-compatible endpoint (moto), over SDK clients and a
//!   deployment's resources; the change feed is the orders table's DynamoDB stream, read by Lambda
//!   or by the local runner's stream poller.
//! - [`wire_lambda`] (feature `aws`): inside a Lambda function, from the function's configuration
//!   (read once from its environment) and clients built for the function.

use std::path::PathBuf;
use std::sync::Arc;

use statemachine::{Definition, StateMachineArn};

use crate::adapters::embedded::{
    BACKUP_FOLDER, DATABASE_FILE, Database, EmbeddedConfig, EmbeddedGauges, EmbeddedQueues, EmbeddedTasks,
    EmbeddedWorkflow, FolderBackupStore, ORDER_PROCESSING_DEFINITION, ORDERS_TABLE, StackError,
    definition_substitutions, queue_url,
};
use crate::adapters::webhook::{WebhookConfig, WebhookHandOff};
use crate::application::{Backups, ChangeReactions, OrderService, WorkflowStart, WorkflowTasks};
use crate::domain::ProductCatalog;
use crate::ports::{
    BackupStore, CatalogStore, ChangeFeed, CreateLookups, FulfilmentHandOff, HandOffError, MessageQueue, OrderStore,
    PipelineGauges, QueueName, StockLedger, StoreError, TaskCallbacks, WorkflowEngine,
};

/// Every port of one way of running.
#[derive(Clone)]
pub struct Ports {
    /// Orders, idempotency keys and listings.
    pub orders: Arc<dyn OrderStore>,
    /// The product catalog.
    pub catalog: Arc<dyn CatalogStore>,
    /// What a create looks up before it writes (its key's record, its prices, its listing place).
    pub create_lookups: Arc<dyn CreateLookups>,
    /// The orders' stock reservations.
    pub stock: Arc<dyn StockLedger>,
    /// The workflow engine: starts and describes the order workflow's executions.
    pub workflow: Arc<dyn WorkflowEngine>,
    /// The answers to the workflow's callback tasks.
    pub callbacks: Arc<dyn TaskCallbacks>,
    /// The work queues and their dead-letter queues.
    pub queues: Arc<dyn MessageQueue>,
    /// The order backups.
    pub backups: Arc<dyn BackupStore>,
    /// Where orders are handed off for fulfilment; `None`: no webhook configured, processing is the
    /// reservation alone ([`Ports::with_fulfilment_webhook`]).
    pub hand_off: Option<Arc<dyn FulfilmentHandOff>>,
    /// When a new order's workflow execution starts: before the order is written (Step Functions),
    /// or from its change record (the embedded default, whose change feed is the system's own).
    pub workflow_start: WorkflowStart,
    /// The figures of the pipeline's health only the backend can read (`orders status`).
    pub gauges: Arc<dyn PipelineGauges>,
    /// The order change feed, where the system reads it itself (the embedded outbox); on AWS the
    /// orders table's stream is read through the SDK instead.
    pub changes: Option<Arc<dyn ChangeFeed>>,
}

impl Ports {
    /// The order use cases over these ports.
    pub fn order_service(&self) -> OrderService {
        OrderService::new(self.orders.clone(), self.create_lookups.clone(), self.workflow.clone())
            .starting_workflows(self.workflow_start)
    }

    /// The catalog use cases (products with their stock) over these ports.
    pub fn product_service(&self) -> crate::application::Products {
        crate::application::Products::new(self.catalog.clone())
    }

    /// The reactions to order changes over these ports.
    pub fn change_reactions(&self) -> ChangeReactions {
        ChangeReactions::new(
            self.orders.clone(),
            self.queues.clone(),
            self.backup_service(),
            self.stock.clone(),
            self.callbacks.clone(),
            self.workflow.clone(),
        )
    }

    /// The workflow's callback tasks over these ports.
    pub fn workflow_tasks(&self) -> WorkflowTasks {
        WorkflowTasks::new(self.orders.clone(), self.stock.clone(), self.hand_off.clone(), self.callbacks.clone())
    }

    /// These ports, handing orders off to the webhook `config` names (none: no hand-off).
    pub fn with_fulfilment_webhook(mut self, config: Option<WebhookConfig>) -> Result<Self, HandOffError> {
        self.hand_off = match config {
            Some(config) => Some(Arc::new(WebhookHandOff::new(config)?)),
            None => None,
        };
        Ok(self)
    }

    /// The pipeline's health (`orders status`) over these ports.
    pub fn pipeline_health(&self) -> crate::application::PipelineHealth {
        crate::application::PipelineHealth::new(self.orders.clone(), self.gauges.clone())
    }

    /// The backup use cases over these ports.
    pub fn backup_service(&self) -> Backups {
        Backups::new(self.orders.clone(), self.backups.clone())
    }
}

/// The embedded default, wired: its ports, and what only the embedded way of running has.
#[derive(Clone)]
pub struct EmbeddedSystem {
    /// Every port.
    pub ports: Ports,
    /// The database under every port (the operator commands and the local runner share it).
    pub database: Database,
    /// The in-process workflow engine: resumed and driven by `orders serve`.
    pub workflow: EmbeddedWorkflow,
    /// The backup folder (laid out as the S3 bucket).
    pub backup_root: PathBuf,
}

/// Opens (creating if needed) the database in the data dir, applies migrations, puts the demo
/// catalog in place if the catalog is empty, loads the workflow definition (refusing it if anything
/// in it would not run exactly), and builds every port over them.
pub async fn wire_embedded(config: &EmbeddedConfig) -> Result<EmbeddedSystem, StackError> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::Internal(format!("cannot create data dir {}: {e}", data_dir.display())))?;
    let database = Database::open(&data_dir.join(DATABASE_FILE))?;
    database.seed_catalog_if_empty(&ProductCatalog::demo()).await?;
    let queues = Arc::new(EmbeddedQueues::new(
        database.clone(),
        [QueueName::Backup, QueueName::Fulfilment, QueueName::Import].map(|q| (q, config.queue_settings)),
    ));
    let backup_root = data_dir.join(BACKUP_FOLDER);

    let definition = Definition::load_with_substitutions(ORDER_PROCESSING_DEFINITION, &definition_substitutions())?;
    let queue_urls = [QueueName::Fulfilment].into_iter().map(|q| (queue_url(q), q)).collect();
    let tasks = Arc::new(EmbeddedTasks::new(queues.clone(), ORDERS_TABLE, queue_urls));
    tasks.check(&definition)?;
    let location = &config.location;
    let machine = StateMachineArn::new(&location.region, &location.account_id, &location.state_machine)
        .map_err(|e| StackError::Arn(e.to_string()))?;
    let workflow = EmbeddedWorkflow::new(definition, machine, tasks);

    let ports = Ports {
        orders: Arc::new(database.clone()),
        catalog: Arc::new(database.clone()),
        create_lookups: Arc::new(database.clone()),
        stock: Arc::new(database.clone()),
        workflow: Arc::new(workflow.clone()),
        callbacks: Arc::new(workflow.clone()),
        queues,
        backups: Arc::new(FolderBackupStore::new(backup_root.clone())),
        hand_off: None,
        workflow_start: WorkflowStart::FromChangeFeed,
        gauges: Arc::new(EmbeddedGauges::new(database.clone())),
        changes: Some(Arc::new(database.clone())),
    };
    Ok(EmbeddedSystem { ports, database, workflow, backup_root })
}

#[cfg(feature = "aws")]
pub use aws::{AwsSystem, wire_aws, wire_lambda};

#[cfg(feature = "aws")]
mod aws {
    use std::sync::Arc;

    use super::{Ports, WorkflowStart};
    use crate::adapters::aws::{
        AwsClients, AwsGauges, AwsResources, DynamoDbStore, FunctionConfig, MetricsReader, S3BackupStore, SqsQueues,
        StepFunctionsCallbacks, StepFunctionsEngine,
    };

    /// AWS or an AWS-compatible endpoint, wired: its ports, and the clients and resources under them.
    #[derive(Clone)]
    pub struct AwsSystem {
        /// Every port but the change feed (the orders table's stream, read through `clients`).
        pub ports: Ports,
        /// The SDK clients, built once.
        pub clients: AwsClients,
        /// The deployment's resources.
        pub resources: AwsResources,
    }

    /// The ports of the deployment `resources`, over `clients`.
    pub fn wire_aws(clients: AwsClients, resources: AwsResources) -> AwsSystem {
        let store = Arc::new(DynamoDbStore::new(clients.dynamodb.clone(), &resources));
        let ports = Ports {
            orders: store.clone(),
            catalog: store.clone(),
            create_lookups: store.clone(),
            stock: store,
            workflow: Arc::new(StepFunctionsEngine::new(clients.sfn.clone(), resources.state_machine_arn.clone())),
            callbacks: Arc::new(StepFunctionsCallbacks::new(clients.sfn.clone())),
            queues: Arc::new(SqsQueues::new(clients.sqs.clone(), resources.queue_urls.clone())),
            backups: Arc::new(S3BackupStore::new(clients.s3.clone(), resources.backup_bucket.clone())),
            hand_off: None,
            workflow_start: WorkflowStart::BeforeWrite,
            gauges: Arc::new(AwsGauges::new(
                clients.sqs.clone(),
                resources.queue_urls.clone(),
                clients.sfn.clone(),
                resources.state_machine_arn.clone(),
                MetricsReader::new(clients.cloudwatch.clone(), resources.metrics_namespace.clone()),
            )),
            changes: None,
        };
        AwsSystem { ports, clients, resources }
    }

    /// The ports of a Lambda function configured with `config`, over clients built for the function
    /// (its own credentials and region, `AWS_ENDPOINT_URL` when set). A resource the function does
    /// not declare stays empty, and the port over it is never used by that function's handler
    /// (`functions.rs` lists what each function declares; its start-up tests run each `main`).
    pub async fn wire_lambda(config: &FunctionConfig) -> AwsSystem {
        wire_aws(AwsClients::for_lambda().await, config.resources())
    }
}
