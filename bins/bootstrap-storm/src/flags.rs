//! Command-line flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The signing CA's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerKey {
    /// ECDSA P-256 (what a kubeadm cluster makes today).
    Ecdsa,
    /// RSA-2048.
    Rsa,
}

impl SignerKey {
    pub fn algorithm(self) -> pki::KeyAlgorithm {
        match self {
            SignerKey::Ecdsa => pki::KeyAlgorithm::EcdsaP256,
            SignerKey::Rsa => pki::KeyAlgorithm::Rsa2048,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "bootstrap-storm",
    version,
    about = "Benchmark: N kubelets (the kubelet crate's real bootstrap, registration and Lease code) join a real apiserver + controller-manager at once; prints and writes figures, JSON and SVG"
)]
pub struct Args {
    /// How many kubelets join.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub nodes: u32,
    /// How many kubelets bootstrap at the same time (the rest wait for a slot).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Key type of the cluster CA that signs the kubelet certificates.
    #[arg(long, value_enum, default_value_t = SignerKey::Ecdsa)]
    pub signer_key: SignerKey,
    /// The apiserver's data dir: `tmpfs` (under /dev/shm), `disk` (under the --out folder), or
    /// a path. Ignored with --server.
    #[arg(long, default_value = "disk")]
    pub store: String,
    /// Seconds of the steady phase (every node renews its Lease every --lease-interval); 0 skips it.
    #[arg(long, default_value_t = 60)]
    pub steady_seconds: u64,
    /// Lease renewal period of the steady phase, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_interval: u64,
    /// Pending CSRs pre-created for the signing comparison (controller-manager vs `cfssl serve`); 0 skips it.
    #[arg(long, default_value_t = 1000)]
    pub signing_csrs: u32,
    /// The cfssl binary for the signing comparison (skipped with a note when missing).
    #[arg(long, default_value = "/usr/bin/cfssl")]
    pub cfssl: PathBuf,
    /// Skip starting one real kubelet-agent process to measure its RSS.
    #[arg(long)]
    pub no_agent: bool,
    /// The controller-manager's `--concurrent-workers` (upstream's default is 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub controller_workers: u16,
    /// Where report.json and the SVG charts are written.
    #[arg(long, default_value = "storm-out")]
    pub out: PathBuf,
    /// Folder with the apiserver, controller-manager and kubelet-agent binaries (default: next
    /// to this program).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Target a running apiserver (`https://host:port`) instead of starting one; needs
    /// --admin-kubeconfig. A controller-manager must already run against it; the signing
    /// comparison and the process figures are skipped.
    #[arg(long, requires = "admin_kubeconfig")]
    pub server: Option<url::Url>,
    /// Admin (system:masters) kubeconfig of the --server cluster.
    #[arg(long, requires = "server")]
    pub admin_kubeconfig: Option<PathBuf>,
    /// How long the whole bootstrap phase may take before the run gives up, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
}
