//! `orders serve`: wires the ports (embedded data dir, or AWS / an AWS-compatible endpoint), loads the keys (and a catalog file, if given), starts the
//! pipeline (workflow driver and workers), serves the API (`http_server`: timeouts, connection cap)
//! until Ctrl-C or SIGTERM, then finishes the requests in flight, stops the pipeline and exits.

use std::sync::Arc;

use anyhow::Context;
use chrono::TimeDelta;
use orders_core::adapters::embedded::{Database, EmbeddedConfig, QueueSettings, Retention, WorkflowLocation};
use orders_core::adapters::webhook::WebhookConfig;
use orders_core::domain::ProductCatalog;
use orders_core::lambda::Backoff;
use orders_core::wiring::wire_embedded;
use orders_ingest::http::{AppState, router};
use tokio::net::TcpListener;

use orders_workers::events::EventSource;

use crate::api_key;
use crate::background::Background;
use crate::config::ServeArgs;
use crate::http_server::Limits;
use crate::pipeline::Pipeline;
use crate::rate_limit::{self, ClientRateLimit};
use crate::serve_lock::ServeLock;

/// Runs the local stack until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.store.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let source = EventSource { region: args.region.clone(), account_id: args.account_id.clone() };
    // Held until the server has stopped (the embedded default only: on AWS the data dir holds
    // nothing but the key digest, and several servers may share a deployment).
    let mut lock = None;
    let webhook = fulfilment_webhook(&args)?;
    // A task that fails for a passing reason comes back after the visibility timeout, then after
    // twice as long each time (at most an hour), and is parked with its reason on its last delivery.
    let fulfilment_backoff = Backoff {
        attempts: args.max_receive_count,
        first_delay: args.visibility_timeout,
        max_delay: std::time::Duration::from_secs(3600),
    };
    let mut pruning = None;
    // The embedded pipeline's runtime, below the requests' priority (the AWS pipeline only polls).
    let mut background = None;
    let (service, products, pipeline, backend) = if args.backend.uses_aws() {
        let queues = crate::setup::QueueOptions {
            visibility_timeout: u32::try_from(args.visibility_timeout.as_secs().max(1)).unwrap_or(43_200),
            max_receive_count: args.max_receive_count,
        };
        let mut system = crate::setup::aws_system(&args.backend, &args.account_id, &args.region, &queues).await?;
        system.ports = system.ports.with_fulfilment_webhook(webhook)?;
        let catalog_store = &system.ports.catalog;
        // The catalog is the deployment's: replaced only by an explicit --catalog FILE, and the demo
        // one stored only when asked for (--demo-catalog) and only into an empty catalog.
        if let Some(catalog) = read_catalog(&args)? {
            catalog_store.replace_catalog(&catalog).await.context("cannot store the catalog")?;
        } else if catalog_store.is_empty().await.context("cannot read the catalog")? {
            if args.demo_catalog {
                catalog_store
                    .replace_catalog(&ProductCatalog::demo())
                    .await
                    .context("cannot store the demo catalog")?;
                tracing::info!("the catalog was empty: stored the demo catalog (--demo-catalog)");
            } else {
                tracing::warn!(
                    "the catalog is empty: every order will be refused until one is loaded \
                     (orders catalog load FILE, or --demo-catalog for the demo products)"
                );
            }
        }
        let pipeline = Pipeline::start_aws(&system, source, fulfilment_backoff);
        (
            system.ports.order_service(),
            system.ports.product_service(),
            pipeline,
            format!("AWS ({})", args.backend.aws_endpoint.as_deref().unwrap_or("aws")),
        )
    } else {
        lock = Some(ServeLock::acquire(data_dir)?);
        let config = EmbeddedConfig {
            data_dir: data_dir.clone(),
            location: WorkflowLocation {
                region: args.region.clone(),
                account_id: args.account_id.clone(),
                state_machine: args.state_machine.clone(),
            },
            queue_settings: QueueSettings {
                visibility_timeout: args.visibility_timeout,
                max_receive_count: args.max_receive_count,
            },
        };
        let mut system =
            wire_embedded(&config).await.with_context(|| format!("cannot open the data in {}", data_dir.display()))?;
        system.ports = system.ports.with_fulfilment_webhook(webhook)?;
        if let Some(catalog) = read_catalog(&args)? {
            system.ports.catalog.replace_catalog(&catalog).await.context("cannot store the catalog")?;
        }
        let runtime = Background::start(std::thread::available_parallelism().map_or(2, |n| n.get()))?;
        let pipeline = Pipeline::start_embedded(&system, source, fulfilment_backoff, runtime.handle())
            .await
            .context("cannot start the pipeline")?;
        let retention =
            Retention { executions: TimeDelta::days(i64::from(args.execution_retention_days)), ..Retention::default() };
        pruning =
            Some(runtime.handle().spawn(keep_pruning(system.database.clone(), retention, args.retention_interval)));
        background = Some(runtime);
        (
            system.ports.order_service(),
            system.ports.product_service(),
            pipeline,
            format!("data in {}", data_dir.display()),
        )
    };

    let keys = api_key::load(std::env::var(api_key::API_KEY_ENV).ok(), data_dir)?;
    if let Some(key) = &keys.generated {
        let file = keys.digest_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("Generated an API key (shown only now; only its SHA-256 digest is kept, in {file}):");
        println!("  x-api-key: {key}");
    }
    let metrics = crate::telemetry::export_metrics().context("cannot start the metrics exporter")?;
    let mut app = router(AppState { service, products, keys: Arc::new(keys.keys), metrics: Some(metrics) });
    if let Some(wake) = pipeline.stream_waker() {
        app = app.layer(axum::middleware::from_fn_with_state(wake, crate::pipeline::wake_stream_after_writes));
    }
    if let Some(per_second) = std::num::NonZeroU32::new(args.rate_limit) {
        let limit = ClientRateLimit::per_second(per_second);
        limit.spawn_cleanup(std::time::Duration::from_secs(60));
        app = app.layer(axum::middleware::from_fn_with_state(limit, rate_limit::limit));
    }
    let shutdown = shutdown_signal()?;
    let limits = server_limits(&args);
    let listener = TcpListener::bind(args.addr).await.with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    println!("orders: listening on http://{local} ({backend})");
    tracing::info!(addr = %local, %backend, "serving");
    crate::http_server::serve(listener, app, limits, shutdown).await;
    if let Some(pruning) = pruning {
        // Each batch is its own transaction: stopping between two loses nothing.
        pruning.abort();
    }
    pipeline.stop().await;
    if let Some(background) = background {
        background.stop().await;
    }
    drop(lock);
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The fulfilment webhook, if one is configured: its URL from the flag (or its variable), its
/// secret from [`WEBHOOK_SECRET_ENV`] only (a flag would show it in the process list).
fn fulfilment_webhook(args: &ServeArgs) -> anyhow::Result<Option<WebhookConfig>> {
    let Some(url) = &args.fulfilment_webhook else { return Ok(None) };
    let secret = std::env::var(WEBHOOK_SECRET_ENV)
        .with_context(|| format!("--fulfilment-webhook needs its signing secret in {WEBHOOK_SECRET_ENV}"))?;
    let config = WebhookConfig::new(url, &secret)?;
    tracing::info!(url = %config.url, "orders are handed off to the fulfilment webhook");
    Ok(Some(config))
}

/// The variable holding the fulfilment webhook's signing secret.
pub const WEBHOOK_SECRET_ENV: &str = "ORDERS_FULFILMENT_WEBHOOK_SECRET";

/// The HTTP server's limits from the flags; the connection cap by default sits safely below the
/// open-files limit, which is first raised to its hard limit.
/// Removes what the embedded store no longer needs, every `interval`, in the background (small
/// batches: requests keep their turn at the writer).
async fn keep_pruning(database: Database, retention: Retention, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match database.prune(&retention).await {
            Ok(pruned) if pruned.is_empty() => {}
            Ok(pruned) => tracing::info!(
                changes = pruned.changes,
                executions = pruned.executions,
                history_events = pruned.history_events,
                idempotency_keys = pruned.idempotency_keys,
                "removed what retention allows"
            ),
            Err(error) => tracing::warn!(%error, "retention pass failed; the next one tries again"),
        }
    }
}

fn server_limits(args: &ServeArgs) -> Limits {
    let open_files = raise_open_files_limit();
    let safe = open_files.map_or(DEFAULT_MAX_CONNECTIONS, safe_connection_cap);
    let max_connections = args.max_connections.unwrap_or(safe);
    if max_connections > safe {
        tracing::warn!(
            max_connections,
            open_files_limit = open_files,
            "--max-connections is close to the open-files limit: the server may run out of file descriptors"
        );
    }
    tracing::info!(
        max_connections,
        open_files_limit = open_files,
        header_read_timeout_s = args.header_read_timeout.as_secs_f64(),
        body_read_timeout_s = args.body_read_timeout.as_secs_f64(),
        idle_timeout_s = args.idle_timeout.as_secs_f64(),
        "HTTP server limits"
    );
    Limits {
        max_connections,
        header_read_timeout: args.header_read_timeout,
        body_read_timeout: args.body_read_timeout,
        idle_timeout: args.idle_timeout,
    }
}

/// The connection cap used when neither the flag nor the open-files limit says otherwise.
const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;

/// A connection cap that leaves file descriptors for everything else: the SQLite files and pool,
/// the log, AWS clients, connections being answered 503. A quarter of the limit, at least 256 and
/// at most half, is kept for those.
fn safe_connection_cap(open_files: u64) -> u32 {
    let reserved = (open_files / 4).max(256).min(open_files / 2);
    u32::try_from(open_files.saturating_sub(reserved)).unwrap_or(u32::MAX).clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// Raises the soft open-files limit to the hard one; the limit now in force, if known.
#[cfg(unix)]
fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
        }
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() -> Option<u64> {
    None
}

fn read_catalog(args: &ServeArgs) -> anyhow::Result<Option<ProductCatalog>> {
    let Some(path) = &args.catalog else { return Ok(None) };
    let catalog = crate::catalog::read(path)?;
    tracing::info!(products = catalog.products().len(), file = %path.display(), "catalog loaded");
    Ok(Some(catalog))
}

/// Listens for Ctrl-C and SIGTERM from the moment it is made (so a signal sent as soon as the server
/// says it listens is never missed) and resolves when either arrives.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_cap_leaves_file_descriptors_free() {
        assert_eq!(safe_connection_cap(256), 128);
        assert_eq!(safe_connection_cap(1024), 768);
        assert_eq!(safe_connection_cap(4096), 3072);
        assert_eq!(safe_connection_cap(20_000), 10_000);
        assert_eq!(safe_connection_cap(1 << 20), 10_000);
        assert_eq!(safe_connection_cap(1), 1);
    }
}
