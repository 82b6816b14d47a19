//! The local runner inside `orders serve`: Lambda's event source mappings played in-process. It
//! feeds the stream processor (the embedded change feed, or the orders table's DynamoDB stream) and
//! the backup, fulfilment and import workers (embedded queues, or SQS) with Lambda-shaped events. On the
//! embedded default it also resumes the executions a restart interrupted and drives the workflow's
//! timers; on AWS, Step Functions does that.

use std::sync::Arc;

use orders_core::adapters::aws::AwsStack;
use orders_core::adapters::embedded::{EmbeddedStack, ORDERS_TABLE};
use orders_core::application::OrderService;
use orders_core::lambda::DeadLetters;
use orders_core::ports::{BackupStore, MessageQueue, OrderStore, QueueName, TaskCallbacks, WorkflowEngine};
use orders_workers::aws_stream::DynamoDbStreamPoller;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::FulfilmentWorker;
use orders_workers::import::ImportWorker;
use orders_workers::runner::{QueuePoller, StreamPoller};
use orders_workers::stream::StreamProcessor;

use statemachine::DriverHandle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The name the embedded stream processor keeps its change-feed position under.
pub const STREAM_CONSUMER: &str = "stream-processor";

/// How many orders' change records the embedded stream processor handles at once. The embedded
/// store's reconciles do nothing, so concurrent orders do not contend; their backup jobs and
/// wake-ups share group commits (one at a time, each waited for its own sync, and a 10,000-order
/// import's records took minutes to work through). On AWS it stays one (see `StreamProcessor`).
const EMBEDDED_STREAM_ORDERS_AT_ONCE: usize = 16;

/// The running pipeline; [`Pipeline::stop`] ends it.
pub struct Pipeline {
    shutdown: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
    driver: Option<DriverHandle>,
}

/// What the workers run on, whichever the backend.
struct Ports {
    service: OrderService,
    orders: Arc<dyn OrderStore>,
    queues: Arc<dyn MessageQueue>,
    backups: Arc<dyn BackupStore>,
    callbacks: Arc<dyn TaskCallbacks>,
    workflow: Arc<dyn WorkflowEngine>,
}

impl Ports {
    fn stream_processor(&self, orders_at_once: usize) -> Arc<StreamProcessor> {
        let processor = StreamProcessor::new(
            self.orders.clone(),
            self.queues.clone(),
            self.callbacks.clone(),
            self.workflow.clone(),
        );
        Arc::new(processor.orders_at_once(orders_at_once))
    }

    /// Each queue's poller and the `MaximumConcurrency` of its event source mapping in
    /// infra/template.yaml: how many the embedded pipeline runs at once, as Lambda would.
    fn queue_pollers(&self, source: &EventSource) -> [(QueuePoller, usize); 3] {
        let poller =
            |queue, handler| QueuePoller { queue, queues: self.queues.clone(), handler, source: source.clone() };
        let dead_letters = |queue| DeadLetters::new(self.queues.clone(), queue);
        let fulfilment =
            FulfilmentWorker::new(self.orders.clone(), self.callbacks.clone(), dead_letters(QueueName::FulfilmentDlq));
        [
            (
                poller(
                    QueueName::Backup,
                    Arc::new(BackupWorker::new(self.backups.clone(), dead_letters(QueueName::BackupDlq))),
                ),
                10,
            ),
            (poller(QueueName::Fulfilment, Arc::new(fulfilment)), 10),
            (
                poller(
                    QueueName::Import,
                    Arc::new(ImportWorker::new(self.service.clone(), dead_letters(QueueName::ImportDlq))),
                ),
                5,
            ),
        ]
    }
}

impl Pipeline {
    /// The embedded pipeline: resumes interrupted executions, starts the workflow driver, and polls
    /// the change feed and the queues.
    pub async fn start_embedded(stack: &EmbeddedStack, source: EventSource) -> anyhow::Result<Pipeline> {
        let resumed = stack.workflow.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed running executions");
        }
        let driver = stack.workflow.spawn_driver();
        let ports = Ports {
            service: stack.service.clone(),
            orders: Arc::new(stack.database.clone()),
            queues: stack.queues.clone(),
            backups: stack.backups.clone(),
            callbacks: Arc::new(stack.workflow.clone()),
            workflow: Arc::new(stack.workflow.clone()),
        };
        let (shutdown, stopped) = watch::channel(false);
        let stream = StreamPoller {
            feed: Arc::new(stack.database.clone()),
            handler: ports.stream_processor(EMBEDDED_STREAM_ORDERS_AT_ONCE),
            consumer: STREAM_CONSUMER.into(),
            table: ORDERS_TABLE.into(),
            source: source.clone(),
        };
        let mut pollers = vec![stream.spawn(stopped.clone())];
        pollers.extend(ports.queue_pollers(&source).into_iter().flat_map(|(p, n)| p.spawn_many(n, &stopped)));
        Ok(Pipeline { shutdown, pollers, driver: Some(driver) })
    }

    /// The AWS pipeline: polls the orders table's stream and the SQS queues.
    pub fn start_aws(stack: &AwsStack, source: EventSource) -> Pipeline {
        let ports = Ports {
            service: stack.service.clone(),
            orders: stack.store.clone(),
            queues: stack.queues.clone(),
            backups: stack.backups.clone(),
            callbacks: stack.callbacks.clone(),
            workflow: stack.workflow.clone(),
        };
        let (shutdown, stopped) = watch::channel(false);
        let stream = DynamoDbStreamPoller::new(
            stack.clients.streams.clone(),
            stack.clients.dynamodb.clone(),
            stack.resources.orders_table.clone(),
            source.region.clone(),
            ports.stream_processor(1),
        );
        let mut pollers = vec![stream.spawn(stopped.clone())];
        // One poller per queue here: on AWS, Lambda's event source mappings carry the load, and
        // this runner (`serve --aws-endpoint`) drives emulators, where a 1 s visibility timeout
        // and ten pollers redeliver slow messages into the DLQ.
        pollers.extend(ports.queue_pollers(&source).into_iter().map(|(p, _)| p.spawn(stopped.clone())));
        Pipeline { shutdown, pollers, driver: None }
    }

    /// Stops the pollers (each finishes the batch in hand) and the driver.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for poller in self.pollers {
            let _ = poller.await;
        }
        if let Some(driver) = self.driver {
            driver.shutdown().await;
        }
    }
}
