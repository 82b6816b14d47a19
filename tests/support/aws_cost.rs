//! Orders from `POST /orders` to `delivered` through the AWS adapters on moto, counting every AWS
//! request by who makes it: the AWS cost benchmark (`benches/aws_cost.rs`,
//! `docs/benchmarks/aws-cost.md`) and the test that guards its counts (`tests/aws_cost.rs`).
//!
//! The handlers run as Lambda runs them, each function with its own SDK clients:
//! - `api`: the axum Router (what `lambda_http` runs), called for the create and for the two status
//!   changes the client makes (shipped, delivered);
//! - `stream`: the stream processor, handed the orders table's stream records as Lambda's events;
//! - `fulfilment` and `backup`: the SQS workers, handed their queues' messages as Lambda's events.
//!
//! What Lambda's event source mappings do (read the stream, receive and delete queue messages) is
//! played by the local runner's pollers, on clients of their own, so their requests are counted
//! apart. Step Functions runs the workflow inside moto: its service integrations (the
//! `dynamodb:updateItem` and `sqs:sendMessage` it makes itself) and its state transitions are read
//! from each execution's history afterwards, with uncounted clients, as is everything the harness
//! looks at to know when a stage is done.
//!
//! Stages are driven one after the other for all orders of a run (created → waiting for
//! `delivered` → shipped → delivered → execution succeeded), each until everything is idle, so
//! one order's counts do not depend on timing.
//!
//! Include it after `moto.rs` and `deployment.rs` (it uses `super::deployment`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use orders_core::adapters::aws::{AwsClients, RequestCounter, item_size};
use orders_core::application::ListOrders;
use orders_core::domain::{OrderId, OrderStatus, ProductCatalog};
use orders_core::lambda::DeadLetters;
use orders_core::lambda::SqsHandler;
use orders_core::ports::{ExecutionStatus, ListFilter, QueueName};
use orders_core::wiring::wire_aws;
use orders_ingest::http::{ApiKeys, AppState, router};
use orders_testkit::eventually_every;
use orders_workers::aws_stream::DynamoDbStreamPoller;
use orders_workers::backup::BackupWorker;
use orders_workers::events::EventSource;
use orders_workers::fulfilment::{DEPLOYED_BACKOFF, FulfilmentWorker};
use orders_workers::runner::{QueuePoller, StreamRound};
use orders_workers::stream::{StreamHandler, StreamProcessor};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::deployment::Deployment;

const API_KEY: &str = "aws-cost-benchmark-key-0123456789";
/// How long one stage may take before the run is abandoned.
const STAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// The pause after a round of the event source mappings that found nothing to do.
const IDLE_PAUSE: Duration = Duration::from_millis(25);

/// The Lambda functions whose code makes requests, in table order.
pub const FUNCTIONS: [&str; 4] = ["api", "stream", "fulfilment", "backup"];

/// (service, operation) → requests.
pub type Counts = BTreeMap<(String, String), u64>;

/// What a run of `orders` orders cost, in total (divide by `orders` for one order).
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Orders taken from created to delivered.
    pub orders: u64,
    /// Requests our code sent, by function.
    pub by_function: BTreeMap<&'static str, Counts>,
    /// Requests the stand-in for Lambda's event source mappings sent (stream reads, queue
    /// receives and deletes).
    pub pollers: Counts,
    /// Requests Step Functions made itself (service integrations, from the `TaskScheduled`
    /// events): `dynamodb:updateItem`, `sqs:sendMessage.waitForTaskToken`, …
    pub workflow: BTreeMap<String, u64>,
    /// States entered, from the executions' histories (what Standard workflows bill).
    pub transitions: u64,
    /// States entered, by state name.
    pub states: BTreeMap<String, u64>,
    /// Lambda invocations by function (API requests; batches handed to a worker).
    pub invocations: BTreeMap<&'static str, u64>,
    /// Records or messages handed to each worker.
    pub deliveries: BTreeMap<&'static str, u64>,
    /// Worker batches that reported a failure (redeliveries would inflate the counts).
    pub failed_batches: u64,
    /// Time spent in each function's handler, all invocations together (on moto, on this
    /// machine: a rough figure for Lambda's billed duration, not a measurement of it).
    pub handler_time: BTreeMap<&'static str, Duration>,
    /// The DynamoDB size of one delivered order item (bytes, by DynamoDB's sizing rules), and how
    /// much of it is the stored task token.
    pub order_item_bytes: u64,
    /// The task token's length in that item.
    pub task_token_bytes: u64,
}

impl Measurement {
    /// All requests our code sent.
    pub fn code_requests(&self) -> u64 {
        self.by_function.values().flat_map(|c| c.values()).sum()
    }

    /// All requests the workflow sent itself.
    pub fn workflow_requests(&self) -> u64 {
        self.workflow.values().sum()
    }

    /// Our code's requests per (service, operation), summed over the functions.
    pub fn code_by_operation(&self) -> Counts {
        let mut all = Counts::new();
        for counts in self.by_function.values() {
            for (key, n) in counts {
                *all.entry(key.clone()).or_default() += n;
            }
        }
        all
    }
}

/// A deployment on moto with the four functions and the event source mappings' stand-ins.
pub struct Pipeline {
    /// moto and the uncounted stack the harness looks through.
    pub deployment: Deployment,
    counters: BTreeMap<&'static str, RequestCounter>,
    pollers_counter: RequestCounter,
    api: axum::Router,
    timers: BTreeMap<&'static str, Timer>,
    stream: DynamoDbStreamPoller,
    fulfilment: QueuePoller,
    backup: QueuePoller,
    measurement: Measurement,
}

impl Pipeline {
    /// Starts moto, sets a deployment up (with the demo catalog) and wires the functions to it.
    pub async fn start() -> Pipeline {
        let deployment = Deployment::start().await;
        deployment.system.ports.catalog.replace_catalog(&ProductCatalog::demo()).await.unwrap();
        let resources = deployment.system.resources.clone();
        let plain = &deployment.system.clients;
        let counters: BTreeMap<&'static str, RequestCounter> =
            FUNCTIONS.iter().map(|f| (*f, RequestCounter::new())).collect();
        let system = |function: &str| wire_aws(plain.counted(&counters[function]), resources.clone());

        let timers: BTreeMap<&'static str, Timer> = FUNCTIONS.iter().map(|f| (*f, Timer::default())).collect();
        let api = system("api");
        let keys = ApiKeys::from_keys([API_KEY]).unwrap();
        let api = router(AppState {
            service: api.ports.order_service(),
            products: api.ports.product_service(),
            keys: Arc::new(keys),
            metrics: None,
        });

        let source = EventSource { region: "us-east-1".into(), account_id: "123456789012".into() };
        let pollers_counter = RequestCounter::new();
        let esm: AwsClients = plain.counted(&pollers_counter);
        let esm_system = wire_aws(esm.clone(), resources.clone());

        let stream = system("stream");
        let processor = StreamProcessor::new(stream.ports.change_reactions());
        let stream = DynamoDbStreamPoller::new(
            esm.streams.clone(),
            esm.dynamodb.clone(),
            resources.orders_table.clone(),
            "us-east-1",
            Arc::new(Timed { inner: processor, timer: timers["stream"].clone() }),
        );

        let fulfilment = system("fulfilment");
        let worker = FulfilmentWorker::new(
            fulfilment.ports.workflow_tasks(),
            DeadLetters::new(fulfilment.ports.queues.clone(), QueueName::FulfilmentDlq),
            DEPLOYED_BACKOFF,
        );
        let fulfilment = QueuePoller {
            queue: QueueName::Fulfilment,
            queues: esm_system.ports.queues.clone(),
            handler: Arc::new(Timed { inner: worker, timer: timers["fulfilment"].clone() }),
            source: source.clone(),
        };

        let backup = system("backup");
        let worker = BackupWorker::new(
            backup.ports.backup_service(),
            DeadLetters::new(backup.ports.queues.clone(), QueueName::BackupDlq),
        );
        let backup = QueuePoller {
            queue: QueueName::Backup,
            queues: esm_system.ports.queues.clone(),
            handler: Arc::new(Timed { inner: worker, timer: timers["backup"].clone() }),
            source,
        };

        Pipeline {
            deployment,
            counters,
            pollers_counter,
            api,
            timers,
            stream,
            fulfilment,
            backup,
            measurement: Measurement::default(),
        }
    }

    /// Takes `orders` orders from `POST /orders` to `delivered` and returns what they cost.
    /// Call it once per pipeline.
    pub async fn run(mut self, orders: usize) -> Measurement {
        for counter in self.counters.values().chain([&self.pollers_counter]) {
            counter.reset();
        }
        self.measurement = Measurement { orders: orders as u64, ..Measurement::default() };

        let mut ids = Vec::with_capacity(orders);
        for _ in 0..orders {
            let order = json!({"customer_id": "CUST001", "items": [
                {"product_id": "PROD001", "quantity": 2}, {"product_id": "PROD002", "quantity": 1}]});
            let (status, body) = self.call("POST", "/orders", Some(order)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            ids.push(body["order_id"].as_str().unwrap().parse::<OrderId>().unwrap());
        }
        self.settle("waiting for delivered", &ids, Stage::Awaiting("delivered")).await;
        self.check_listing(OrderStatus::Processing, orders as u64).await;
        for id in &ids {
            let (status, body) =
                self.call("PUT", &format!("/orders/{id}/status"), Some(json!({"status": "shipped"}))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // Shipping does not wake the workflow: this stage ends when the shipped changes are handled.
        self.settle("shipped, still waiting for delivered", &ids, Stage::Awaiting("delivered")).await;
        self.check_listing(OrderStatus::Shipped, orders as u64).await;
        for id in &ids {
            let path = format!("/orders/{id}/status");
            let (status, body) = self.call("PUT", &path, Some(json!({"status": "delivered"}))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        self.settle("the executions' success", &ids, Stage::Succeeded).await;

        let mut measurement = std::mem::take(&mut self.measurement);
        for (function, counter) in &self.counters {
            measurement.by_function.insert(function, counter.snapshot());
        }
        measurement.pollers = self.pollers_counter.snapshot();
        for (function, timer) in &self.timers {
            measurement.handler_time.insert(function, timer.total());
        }
        for id in &ids {
            self.read_history(*id, &mut measurement).await;
        }
        self.measure_item(ids[0], &mut measurement).await;
        self.check_listing(OrderStatus::Delivered, orders as u64).await;
        measurement
    }

    /// The listing counts every order under `status` and none under another (the workflow's own
    /// status write, processing, has its listing refreshed by the stream function; the API's are counted in
    /// their own transactions). Read with the uncounted clients.
    async fn check_listing(&self, status: OrderStatus, orders: u64) {
        let service = &self.deployment.system.ports.order_service();
        let all = [OrderStatus::Pending, OrderStatus::Processing, OrderStatus::Shipped, OrderStatus::Delivered];
        for listed in all {
            let expected = if listed == status { orders } else { 0 };
            let filter = ListFilter { status: Some(listed), customer_id: None };
            let listing = service.list_orders(ListOrders { filter, ..ListOrders::default() }).await.unwrap();
            assert_eq!(listing.total, expected, "orders listed as {listed}");
        }
    }

    /// One API request through the Router, as API Gateway hands it to the `api` function.
    async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        *self.measurement.invocations.entry("api").or_default() += 1;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", API_KEY)
            .header("content-type", "application/json")
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
            .unwrap();
        let started = Instant::now();
        let response = self.api.clone().oneshot(request).await.unwrap();
        self.timers["api"].add(started.elapsed());
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// One round of every event source mapping; whether anything was handed over.
    async fn round(&mut self) -> bool {
        let mut worked = false;
        match self.stream.poll_once().await.expect("the stream can be read") {
            StreamRound::Idle => {}
            StreamRound::Processed(records) => {
                worked = true;
                *self.measurement.invocations.entry("stream").or_default() += 1;
                *self.measurement.deliveries.entry("stream").or_default() += records as u64;
            }
            StreamRound::Failed => {
                worked = true;
                self.measurement.failed_batches += 1;
            }
        }
        for (name, poller) in [("fulfilment", &self.fulfilment), ("backup", &self.backup)] {
            let handed = poller.poll_once().await.expect("the queue can be polled");
            if handed > 0 {
                worked = true;
                *self.measurement.invocations.entry(name).or_default() += 1;
                *self.measurement.deliveries.entry(name).or_default() += handed as u64;
            }
        }
        worked
    }

    /// Runs rounds until every order reached `stage` and a round finds nothing to do
    /// ([`STAGE_TIMEOUT`] at most). A round that handed work over is followed by the next at once;
    /// only an idle one pauses ([`IDLE_PAUSE`]) for the workflow in moto to move on. That cadence
    /// shapes the batches and the poller requests measured, so the wait keeps it.
    async fn settle(&mut self, what: &str, ids: &[OrderId], stage: Stage) {
        let deadline = tokio::time::Instant::now() + STAGE_TIMEOUT;
        eventually_every(STAGE_TIMEOUT, IDLE_PAUSE, format!("the orders to reach {what}"), async || {
            while self.round().await {
                if tokio::time::Instant::now() >= deadline {
                    return Err("the rounds still hand work over");
                }
            }
            if !self.reached(ids, stage).await {
                return Err("not every order is there");
            }
            if self.round().await { Err("a round found more to do") } else { Ok(()) }
        })
        .await;
    }

    /// Whether every order reached `stage` (read with the uncounted clients).
    async fn reached(&self, ids: &[OrderId], stage: Stage) -> bool {
        let system = &self.deployment.system;
        match stage {
            Stage::Awaiting(status) => {
                let mut awaiting = BTreeMap::new();
                for item in self.deployment.scan_all(&system.resources.orders_table).await {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    if let Some(id) = text("order_id") {
                        awaiting.insert(id, text("awaiting_status"));
                    }
                }
                ids.iter().all(|id| awaiting.get(&id.to_string()).is_some_and(|a| a.as_deref() == Some(status)))
            }
            Stage::Succeeded => {
                for id in ids {
                    let arn = system.ports.workflow.execution_arn(&id.to_string());
                    let described = system.ports.workflow.describe_execution(&arn).await.unwrap();
                    if described.is_none_or(|d| d.status != ExecutionStatus::Succeeded) {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// Adds one execution's states entered and service integrations to `measurement`.
    async fn read_history(&self, id: OrderId, measurement: &mut Measurement) {
        let system = &self.deployment.system;
        let arn = system.ports.workflow.execution_arn(&id.to_string());
        let mut token = None;
        loop {
            let page = system
                .clients
                .sfn
                .get_execution_history()
                .execution_arn(arn.as_str())
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            for event in page.events() {
                let kind = event.r#type().as_str();
                if kind.ends_with("StateEntered") {
                    measurement.transitions += 1;
                    let state = event.state_entered_event_details().map(|d| d.name().to_owned()).unwrap_or_default();
                    *measurement.states.entry(state).or_default() += 1;
                }
                if let Some(task) = event.task_scheduled_event_details() {
                    let call = format!("{}:{}", task.resource_type(), task.resource());
                    *measurement.workflow.entry(call).or_default() += 1;
                }
            }
            token = page.next_token;
            if token.is_none() {
                return;
            }
        }
    }

    /// The stored size of a delivered order's item, by DynamoDB's item-size rules.
    async fn measure_item(&self, id: OrderId, measurement: &mut Measurement) {
        let system = &self.deployment.system;
        let page = system.clients.dynamodb.scan().table_name(&system.resources.orders_table).send().await.unwrap();
        let id = id.to_string();
        let item = page
            .items()
            .iter()
            .find(|item| item.get("order_id").and_then(|v| v.as_s().ok()) == Some(&id))
            .expect("the order is there");
        measurement.order_item_bytes = item_size(item);
        measurement.task_token_bytes =
            item.get("task_token").and_then(|v| v.as_s().ok()).map(|t| t.len() as u64).unwrap_or_default();
    }
}

/// Time spent in one function's handler.
#[derive(Clone, Default)]
struct Timer(Arc<Mutex<Duration>>);

impl Timer {
    fn add(&self, elapsed: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += elapsed;
    }

    fn total(&self) -> Duration {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handler whose time is added to a [`Timer`].
struct Timed<H> {
    inner: H,
    timer: Timer,
}

#[async_trait]
impl<H: SqsHandler> SqsHandler for Timed<H> {
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let started = Instant::now();
        let response = self.inner.handle(event).await;
        self.timer.add(started.elapsed());
        response
    }
}

#[async_trait]
impl<H: StreamHandler> StreamHandler for Timed<H> {
    async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let started = Instant::now();
        let response = self.inner.handle(event).await;
        self.timer.add(started.elapsed());
        response
    }
}

#[derive(Clone, Copy)]
enum Stage {
    /// Every order's workflow waits for this status (its token is stored on the order).
    Awaiting(&'static str),
    /// Every execution succeeded.
    Succeeded,
}
