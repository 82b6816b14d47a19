//! The embedded default: every port on one SQLite file under the data directory.

mod backups;
mod catalog;
mod changes;
mod db;
mod orders;
mod queues;
mod workflow;

pub use backups::FolderBackupStore;
pub use db::Database;
pub use queues::{EmbeddedQueues, QueueSettings};
pub use workflow::EmbeddedWorkflow;

use std::path::Path;
use std::sync::Arc;

use crate::domain::ProductCatalog;
use crate::ports::{CatalogStore, StoreError};
use crate::service::OrderService;

/// Name of the SQLite file inside the data directory.
pub const DATABASE_FILE: &str = "orders.sqlite3";

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

impl WorkflowLocation {
    /// `arn:aws:states:{region}:{account}:stateMachine:{name}`.
    pub fn state_machine_arn(&self) -> String {
        format!("arn:aws:states:{}:{}:stateMachine:{}", self.region, self.account_id, self.state_machine)
    }
}

/// The embedded stack: one database and the adapters over it.
#[derive(Clone)]
pub struct EmbeddedStack {
    /// The shared database.
    pub database: Database,
    /// The order use cases over the embedded adapters.
    pub service: OrderService,
}

impl EmbeddedStack {
    /// Opens (creating if needed) the database in `data_dir`, applies migrations, and puts the demo
    /// catalog in place if the catalog is empty.
    pub async fn open(data_dir: &Path, workflow: WorkflowLocation) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Internal(format!("cannot create data dir {}: {e}", data_dir.display())))?;
        let database = Database::open(&data_dir.join(DATABASE_FILE))?;
        database.seed_catalog_if_empty(&ProductCatalog::demo()).await?;
        let engine = EmbeddedWorkflow::new(database.clone(), workflow.state_machine_arn());
        let service = OrderService::new(Arc::new(database.clone()), Arc::new(database.clone()), Arc::new(engine));
        Ok(EmbeddedStack { database, service })
    }

    /// Replaces the catalog with the one in `catalog`.
    pub async fn load_catalog(&self, catalog: &ProductCatalog) -> Result<(), StoreError> {
        self.database.replace_catalog(catalog).await
    }
}
