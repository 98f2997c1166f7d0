//! The kubelet's node-side API logic, shared by the `kubelet-agent` program and the
//! `bootstrap-storm` benchmark (which runs thousands of these in one process): the bootstrap
//! CSR and its wait (`bootstrap`, `csr`), the cert-dir file layout (`cert_store`), certificate
//! rotation (`cert_manager`), Node registration and the Lease heartbeat (`node`), the
//! counters the agent's endpoints report (`state`), following a CA rotation (`root_ca`,
//! started by the kubelet-agent only), and what to say when the apiserver's
//! certificate seems expired or not yet valid (`clock`).
//!
//! Everything talks to the apiserver through the `client` crate only.

pub mod backoff;
pub mod bootstrap;
pub mod cert_manager;
pub mod cert_store;
pub mod clock;
pub mod csr;
pub mod node;
pub mod root_ca;
pub mod state;

/// The version the user agent reports (the workspace version, shared with kubelet-agent).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
