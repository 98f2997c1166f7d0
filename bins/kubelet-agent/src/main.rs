//! The kubelet-agent binary: parse flags, set up logging, run on a single-threaded runtime
//! (a node agent should stay small) until SIGTERM or ctrl-c. Start-up failures are one line
//! on stderr and a non-zero exit.

use std::process::ExitCode;

use kubelet_agent::flags::Args;

use cli::{EXIT_FAILURE, EXIT_USAGE};

fn main() -> ExitCode {
    let args = match cli::parse_args::<Args>("kubelet-agent") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = match args.to_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("kubelet-agent: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    cli::init_logging(args.log_format, args.verbosity);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kubelet-agent: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    tracing::info!(
        version = kubelet_agent::VERSION,
        node = %config.node_name,
        feature_gates = %config.feature_gates,
        "kubelet-agent starting"
    );
    match runtime.block_on(kubelet_agent::run(config, cli::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "kubelet-agent stopped");
            eprintln!("kubelet-agent: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
