//! The local runner inside `orders serve`: Lambda's event source mappings played in-process. It
//! feeds the stream processor (the embedded change feed, or the orders table's DynamoDB stream) and
//! the backup, fulfilment and import workers (embedded queues, or SQS) with Lambda-shaped events. On the
//! embedded default it also resumes the executions a restart interrupted and drives the workflow's
//! timers; on AWS, Step Functions does that.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use orders_core::adapters::embedded::ORDERS_TABLE;
use orders_core::lambda::{Backoff, DeadLetters};
use orders_core::ports::{MAX_RECEIVE_WAIT, QueueName};
use orders_core::wiring::{AwsSystem, EmbeddedSystem, Ports};
use orders_workers::aws_stream::DynamoDbStreamPoller;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::FulfilmentWorker;
use orders_workers::import::ImportWorker;
use orders_workers::runner::{QueuePoller, StreamPoller};
use orders_workers::stream::StreamProcessor;

use statemachine::DriverHandle;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The name the embedded stream processor keeps its change-feed position under.
pub use orders_core::adapters::embedded::STREAM_CONSUMER;

/// How many orders' change records the embedded stream processor handles at once. The embedded
/// store's listing refreshes do nothing, so concurrent orders do not contend; their wake-ups share
/// group commits and their backup writes overlap (one at a time, each waited for its own sync, and
/// a 10,000-order import's records took minutes to work through). On AWS it stays one (see
/// `StreamProcessor`).
const EMBEDDED_STREAM_ORDERS_AT_ONCE: usize = 64;

/// Most change records the embedded stream processor takes per round: each round ends with a write
/// of the feed position and waits for its slowest order, so larger rounds share those costs (and
/// the backups' syncs) among more orders. Lambda's `BatchSize` for a DynamoDB stream goes up to
/// 10,000; AWS's default is 100.
const EMBEDDED_STREAM_BATCH: usize = 1_000;

/// The running pipeline; [`Pipeline::stop`] ends it.
pub struct Pipeline {
    shutdown: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
    driver: Option<DriverHandle>,
    stream_waker: Option<Arc<Notify>>,
}

/// Builds the workers over the ports, whichever the backend.
struct Workers<'a> {
    ports: &'a Ports,
    /// How the fulfilment worker paces the tasks that fail for a passing reason.
    fulfilment_backoff: Backoff,
}

impl Workers<'_> {
    fn stream_processor(&self, orders_at_once: usize) -> Arc<StreamProcessor> {
        let processor = StreamProcessor::new(self.ports.change_reactions());
        Arc::new(processor.orders_at_once(orders_at_once))
    }

    /// Each queue's poller and the `MaximumConcurrency` of its event source mapping in
    /// infra/template.yaml: how many the embedded pipeline runs at once, as Lambda would.
    fn queue_pollers(&self, source: &EventSource) -> [(QueuePoller, usize); 3] {
        let ports = self.ports;
        let poller =
            |queue, handler| QueuePoller { queue, queues: ports.queues.clone(), handler, source: source.clone() };
        let dead_letters = |queue| DeadLetters::new(ports.queues.clone(), queue);
        let fulfilment = FulfilmentWorker::new(
            ports.workflow_tasks(),
            dead_letters(QueueName::FulfilmentDlq),
            self.fulfilment_backoff,
        );
        let import = ImportWorker::new(ports.order_service(), dead_letters(QueueName::ImportDlq));
        [
            (
                poller(
                    QueueName::Backup,
                    Arc::new(BackupWorker::new(ports.backup_service(), dead_letters(QueueName::BackupDlq))),
                ),
                10,
            ),
            (poller(QueueName::Fulfilment, Arc::new(fulfilment)), 10),
            (poller(QueueName::Import, Arc::new(import)), 5),
        ]
    }
}

impl Pipeline {
    /// The embedded pipeline: starts the workflow driver, resumes interrupted executions, and polls
    /// the change feed and the queues. Its tasks, and the workflow's executions from then on, run
    /// on `runtime`.
    pub async fn start_embedded(
        system: &EmbeddedSystem,
        source: EventSource,
        fulfilment_backoff: Backoff,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Pipeline> {
        // The driver first: the executions it resumes, and every later one, advance on its runtime.
        let driver = {
            let _on = runtime.enter();
            system.workflow.spawn_driver()
        };
        let resumed = system.workflow.resume().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed running executions");
        }
        let _on = runtime.enter();
        let workers = Workers { ports: &system.ports, fulfilment_backoff };
        let feed = system.ports.changes.clone().context("the embedded stack has a change feed")?;
        let (shutdown, stopped) = watch::channel(false);
        let stream = StreamPoller {
            feed,
            handler: workers.stream_processor(EMBEDDED_STREAM_ORDERS_AT_ONCE),
            consumer: STREAM_CONSUMER.into(),
            table: ORDERS_TABLE.into(),
            source: source.clone(),
            batch_size: EMBEDDED_STREAM_BATCH,
        };
        let mut pollers = vec![stream.spawn(stopped.clone())];
        pollers.extend(workers.queue_pollers(&source).into_iter().flat_map(|(p, n)| p.spawn_many(n, &stopped)));
        Ok(Pipeline { shutdown, pollers, driver: Some(driver), stream_waker: None })
    }

    /// The AWS pipeline: polls the orders table's stream and the SQS queues.
    pub fn start_aws(system: &AwsSystem, source: EventSource, fulfilment_backoff: Backoff) -> Pipeline {
        let workers = Workers { ports: &system.ports, fulfilment_backoff };
        let (shutdown, stopped) = watch::channel(false);
        let stream = DynamoDbStreamPoller::new(
            system.clients.streams.clone(),
            system.clients.dynamodb.clone(),
            system.resources.orders_table.clone(),
            source.region.clone(),
            workers.stream_processor(1),
        );
        let stream_waker = Some(stream.waker());
        let mut pollers = vec![stream.spawn(stopped.clone())];
        // One poller per queue here: on AWS, Lambda's event source mappings carry the load, and
        // this runner (`serve --aws-endpoint`) drives emulators, where a 1 s visibility timeout
        // and ten pollers redeliver slow messages into the DLQ. Each long-polls, as Lambda does:
        // every request is billed, and an idle queue then costs 3 requests a minute.
        pollers.extend(
            workers
                .queue_pollers(&source)
                .into_iter()
                .map(|(p, _)| p.spawn_long_polling(MAX_RECEIVE_WAIT, stopped.clone())),
        );
        Pipeline { shutdown, pollers, driver: None, stream_waker }
    }

    /// What wakes the stream reader when this process has written to the orders table (AWS only:
    /// the embedded change feed is read every 100 ms, at no cost).
    pub fn stream_waker(&self) -> Option<Arc<Notify>> {
        self.stream_waker.clone()
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

/// After an API request that may have written the orders table, wakes the stream reader: it backs
/// off while the stream is idle (DynamoDB Streams has no long poll), and the change a client just
/// made should reach its backup and its workflow wake-up at once, not after the reader's pause.
pub async fn wake_stream_after_writes(State(wake): State<Arc<Notify>>, request: Request, next: Next) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        wake.notify_one();
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use axum::routing::get;
    use futures::FutureExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(app: &Router, method: Method, path: &str) {
        let request = axum::http::Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }

    #[tokio::test]
    async fn the_stream_reader_is_woken_by_writes_that_succeeded_only() {
        // Given an API behind the wake-up layer
        let wake = Arc::new(Notify::new());
        let app = Router::new()
            .route("/orders", get(|| async { StatusCode::OK }).post(|| async { StatusCode::CREATED }))
            .route("/refused", axum::routing::post(|| async { StatusCode::CONFLICT }))
            .layer(axum::middleware::from_fn_with_state(wake.clone(), wake_stream_after_writes));
        let woken = || wake.notified().now_or_never().is_some();
        // When it is read, or a write is refused, then the reader is not woken
        call(&app, Method::GET, "/orders").await;
        call(&app, Method::POST, "/refused").await;
        assert!(!woken());
        // And when a write succeeds, it is
        call(&app, Method::POST, "/orders").await;
        assert!(woken());
    }
}
