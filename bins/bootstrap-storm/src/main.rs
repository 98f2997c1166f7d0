//! bootstrap-storm: the benchmark's command line; the program is the library's `run`.

use std::process::ExitCode;

use bootstrap_storm::flags::Args;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

// jemalloc, as the apiserver (decision 0013): glibc's malloc was ~10 % of this process's
// CPU in a storm. Not in unit tests: procstat's test needs memory handed back at once.
#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    // The kubelet code logs each bootstrap at info: thousands of lines. Warnings only by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bootstrap-storm: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bootstrap_storm::run(args)) {
        Ok(report) => {
            if report.storm.nodes_failed == 0 && !report.storm.timed_out {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bootstrap-storm: {e:#}");
            ExitCode::FAILURE
        }
    }
}
