//! The controller-manager binary: parse flags, set up logging, bind the secure port, run until
//! SIGTERM or ctrl-c. Every start-up failure is one line on stderr and a non-zero exit; losing
//! the leader Lease exits non-zero too, so systemd restarts us (as upstream does).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;
use controller_manager::{Args, LogFormat};
use tracing_subscriber::EnvFilter;

/// Exit code for unusable flags or files (sysexits' EX_USAGE).
const EXIT_USAGE: u8 = 64;
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => {
            // clap's report spans several lines (usage, hints); the first line says it all.
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid flags");
            eprintln!(
                "controller-manager: {}",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_logging(args.log_format, args.verbosity);

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
    tracing::info!(
        version = controller_manager::VERSION,
        "controller-manager starting"
    );
    match runtime.block_on(controller_manager::run(config, listener, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "controller-manager stopped");
            eprintln!("controller-manager: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `RUST_LOG` wins when set; otherwise klog-style `-v`.
fn init_logging(format: LogFormat, verbosity: u8) {
    let level = match verbosity {
        0 | 1 => "info",
        2..=4 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
