//! The embedded default: every port on one SQLite file under the data directory.

mod backups;
mod catalog;
mod changes;
mod db;
mod executions;
mod orders;
mod queues;
mod tasks;
mod workflow;

pub use backups::FolderBackupStore;
pub use db::Database;
pub use queues::{EmbeddedQueues, QueueSettings};
pub use tasks::{EmbeddedTasks, UnsupportedTask};
pub use workflow::EmbeddedWorkflow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use statemachine::{Definition, Executor, LoadError, StateMachineArn};

use crate::application::OrderService;
use crate::domain::ProductCatalog;
use crate::ports::{CatalogStore, QueueName, StoreError};

/// Name of the SQLite file inside the data directory.
pub const DATABASE_FILE: &str = "orders.sqlite3";
/// Folder of the backups inside the data directory (laid out as the S3 bucket).
pub const BACKUP_FOLDER: &str = "backups";
/// The orders table's name, as the state machine definition knows it.
pub const ORDERS_TABLE: &str = "orders";
/// The order workflow's definition: the very file deployed to Step Functions.
pub const ORDER_PROCESSING_DEFINITION: &str = include_str!("../../../../statemachine/order-processing.asl.json");

/// The URL a queue has in the embedded stack (what the definition's `QueueUrl`s become).
pub fn queue_url(queue: QueueName) -> String {
    format!("embedded://queues/{}", queue.as_str())
}

/// The values of the definition's `${…}` placeholders in the embedded stack.
pub fn definition_substitutions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("OrdersTableName".to_owned(), ORDERS_TABLE.to_owned()),
        ("FulfilmentQueueUrl".to_owned(), queue_url(QueueName::Fulfilment)),
    ])
}

/// Where the embedded workflow engine says its executions run.
#[derive(Debug, Clone)]
pub struct WorkflowLocation {
    /// AWS region shown in ARNs.
    pub region: String,
    /// AWS account id shown in ARNs (12 digits).
    pub account_id: String,
    /// State machine name.
    pub state_machine: String,
}

impl Default for WorkflowLocation {
    /// `us-east-1`, account `123456789012`, state machine `OrderProcessing`: the defaults of
    /// `orders serve`.
    fn default() -> Self {
        WorkflowLocation {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            state_machine: "OrderProcessing".into(),
        }
    }
}

/// How to open the embedded stack.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// ARN parts of the state machine.
    pub location: WorkflowLocation,
    /// Visibility timeout and `maxReceiveCount` of each work queue.
    pub queue_settings: QueueSettings,
}

/// Why the embedded stack could not open.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state machine definition is invalid or uses something the executor does not support.
    #[error("the order workflow definition cannot run: {0}")]
    Definition(#[from] LoadError),
    /// The definition uses a task the embedded engine does not run.
    #[error("the order workflow definition cannot run: {0}")]
    Task(#[from] UnsupportedTask),
    /// The state machine ARN parts are invalid.
    #[error("invalid state machine ARN: {0}")]
    Arn(String),
}

/// The embedded stack: one database and the adapters over it.
#[derive(Clone)]
pub struct EmbeddedStack {
    /// The shared database (orders, catalog, keys, queues, change feed, executions).
    pub database: Database,
    /// The queues.
    pub queues: Arc<EmbeddedQueues>,
    /// The backup folder.
    pub backups: Arc<FolderBackupStore>,
    /// The workflow engine (also the workers' task callbacks).
    pub workflow: EmbeddedWorkflow,
    /// The order use cases over the embedded adapters.
    pub service: OrderService,
}

impl EmbeddedStack {
    /// Opens (creating if needed) the database in the data dir, applies migrations, puts the demo
    /// catalog in place if the catalog is empty, and loads the workflow definition (refusing it if
    /// anything in it would not run exactly).
    pub async fn open(config: &EmbeddedConfig) -> Result<Self, StackError> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Internal(format!("cannot create data dir {}: {e}", data_dir.display())))?;
        let database = Database::open(&data_dir.join(DATABASE_FILE))?;
        database.seed_catalog_if_empty(&ProductCatalog::demo()).await?;
        let queues = Arc::new(EmbeddedQueues::new(
            database.clone(),
            [QueueName::Backup, QueueName::Fulfilment, QueueName::Import].map(|q| (q, config.queue_settings)),
        ));
        let backups = Arc::new(FolderBackupStore::new(data_dir.join(BACKUP_FOLDER)));

        let definition = Definition::load_with_substitutions(ORDER_PROCESSING_DEFINITION, &definition_substitutions())?;
        let queue_urls = [QueueName::Fulfilment].into_iter().map(|q| (queue_url(q), q)).collect();
        let tasks = EmbeddedTasks::new(Arc::new(database.clone()), queues.clone(), ORDERS_TABLE, queue_urls);
        tasks.check(&definition)?;
        let location = &config.location;
        let machine = StateMachineArn::new(&location.region, &location.account_id, &location.state_machine)
            .map_err(|e| StackError::Arn(e.to_string()))?;
        let executor = Executor::builder(definition, machine, Arc::new(tasks), Arc::new(database.clone())).build();
        let workflow = EmbeddedWorkflow::new(executor);

        let service =
            OrderService::new(Arc::new(database.clone()), Arc::new(database.clone()), Arc::new(workflow.clone()));
        Ok(EmbeddedStack { database, queues, backups, workflow, service })
    }

    /// Replaces the catalog with `catalog`.
    pub async fn load_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        self.database.replace_catalog(catalog).await
    }

    /// The backup folder.
    pub fn backup_root(&self) -> &Path {
        self.backups.root()
    }
}
