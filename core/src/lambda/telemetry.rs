//! What a Lambda function says about itself: its log lines (level and format from Lambda's
//! advanced logging controls) and its metrics (the [`crate::metrics`] counters as CloudWatch
//! Embedded Metric Format lines on stdout, flushed after each invocation), and the bracket around
//! each invocation that marks the first one of an execution environment as its cold start.
//!
//! The log set-up follows the rules of `lambda_runtime`'s own `init_default_subscriber`
//! (`AWS_LAMBDA_LOG_LEVEL` first, then `RUST_LOG`, then `INFO`; JSON when `AWS_LAMBDA_LOG_FORMAT`
//! says so) but not its layout: ours keeps each event's fields at the top level beside the fields
//! of the span it happened in (`request_id`, `order_id`, `execution_arn`, `cold_start`), which
//! CloudWatch Logs Insights queries by, and writes to stderr, leaving stdout to the metric lines.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_cloudwatch_embedded::Collector;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The variable naming the CloudWatch namespace of the metrics (the template sets it per stack).
pub const METRICS_NAMESPACE_ENV: &str = "METRICS_NAMESPACE";

/// The namespace when [`METRICS_NAMESPACE_ENV`] is not set.
pub const DEFAULT_METRICS_NAMESPACE: &str = crate::metrics::NAMESPACE;

/// The dimension every metric of a function carries: which function it is (its binary's name).
pub const FUNCTION_DIMENSION: &str = "function";

/// The metric-document property carrying the invocation's request id (searchable in the logs,
/// not a dimension).
const REQUEST_ID_PROPERTY: &str = "request_id";

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
static INVOKED: AtomicBool = AtomicBool::new(false);

/// How the function's logs are written, from Lambda's logging controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The filter: `AWS_LAMBDA_LOG_LEVEL` (as a level for everything) when set, else `RUST_LOG`'s
    /// directives, else `info`.
    pub filter: String,
    /// One JSON object per line (`AWS_LAMBDA_LOG_FORMAT=JSON`, or unset); else plain text.
    pub json: bool,
}

impl LogSettings {
    /// The settings from the variables `lookup` gives.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let level = |level: LevelFilter| level.to_string().to_lowercase();
        let filter = match lookup("AWS_LAMBDA_LOG_LEVEL") {
            // Lambda's levels: TRACE, DEBUG, INFO, WARN, ERROR, FATAL (tracing has no FATAL).
            Some(name) if name.eq_ignore_ascii_case("fatal") => level(LevelFilter::ERROR),
            Some(name) => level(name.parse().unwrap_or(LevelFilter::INFO)),
            None => {
                lookup("RUST_LOG").filter(|directives| !directives.trim().is_empty()).unwrap_or_else(|| "info".into())
            }
        };
        let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_none_or(|format| !format.eq_ignore_ascii_case("text"));
        LogSettings { filter, json }
    }
}

/// Sets up the function's logs and metrics once, at start: `function` is its binary's name (the
/// metrics' `function` dimension).
pub fn init(function: &'static str) {
    let settings = LogSettings::from_lookup(|name| std::env::var(name).ok());
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // CloudWatch Logs stamps every line; its console shows no colours.
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    if settings.json {
        builder.json().flatten_event(true).with_current_span(true).init();
    } else {
        builder.init();
    }
    let namespace = std::env::var(METRICS_NAMESPACE_ENV).unwrap_or_else(|_| DEFAULT_METRICS_NAMESPACE.to_owned());
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(FUNCTION_DIMENSION, function)
        .init()
    {
        Ok(collector) => {
            crate::metrics::describe();
            let _ = COLLECTOR.set(collector);
        }
        // Only a second recorder fails to install: the first one keeps counting.
        Err(error) => tracing::warn!(%error, "metrics not installed"),
    }
}

/// Marks the start of an invocation: the span its work runs in (with its request id and whether it
/// is the execution environment's first invocation, which is then counted as a cold start).
pub fn invocation_span(request_id: &str) -> tracing::Span {
    let cold_start = !INVOKED.swap(true, Ordering::Relaxed);
    if cold_start {
        crate::metrics::cold_start();
    }
    tracing::info_span!("invocation", request_id = %request_id, cold_start)
}

/// Ends an invocation: writes what it counted as metric documents on stdout, where Lambda sends
/// them to CloudWatch Logs, which turns them into metrics.
pub fn flush_metrics(request_id: &str) {
    let Some(collector) = COLLECTOR.get() else { return };
    let mut out = std::io::stdout().lock();
    if let Err(error) =
        collector.set_property(REQUEST_ID_PROPERTY, request_id).flush(&mut out).and_then(|()| out.flush())
    {
        tracing::warn!(%error, "metrics not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        LogSettings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn lambdas_log_level_comes_first_then_rust_log_then_info() {
        assert_eq!(settings(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "warn")]).filter, "debug");
        assert_eq!(settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).filter, "error");
        assert_eq!(settings(&[("RUST_LOG", "orders_core=debug,info")]).filter, "orders_core=debug,info");
        assert_eq!(settings(&[]).filter, "info");
    }

    #[test]
    fn logs_are_json_unless_lambda_asks_for_text() {
        assert!(settings(&[]).json);
        assert!(settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).json);
        assert!(!settings(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]).json);
    }
}
