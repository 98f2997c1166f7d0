//! kubectl-compatible kubeconfig files: read and write them exactly as kubectl does
//! (unknown fields survive a round trip), and resolve a context into what a TLS client
//! needs (server, trusted CA, client identity).
//!
//! Layers: [`model`] is the file, field for field; `file` loads and saves it (atomic,
//! mode 0600); `resolve` turns a context into a [`ResolvedConfig`]; `build` makes the two
//! files this project writes.

mod atomic;
mod build;
mod data;
mod edit;
mod error;
mod file;
pub mod model;
mod resolve;
mod yaml;

pub use atomic::{PRIVATE_FILE_MODE, write_private_file};
pub use build::{KUBELET_CLUSTER_NAME, KUBELET_CONTEXT_NAME, KUBELET_USER_NAME};
pub use error::KubeconfigError;
pub use model::Kubeconfig;
pub use resolve::{Identity, ResolvedConfig};

/// The only `apiVersion` kubectl writes for kubeconfig files.
pub const API_VERSION: &str = "v1";
/// The only `kind` kubectl writes for kubeconfig files.
pub const KIND: &str = "Config";
