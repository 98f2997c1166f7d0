//! The apiserver binary: parse flags, set up logging, bind, serve until SIGTERM or ctrl-c.
//! Every start-up failure is one line on stderr and a non-zero exit.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use apiserver::flags::{Args, LogFormat};
use clap::Parser as _;
use clap::error::ErrorKind;
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
            eprintln!("apiserver: {}", first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_logging(args.log_format, args.verbosity);

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
    match runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("failed to listen on {address}"))?;
        // Logged only now, so a start-up failure stays the single line on stderr.
        tracing::info!(version = apiserver::VERSION, %address, "apiserver starting");
        apiserver::run(config, listener, shutdown_signal()).await?;
        anyhow::Ok(())
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("apiserver: {error:#}");
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
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
