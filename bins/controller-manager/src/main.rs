//! The controller-manager binary: parse flags, set up logging, bind the secure port, run until
//! SIGTERM or ctrl-c. Every start-up failure is one line on stderr and a non-zero exit; losing
//! the leader Lease exits non-zero too, so systemd restarts us (as upstream does).

use std::process::ExitCode;

use controller_manager::Args;

use cli::{EXIT_FAILURE, EXIT_USAGE};

// jemalloc, as the apiserver (decision 0013): it allocates per CSR as the apiserver does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = match cli::parse_args::<Args>("controller-manager") {
        Ok(args) => args,
        Err(code) => return code,
    };
    cli::init_logging(args.log_format, args.verbosity);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("controller-manager: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // Config inside the runtime: the CA reload watcher and TLS setup need none, but keeping
    // every start-up step here makes the order obvious.
    let config = match args.to_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("controller-manager: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let listener = match &config.serving {
        Some(tls) => match runtime.block_on(tokio::net::TcpListener::bind(tls.address)) {
            Ok(listener) => Some(listener),
            Err(error) => {
                eprintln!(
                    "controller-manager: failed to listen on {}: {error}",
                    tls.address
                );
                return ExitCode::from(EXIT_FAILURE);
            }
        },
        None => None,
    };
    for warning in config.feature_gates.warnings() {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        version = controller_manager::VERSION,
        feature_gates = %config.feature_gates,
        "controller-manager starting"
    );
    match runtime.block_on(controller_manager::run(
        config,
        listener,
        cli::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "controller-manager stopped");
            eprintln!("controller-manager: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
