//! One conformance suite for the ports, run against the embedded adapters (SQLite, a folder, the
//! in-process executor) and against the AWS adapters on moto (DynamoDB, SQS, S3, Step Functions).
//! Every scenario in `suite.rs` runs once per backend; each AWS run starts its own moto.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../tests/support/moto.rs"]
mod moto;
mod suite;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use orders_core::adapters::aws::setup::{self, SetupOptions};
use orders_core::adapters::aws::{AwsClients, AwsResources, S3BackupStore};
use orders_core::adapters::embedded::{EmbeddedConfig, ORDER_PROCESSING_DEFINITION, QueueSettings, WorkflowLocation};
use orders_core::ports::{
    BackupStore, CatalogStore, ChangeFeed, CreateLookups, MessageQueue, OrderStore, StockLedger, TaskCallbacks,
    WorkflowEngine,
};
use orders_core::wiring::{wire_aws, wire_embedded};

/// Visibility timeout and maxReceiveCount every backend is set up with.
pub const VISIBILITY: Duration = Duration::from_secs(1);
pub const MAX_RECEIVE_COUNT: u32 = 2;

/// The ports of one backend, and whatever must stay alive with them.
pub struct Ports {
    pub orders: Arc<dyn OrderStore>,
    pub catalog: Arc<dyn CatalogStore>,
    pub lookups: Arc<dyn CreateLookups>,
    pub stock: Arc<dyn StockLedger>,
    pub queues: Arc<dyn MessageQueue>,
    pub backups: Arc<dyn BackupStore>,
    pub workflow: Arc<dyn WorkflowEngine>,
    pub callbacks: Arc<dyn TaskCallbacks>,
    /// Whether a Catch's `$.error` carries the `Cause` a SendTaskFailure gave (moto 5.2.5 keeps
    /// only the error name; Step Functions and the embedded engine keep both).
    pub caught_errors_keep_their_cause: bool,
    /// Where a scenario reads the workflow's wait stored on an order, which no port shows.
    pub stored_waits: StoredWaits,
    _alive: Box<dyn Any + Send>,
}

/// The workflow's wait as stored on an order: the last change's image (embedded), the item itself
/// (DynamoDB).
pub enum StoredWaits {
    Feed(Arc<dyn ChangeFeed>),
    Table { client: aws_sdk_dynamodb::Client, table: String },
}

impl StoredWaits {
    /// The task token stored on the order, if any.
    pub async fn task_token(&self, order_id: orders_core::domain::OrderId) -> Option<String> {
        match self {
            StoredWaits::Feed(changes) => {
                let changes = changes.changes_after(0, 10_000).await.unwrap();
                let last = changes.iter().rev().find(|change| {
                    change.new.as_ref().or(change.old.as_ref()).is_some_and(|image| image.order.order_id == order_id)
                });
                last.and_then(|change| change.new.as_ref()?.awaiting.as_ref()).map(|wait| wait.task_token.clone())
            }
            StoredWaits::Table { client, table } => {
                let key = aws_sdk_dynamodb::types::AttributeValue::S(order_id.to_string());
                let item = client.get_item().table_name(table).key("order_id", key).send().await.unwrap().item;
                item.and_then(|item| item.get("task_token")?.as_s().ok().cloned())
            }
        }
    }
}

async fn embedded() -> Ports {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        data_dir: dir.path().to_owned(),
        location: WorkflowLocation::default(),
        queue_settings: QueueSettings { visibility_timeout: VISIBILITY, max_receive_count: MAX_RECEIVE_COUNT },
    };
    let system = wire_embedded(&config).await.unwrap();
    let driver = system.workflow.spawn_driver();
    let ports = system.ports;
    Ports {
        orders: ports.orders,
        catalog: ports.catalog,
        lookups: ports.create_lookups,
        stock: ports.stock,
        queues: ports.queues,
        backups: ports.backups,
        workflow: ports.workflow,
        callbacks: ports.callbacks,
        caught_errors_keep_their_cause: true,
        stored_waits: StoredWaits::Feed(ports.changes.expect("the embedded default reads its own change feed")),
        _alive: Box::new((dir, driver)),
    }
}

async fn aws(moto: moto::Moto) -> Ports {
    let clients = AwsClients::for_emulator(&moto.endpoint(), "us-east-1").await;
    let mut resources = AwsResources::named("conformance", "123456789012", "us-east-1");
    let options = SetupOptions {
        visibility_timeout_seconds: VISIBILITY.as_secs() as u32,
        max_receive_count: MAX_RECEIVE_COUNT,
        definition: ORDER_PROCESSING_DEFINITION.to_owned(),
        role_arn: "arn:aws:iam::123456789012:role/conformance".into(),
    };
    setup::ensure(&clients, &mut resources, &options).await.unwrap();
    // One key per listing page, so that listing backups crosses pages with a few objects.
    let backups =
        Arc::new(S3BackupStore::new(clients.s3.clone(), resources.backup_bucket.clone()).listing_page_size(1));
    let stored_waits = StoredWaits::Table { client: clients.dynamodb.clone(), table: resources.orders_table.clone() };
    let ports = wire_aws(clients, resources).ports;
    Ports {
        orders: ports.orders,
        catalog: ports.catalog,
        lookups: ports.create_lookups,
        stock: ports.stock,
        queues: ports.queues,
        backups,
        workflow: ports.workflow,
        callbacks: ports.callbacks,
        caught_errors_keep_their_cause: false,
        stored_waits,
        _alive: Box::new(moto),
    }
}

macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    crate::suite::$scenario(&crate::embedded().await).await;
                }
            )*
        }
        mod aws_backend_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    let moto = crate::moto::Moto::start().await;
                    crate::suite::$scenario(&crate::aws(moto).await).await;
                }
            )*
        }
    };
}

conformance!(
    orders_are_created_read_and_deleted,
    idempotency_records_replay_and_refuse,
    status_changes_follow_the_table_and_versions,
    listing_pages_cursors_filters_and_totals,
    orders_are_listed_at_the_places_their_lookups_found_even_when_creates_race,
    status_waits_are_kept_on_existing_orders_only,
    a_failed_processing_fails_the_order_with_its_reason_and_no_wait,
    the_catalog_is_replaced_whole_and_prices_known_products,
    queues_hide_received_messages_and_delete_them,
    a_batch_delete_removes_the_messages_it_names_and_skips_stale_handles,
    a_waiting_receive_hands_over_a_message_sent_while_it_waits,
    messages_received_too_often_move_to_the_dead_letter_queue,
    backups_are_written_once,
    workflow_executions_start_once_per_name,
    workflow_executions_are_ensured_once_per_name,
    a_waiting_execution_shows_its_history,
    a_failed_task_fails_the_order_with_its_cause,
    a_client_failing_an_order_gives_the_reason,
    orders_are_restored_once_and_backups_are_listed,
    products_are_listed_read_and_their_stock_set_on_their_version,
    reservations_hold_all_lines_or_none_once_per_order,
    a_release_gives_units_back_once_and_a_delivery_consumes_them,
    concurrent_reservations_never_take_more_than_the_stock,
    an_order_of_a_hundred_tracked_lines_is_reserved_and_released_whole,
    a_hundred_line_order_short_on_its_last_line_holds_nothing,
    processing_begins_with_the_reservation_the_status_and_the_wait_at_once,
    processing_an_order_of_more_lines_than_one_transaction_holds_begins_whole,
    a_delivery_consumes_the_reserved_stock_in_its_own_write,
);
