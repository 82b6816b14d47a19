//! `orders`: the local stack and the operator commands.

use std::process::ExitCode;

use clap::Parser;
use orders_cli::config::{CatalogCommand, Cli, Command};

/// mimalloc instead of the C library's allocator: every request and every pipeline step allocates
/// and frees dozens of small blocks across threads; with mimalloc a durable `POST` costs less
/// (docs/BENCHMARKS.md, "mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    orders_cli::telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => orders_cli::serve::run(args).await,
        Command::Setup(args) => orders_cli::setup::run(args).await,
        Command::Import(args) => orders_cli::import::run(args).await,
        Command::Catalog { command: CatalogCommand::Load { file, target, output } } => {
            orders_cli::catalog::load(&file, target, output.output).await
        }
        Command::Dlq { command } => orders_cli::dlq::run(command).await,
        Command::Backup { command } => orders_cli::backup::run(command).await,
        Command::Executions { order_or_arn, target, output } => {
            orders_cli::executions::run(order_or_arn, target, output.output).await
        }
        Command::Status { target, output } => orders_cli::status::run(target, output.output).await,
        Command::Completions { shell } => {
            orders_cli::completions::write(shell, &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orders: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
