//! The backend an operator command works on: the embedded data dir (safe to use while
//! `orders serve` runs on it), or AWS / an AWS-compatible endpoint. Commands see only ports.

use std::sync::Arc;

use anyhow::Context;
use orders_core::adapters::embedded::{EmbeddedConfig, EmbeddedStack, QueueSettings, WorkflowLocation};
use orders_core::ports::{BackupStore, CatalogStore, MessageQueue, OrderStore, WorkflowEngine};

use crate::config::TargetArgs;

/// The ports a command needs.
pub struct Backend {
    /// The queues.
    pub queues: Arc<dyn MessageQueue>,
    /// The catalog.
    pub catalog: Arc<dyn CatalogStore>,
    /// The orders.
    pub orders: Arc<dyn OrderStore>,
    /// The backups.
    pub backups: Arc<dyn BackupStore>,
    /// The workflow engine.
    pub workflow: Arc<dyn WorkflowEngine>,
}

impl Backend {
    /// Opens the backend `target` names.
    pub async fn open(target: &TargetArgs) -> anyhow::Result<Backend> {
        if target.backend.uses_aws() {
            // Operator commands only look the deployment up: they never change its settings.
            let stack = crate::setup::existing_aws_stack(&target.backend, &target.account_id, &target.region).await?;
            Ok(Backend {
                queues: stack.queues.clone(),
                catalog: stack.store.clone(),
                orders: stack.store.clone(),
                backups: stack.backups.clone(),
                workflow: stack.workflow.clone(),
            })
        } else {
            let data_dir = &target.store.data_dir;
            let config = EmbeddedConfig {
                data_dir: data_dir.clone(),
                location: WorkflowLocation {
                    region: target.region.clone(),
                    account_id: target.account_id.clone(),
                    state_machine: "OrderProcessing".into(),
                },
                queue_settings: QueueSettings::default(),
            };
            let stack = EmbeddedStack::open(&config)
                .await
                .with_context(|| format!("cannot open the data in {}", data_dir.display()))?;
            Ok(Backend {
                queues: stack.queues.clone(),
                catalog: Arc::new(stack.database.clone()),
                orders: Arc::new(stack.database.clone()),
                backups: stack.backups.clone(),
                workflow: Arc::new(stack.workflow.clone()),
            })
        }
    }
}
