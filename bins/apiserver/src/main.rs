//! The apiserver binary: parse flags, set up logging, bind, serve until SIGTERM or ctrl-c.
//! Every start-up failure is one line on stderr and a non-zero exit.

use std::process::ExitCode;

use anyhow::Context as _;
use apiserver::flags::Args;

use cli::{EXIT_FAILURE, EXIT_USAGE};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = match cli::parse_args::<Args>("apiserver") {
        Ok(args) => args,
        Err(code) => return code,
    };
    cli::init_logging(args.log_format, args.verbosity);

    let config = match args.to_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("apiserver: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("apiserver: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let address = args.listen_address();
    let feature_gates = cli::FeatureGates::from_flags(&args.feature_gates);
    match runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("failed to listen on {address}"))?;
        // Logged only now, so a start-up failure stays the single line on stderr.
        for warning in feature_gates.warnings() {
            tracing::warn!("{warning}");
        }
        tracing::info!(version = apiserver::VERSION, %address, %feature_gates, "apiserver starting");
        apiserver::run(config, listener, cli::shutdown_signal()).await?;
        anyhow::Ok(())
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("apiserver: {error:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
