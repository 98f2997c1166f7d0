//! The edge every program of the workspace shares: flag errors reported as one line with the
//! usage exit code, logging set up the same way, Go-style booleans for flags that upstream
//! components parse with `strconv.ParseBool`, Go durations, `--feature-gates`, and a future that resolves
//! on SIGTERM or ctrl-c.

pub mod duration;
mod feature_gates;

pub use duration::{DurationError, format_go_duration, parse_go_duration};

pub use feature_gates::{
    FeatureGateError, FeatureGateFlag, FeatureGates, KNOWN as KNOWN_FEATURE_GATES,
    ROTATE_KUBELET_CLIENT_CERTIFICATE, ROTATE_KUBELET_SERVER_CERTIFICATE, parse_feature_gates,
};

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::error::ErrorKind;
use tracing_subscriber::EnvFilter;

/// Exit code for unusable flags or files (sysexits' EX_USAGE).
pub const EXIT_USAGE: u8 = 64;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Parses the process arguments. `--help` and `--version` print and exit as clap does; any other
/// error is printed as `<program>: <first line of clap's report>` and yields the usage exit code.
pub fn parse_args<A: clap::Parser>(program: &str) -> Result<A, ExitCode> {
    match A::try_parse() {
        Ok(args) => Ok(args),
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
            eprintln!("{program}: {}", first_line(&error.render().to_string()));
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn first_line(report: &str) -> &str {
    report
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid flags")
        .trim_start_matches("error: ")
}

/// Logs to stderr, human or JSON. `RUST_LOG` wins when set; otherwise klog-style `-v`
/// (0-1 info, 2-4 debug, 5+ trace).
pub fn init_logging(format: LogFormat, verbosity: u8) {
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

/// Go's `strconv.ParseBool`, so `--leader-elect=false` or `--anonymous-auth=0` behave as upstream.
pub fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (use true or false)")),
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans_as_strconv_parse_bool() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true), "{yes}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false), "{no}");
        }
        assert!(parse_go_bool("yes").is_err());
        assert!(parse_go_bool("").is_err());
    }

    #[test]
    fn first_line_of_a_clap_report_without_its_prefix() {
        let report = "\nerror: unexpected argument '--x' found\n\nUsage: apiserver [OPTIONS]\n";
        assert_eq!(first_line(report), "unexpected argument '--x' found");
        assert_eq!(first_line(""), "invalid flags");
    }
}
