//! What every Lambda `main` of the pipeline shares: JSON logs (one object per line, with the span's
//! fields: request id, order id, execution ARN), filtered by `RUST_LOG` (default `info`).

/// Installs the JSON log subscriber once.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter(filter)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
}
