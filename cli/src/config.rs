//! Command-line and environment configuration, parsed once with clap. A bad value fails at start,
//! naming the flag or variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The order pipeline: the local stack and the operator commands.
#[derive(Debug, Parser)]
#[command(name = "orders", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format: human-readable text, or JSON lines (as in Lambda).
    #[arg(long, global = true, env = "ORDERS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API and run the pipeline: on the embedded default (one SQLite file, no AWS),
    /// or against AWS / an AWS-compatible endpoint with --aws / --aws-endpoint.
    Serve(ServeArgs),
    /// Create the AWS resources (tables, queues with DLQs, bucket, state machine) that are absent.
    Setup(SetupArgs),
    /// Send the orders of a JSON Lines or CSV file to the import queue (see docs/IMPORT.md).
    Import(ImportArgs),
    /// Show an order's workflow execution: its status, current state and history.
    Executions {
        /// An order id, or an execution ARN.
        order_or_arn: String,
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Check and restore the order backups.
    Backup {
        /// What to do.
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Manage the product catalog.
    Catalog {
        /// What to do.
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Look at and replay the dead-letter queues.
    Dlq {
        /// What to do.
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The pipeline's health on one screen: orders by status, queues and their oldest messages,
    /// dead letters, executions (and the running ones past their deadline), backup lag, stock-outs.
    Status {
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print the shell completion script for bash, zsh or fish (e.g. `orders completions bash >
    /// ~/.local/share/bash-completion/completions/orders`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How an operator command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Readable text.
    Text,
    /// One JSON document on stdout (shapes in docs/OPERATIONS.md).
    Json,
}

/// `--output text|json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print the result as readable text, or as one JSON document (docs/OPERATIONS.md).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `orders catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Replace the catalog with a JSON file (orders already made keep their prices):
    /// {"products":[{"product_id":"PROD001","name":"Widget","unit_price":"25.50"}]}
    Load {
        /// The catalog file.
        file: PathBuf,
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `orders backup …`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Check that every order has its latest version in the backup store (non-zero exit if not).
    Verify {
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Rebuild orders from their latest backups; deleted orders stay deleted. Safe to run twice.
    Restore {
        /// Only this order.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        order: Option<String>,
        /// Every order in the backup store.
        #[arg(long)]
        all: bool,
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `orders dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Every dead-letter queue with its message count and the age of its oldest message.
    List {
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show messages of a dead-letter queue with their failure reason and receive count (they stay).
    Peek {
        /// The queue: a dead-letter queue (`backup-dlq`) or the queue it serves (`backup`).
        queue: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 10)]
        max: usize,
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
        /// How to print the result.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Send a dead-letter queue's messages back to the queue they came from.
    Replay {
        /// The queue: a dead-letter queue (`backup-dlq`) or the queue it serves (`backup`).
        queue: String,
        /// Only messages whose body or attributes contain this text.
        #[arg(long)]
        filter: Option<String>,
        /// Messages per second at most.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// At most this many messages.
        #[arg(long)]
        max: Option<usize>,
        /// Show what would be replayed, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where the data is.
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Where an operator command finds the data: the embedded data dir, or AWS.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Which backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Where the embedded data lives.
    #[command(flatten)]
    pub store: StoreArgs,
    /// AWS region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// AWS account id.
    #[arg(long, env = "ORDERS_ACCOUNT_ID", default_value = "123456789012", value_parser = parse_account_id)]
    pub account_id: String,
}

/// The formats `orders import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// One `{"client_reference": …, "order": {…}}` per line.
    Jsonl,
    /// Columns client_reference,customer_id,product_id,quantity; one row per item.
    Csv,
}

/// `orders import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Its format (by default from the extension: .csv is CSV, anything else JSON Lines).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Orders per queue message (1 to 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub batch_size: u16,
    /// Where the data is.
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Which backend: the embedded default, or AWS.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Use this AWS-compatible endpoint (moto, LocalStack, …) instead of the embedded default.
    #[arg(long, env = "ORDERS_AWS_ENDPOINT", value_name = "URL")]
    pub aws_endpoint: Option<String>,
    /// Use AWS itself (region and credentials from the usual AWS_* environment).
    #[arg(long, conflicts_with = "aws_endpoint")]
    pub aws: bool,
    /// Name prefix of the deployment's AWS resources (`PREFIX-orders`, `PREFIX-backup`, …).
    #[arg(long, env = "ORDERS_PREFIX", default_value = "orders", value_parser = parse_machine_name)]
    pub prefix: String,
}

impl BackendArgs {
    /// Whether AWS (or an AWS-compatible endpoint) is the backend.
    pub fn uses_aws(&self) -> bool {
        self.aws || self.aws_endpoint.is_some()
    }
}

/// `orders setup`.
#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Which AWS.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// AWS account id (names the backup bucket and the state machine role).
    #[arg(long, env = "ORDERS_ACCOUNT_ID", default_value = "123456789012", value_parser = parse_account_id)]
    pub account_id: String,
    /// AWS region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Seconds a received queue message stays hidden.
    #[arg(long, default_value_t = 30)]
    pub visibility_timeout: u32,
    /// Deliveries of a queue message before it moves to the queue's dead-letter queue.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_receive_count: u32,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Where the embedded data lives (shared by every command that reads it).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Folder holding the SQLite file and the API key digest; created if missing.
    #[arg(long, env = "ORDERS_DATA_DIR", default_value = ".orders")]
    pub data_dir: PathBuf,
}

/// `orders serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Which backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "ORDERS_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Where the data lives.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Replace the catalog with this JSON file at start:
    /// {"products":[{"product_id":"PROD001","name":"Widget","unit_price":"25.50"}]}
    #[arg(long, env = "ORDERS_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// With --aws or --aws-endpoint: store the demo catalog (PROD001 to PROD005) if the catalog is
    /// empty. A catalog that holds any product is never overwritten at start. (The embedded default
    /// puts the demo catalog in place on its first start by itself.)
    #[arg(long, env = "ORDERS_DEMO_CATALOG", conflicts_with = "catalog")]
    pub demo_catalog: bool,
    /// AWS region shown in execution ARNs.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// AWS account id shown in execution ARNs (12 digits).
    #[arg(long, env = "ORDERS_ACCOUNT_ID", default_value = "123456789012", value_parser = parse_account_id)]
    pub account_id: String,
    /// Name of the order workflow's state machine.
    #[arg(long, env = "ORDERS_STATE_MACHINE", default_value = "OrderProcessing", value_parser = parse_machine_name)]
    pub state_machine: String,
    /// Seconds a received queue message stays hidden before it is delivered again (fractions allowed).
    #[arg(long, env = "ORDERS_VISIBILITY_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub visibility_timeout: Duration,
    /// Deliveries of a queue message before it moves to the queue's dead-letter queue.
    #[arg(long, env = "ORDERS_MAX_RECEIVE_COUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_receive_count: u32,
    /// Hand each order, once its stock is reserved, to the merchant's fulfilment: POSTed to this URL,
    /// signed with the secret in ORDERS_FULFILMENT_WEBHOOK_SECRET (docs/FULFILMENT.md). Without it,
    /// processing is the reservation alone.
    #[arg(long, env = "ORDERS_FULFILMENT_WEBHOOK_URL")]
    pub fulfilment_webhook: Option<String>,
    /// Requests per second each client address may make (bursts of twice that); above it, 429.
    /// 0 turns the limit off.
    #[arg(long, env = "ORDERS_RATE_LIMIT", default_value_t = 500)]
    pub rate_limit: u32,
    /// Connections served at once; one more is answered 503 "Server is busy" and closed. Default:
    /// safely below the open-files limit (raised to its hard limit at start), at most 10000.
    #[arg(long, env = "ORDERS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,
    /// Seconds a client has to send a request's head (request line and headers), from connecting or
    /// from the first byte of its next request; then the connection is closed.
    #[arg(long, env = "ORDERS_HEADER_READ_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub header_read_timeout: Duration,
    /// Seconds a client has to send a request's body, from the end of its head; then 408.
    #[arg(long, env = "ORDERS_BODY_READ_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_read_timeout: Duration,
    /// Days a finished workflow execution and its history are kept (embedded default; Step Functions
    /// keeps them 90 days). Change-feed entries every consumer has processed and expired
    /// Idempotency-Key records are removed as well, in the background.
    #[arg(long, env = "ORDERS_EXECUTION_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub execution_retention_days: u32,
    /// Seconds between two passes of the background removal (embedded default).
    #[arg(long, env = "ORDERS_RETENTION_INTERVAL", default_value = "60", value_parser = parse_seconds)]
    pub retention_interval: Duration,
    /// Seconds a connection with no request in progress (a keep-alive connection waiting, or a
    /// client not reading its response) may stay without a byte moving; then it is closed.
    #[arg(long, env = "ORDERS_IDLE_TIMEOUT", default_value = "60", value_parser = parse_seconds)]
    pub idle_timeout: Duration,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| "a number of seconds, like 30 or 0.5".to_owned())?;
    if seconds.is_finite() && (0.05..=43_200.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err("between 0.05 and 43200 seconds (12 hours, the SQS maximum)".into())
    }
}

fn parse_account_id(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err("an AWS account id is 12 digits".into())
    }
}

fn parse_machine_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 80
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid { Ok(text.to_owned()) } else { Err("1 to 80 letters, digits, '-' or '_'".into()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_fail_naming_the_flag() {
        let err = Cli::try_parse_from(["orders", "serve", "--account-id", "12"]).unwrap_err().to_string();
        assert!(err.contains("--account-id"), "{err}");
        let err = Cli::try_parse_from(["orders", "serve", "--addr", "nowhere"]).unwrap_err().to_string();
        assert!(err.contains("--addr"), "{err}");
        let err = Cli::try_parse_from(["orders", "serve", "--execution-retention-days", "0"]).unwrap_err().to_string();
        assert!(err.contains("--execution-retention-days"), "{err}");
    }
}
