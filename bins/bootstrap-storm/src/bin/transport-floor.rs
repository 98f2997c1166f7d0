//! transport-floor: the floor under bootstrap-storm (see the library's `floor` module).

use std::process::ExitCode;

use bootstrap_storm::floor::{self, Args};
use clap::Parser as _;

// jemalloc, as our three programs use.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if args.x25519 {
        provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    }
    let _ = provider.install_default();
    // Two workers: the machine's two cores, shared by server, controller and kubelets.
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(floor::run(args)));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transport-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
