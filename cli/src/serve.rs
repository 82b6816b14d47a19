//! `orders serve`: opens the embedded stack, loads the keys (and a catalog file, if given), starts the
//! pipeline (workflow driver and workers), serves the API until Ctrl-C or SIGTERM, then finishes the
//! requests in flight, stops the pipeline and exits.

use std::sync::Arc;

use anyhow::Context;
use orders_core::adapters::embedded::{EmbeddedConfig, EmbeddedStack, QueueSettings, WorkflowLocation};
use orders_core::domain::ProductCatalog;
use orders_core::ports::CatalogStore;
use orders_ingest::http::{AppState, router};
use tokio::net::TcpListener;

use orders_workers::events::EventSource;

use crate::api_key;
use crate::config::ServeArgs;
use crate::pipeline::Pipeline;
use crate::rate_limit::{self, ClientRateLimit};

/// Runs the local stack until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.store.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let source = EventSource { region: args.region.clone(), account_id: args.account_id.clone() };
    let (service, pipeline, backend) = if args.backend.uses_aws() {
        let queues = crate::setup::QueueOptions {
            visibility_timeout: u32::try_from(args.visibility_timeout.as_secs().max(1)).unwrap_or(43_200),
            max_receive_count: args.max_receive_count,
        };
        let stack = crate::setup::aws_stack(&args.backend, &args.account_id, &args.region, &queues).await?;
        if let Some(catalog) = read_catalog(&args)? {
            stack.store.replace_catalog(&catalog).await.context("cannot store the catalog")?;
        } else if stack.store.products(&["PROD001"]).await?.get("PROD001").is_none() {
            stack.store.replace_catalog(&ProductCatalog::demo()).await.context("cannot store the demo catalog")?;
        }
        let pipeline = Pipeline::start_aws(&stack, source);
        (stack.service.clone(), pipeline, format!("AWS ({})", args.backend.aws_endpoint.as_deref().unwrap_or("aws")))
    } else {
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
        let stack = EmbeddedStack::open(&config)
            .await
            .with_context(|| format!("cannot open the data in {}", data_dir.display()))?;
        if let Some(catalog) = read_catalog(&args)? {
            stack.load_catalog(&catalog).await.context("cannot store the catalog")?;
        }
        let pipeline = Pipeline::start_embedded(&stack, source).await.context("cannot start the pipeline")?;
        (stack.service.clone(), pipeline, format!("data in {}", data_dir.display()))
    };

    let keys = api_key::load(std::env::var(api_key::API_KEY_ENV).ok(), data_dir)?;
    if let Some(key) = &keys.generated {
        let file = keys.digest_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("Generated an API key (shown only now; only its SHA-256 digest is kept, in {file}):");
        println!("  x-api-key: {key}");
    }
    let mut app = router(AppState { service, keys: Arc::new(keys.keys) });
    if let Some(per_second) = std::num::NonZeroU32::new(args.rate_limit) {
        let limit = ClientRateLimit::per_second(per_second);
        limit.spawn_cleanup(std::time::Duration::from_secs(60));
        app = app.layer(axum::middleware::from_fn_with_state(limit, rate_limit::limit));
    }
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(args.addr).await.with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    println!("orders: listening on http://{local} ({backend})");
    tracing::info!(addr = %local, %backend, "serving");
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    pipeline.stop().await;
    served.context("server failed")?;
    tracing::info!("stopped cleanly");
    Ok(())
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
