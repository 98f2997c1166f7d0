//! apiserver: a Kubernetes-compatible API server for kubelet TLS bootstrapping.

pub mod body;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
