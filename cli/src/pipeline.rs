//! The local runner inside `orders serve`: Lambda's event source mappings played in-process. It
//! resumes the executions a restart interrupted, drives the workflow's timers, and feeds the stream
//! processor (change feed) and the backup and fulfilment workers (queues) with Lambda-shaped events.

use std::sync::Arc;

use orders_core::adapters::embedded::{EmbeddedStack, ORDERS_TABLE};
use orders_core::ports::QueueName;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::FulfilmentWorker;
use orders_workers::runner::{QueuePoller, StreamPoller};
use orders_workers::stream::StreamProcessor;
use statemachine::DriverHandle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running pipeline; [`Pipeline::stop`] ends it.
pub struct Pipeline {
    shutdown: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
    driver: DriverHandle,
}

impl Pipeline {
    /// Resumes interrupted executions and starts the driver and the pollers.
    pub async fn start(stack: &EmbeddedStack, source: EventSource) -> anyhow::Result<Pipeline> {
        let resumed = stack.workflow.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed running executions");
        }
        let driver = stack.workflow.spawn_driver();
        let (shutdown, stopped) = watch::channel(false);
        let callbacks = Arc::new(stack.workflow.clone());
        let stream = StreamPoller {
            feed: Arc::new(stack.database.clone()),
            handler: Arc::new(StreamProcessor::new(
                Arc::new(stack.database.clone()),
                stack.queues.clone(),
                callbacks.clone(),
            )),
            consumer: "stream-processor".into(),
            table: ORDERS_TABLE.into(),
            source: source.clone(),
        };
        let backup = QueuePoller {
            queue: QueueName::Backup,
            queues: stack.queues.clone(),
            handler: Arc::new(BackupWorker::new(stack.backups.clone())),
            source: source.clone(),
        };
        let fulfilment = QueuePoller {
            queue: QueueName::Fulfilment,
            queues: stack.queues.clone(),
            handler: Arc::new(FulfilmentWorker::new(Arc::new(stack.database.clone()), callbacks)),
            source,
        };
        let pollers = vec![stream.spawn(stopped.clone()), backup.spawn(stopped.clone()), fulfilment.spawn(stopped)];
        Ok(Pipeline { shutdown, pollers, driver })
    }

    /// Stops the pollers (each finishes the batch in hand) and the driver.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for poller in self.pollers {
            let _ = poller.await;
        }
        self.driver.shutdown().await;
    }
}
