//! apiserver: a Kubernetes-compatible API server for kubelet TLS bootstrapping.
//!
//! Serving (TLS, authentication, authorization, metrics) lives beside `api`, which holds the REST
//! handlers; the two meet at [`api::Api::handle`].

pub mod api;
pub mod body;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
