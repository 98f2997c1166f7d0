//! apiserver: a Kubernetes-compatible API server for kubelet TLS bootstrapping.
//!
//! Serving (TLS, authentication, authorization, metrics) lives beside `api`, which holds the REST
//! handlers; the two meet at [`api::Api::handle`]. [`run`] is the whole server over an injected
//! listener and shutdown future, so tests run it in-process.

pub mod api;
pub mod authn;
pub mod authz;
pub mod body;
pub mod caches;
pub mod cluster_authentication;
pub mod event_ttl;
pub mod flags;
pub mod metrics;
pub mod openapi;
pub mod request_info;
pub mod seed;
pub mod server;
pub mod tls;

pub use flags::Config;
pub use server::{ServeError, run, run_with_store};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
