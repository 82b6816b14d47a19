//! `orders serve`: opens the embedded stack, loads the keys (and a catalog file, if given), starts the
//! pipeline (workflow driver and workers), serves the API until Ctrl-C or SIGTERM, then finishes the
//! requests in flight, stops the pipeline and exits.

use std::sync::Arc;

use anyhow::Context;
use orders_core::adapters::embedded::{EmbeddedConfig, EmbeddedStack, QueueSettings, WorkflowLocation};
use orders_core::domain::ProductCatalog;
use orders_ingest::http::{AppState, router};
use tokio::net::TcpListener;

use orders_workers::events::EventSource;

use crate::api_key;
use crate::config::ServeArgs;
use crate::pipeline::Pipeline;

/// Runs the local stack until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.store.data_dir;
    let location = WorkflowLocation {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        state_machine: args.state_machine.clone(),
    };
    let config = EmbeddedConfig {
        data_dir: data_dir.clone(),
        location,
        queue_settings: QueueSettings {
            visibility_timeout: args.visibility_timeout,
            max_receive_count: args.max_receive_count,
        },
    };
    let stack = EmbeddedStack::open(&config)
        .await
        .with_context(|| format!("cannot open the data in {}", data_dir.display()))?;
    if let Some(path) = &args.catalog {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let catalog = ProductCatalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))?;
        stack.load_catalog(&catalog).await.context("cannot store the catalog")?;
        tracing::info!(products = catalog.products().len(), file = %path.display(), "catalog loaded");
    }
    let keys = api_key::load(std::env::var(api_key::API_KEY_ENV).ok(), data_dir)?;
    if let Some(key) = &keys.generated {
        let file = keys.digest_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("Generated an API key (shown only now; only its SHA-256 digest is kept, in {file}):");
        println!("  x-api-key: {key}");
    }

    let pipeline =
        Pipeline::start(&stack, EventSource { region: args.region.clone(), account_id: args.account_id.clone() })
            .await
            .context("cannot start the pipeline")?;
    let app = router(AppState { service: stack.service.clone(), keys: Arc::new(keys.keys) });
    let listener = TcpListener::bind(args.addr).await.with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    println!("orders: listening on http://{local} (data in {})", data_dir.display());
    tracing::info!(addr = %local, data_dir = %data_dir.display(), "serving");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    pipeline.stop().await;
    served.context("server failed")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
