//! The backend an operator command works on: the embedded data dir (safe to use while
//! `orders serve` runs on it), or AWS / an AWS-compatible endpoint. Commands see only ports.

use anyhow::Context;
use orders_core::adapters::embedded::{EmbeddedConfig, QueueSettings, WorkflowLocation};
use orders_core::wiring::{Ports, wire_embedded};

use crate::config::TargetArgs;

/// The ports of the backend `target` names.
pub async fn open(target: &TargetArgs) -> anyhow::Result<Ports> {
    if target.backend.uses_aws() {
        // Operator commands only look the deployment up: they never change its settings.
        let system = crate::setup::existing_aws_system(&target.backend, &target.account_id, &target.region).await?;
        Ok(system.ports)
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
        let system =
            wire_embedded(&config).await.with_context(|| format!("cannot open the data in {}", data_dir.display()))?;
        Ok(system.ports)
    }
}
