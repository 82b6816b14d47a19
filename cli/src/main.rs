//! `orders`: the local stack and the operator commands.

use std::process::ExitCode;

use clap::Parser;
use orders_cli::config::{CatalogCommand, Cli, Command};
use orders_core::adapters::embedded::{allow_read_leases, end_read_leases};

/// mimalloc instead of the C library's allocator: every request and every pipeline step allocates
/// and frees dozens of small blocks across threads; with mimalloc a durable `POST` costs less
/// (docs/BENCHMARKS.md, "mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Command::Serve(_) = cli.command {
        // The request threads' point reads share short read transactions ("read leases",
        // docs/ARCHITECTURE.md), which a worker ends whenever it goes idle. Set at unpark, which
        // only the runtime's workers do: a blocking-pool thread has no park hook to end its lease
        // with. Only for the server: an operator command may keep a worker busy for long without
        // reading, holding its snapshot open beside the server.
        runtime.on_thread_unpark(allow_read_leases).on_thread_park(end_read_leases);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("orders: error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
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
