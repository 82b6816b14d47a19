//! What `orders` says about itself: `tracing` logs to stderr, text or JSON, filtered by `RUST_LOG`
//! (default `info`), with terminal colours only when stderr is a terminal; and, for `orders
//! serve`, the pipeline's metrics ([`orders_core::metrics`]) kept for `GET /metrics` in Prometheus
//! text format.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use orders_ingest::http::MetricsText;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// How often the exporter folds recorded histogram values into their summaries (with no HTTP
/// listener of its own, nothing else would).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Installs the global subscriber once.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Escape codes are for a terminal: in a file or a pipe they are noise (`orders serve > log`).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

/// Starts keeping this process's metrics (once per process; later calls share the first
/// exporter) and returns what renders them as Prometheus text. Needs a Tokio runtime.
pub fn export_metrics() -> anyhow::Result<MetricsText> {
    static EXPORTER: OnceLock<PrometheusHandle> = OnceLock::new();
    let handle = match EXPORTER.get() {
        Some(handle) => handle.clone(),
        None => {
            let handle = PrometheusBuilder::new().install_recorder()?;
            orders_core::metrics::describe();
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(METRICS_UPKEEP);
                loop {
                    ticks.tick().await;
                    upkeep.run_upkeep();
                }
            });
            EXPORTER.get_or_init(|| handle).clone()
        }
    };
    Ok(Arc::new(move || handle.render()))
}
