//! controller-manager: kube-controller-manager's certificate controllers over the real API.
//!
//! * `csrapproving` ([`approver`]) approves kubelet client CSRs a SubjectAccessReview allows
//!   (an allowed answer is reused for a few seconds, [`review_cache`]), and nodes' own serving
//!   CSRs when allowed and their names are the node's ([`node_addresses`]); a bootstrap token
//!   bound to one node is approved for that node only ([`token_binding`]);
//! * `csrsigning` ([`signer`]) signs approved CSRs with the cluster CA (reloaded from disk);
//! * `csrcleaner` ([`cleaner`]) deletes CSRs past upstream's retention;
//! * `tokencleaner` ([`token_cleaner`], off unless named, as upstream) deletes expired bootstrap
//!   tokens, and single-use ones once their node is up;
//! * `root-ca-cert-publisher` ([`root_ca_publisher`]) keeps the CA bundle (`--root-ca-file`,
//!   else the kubeconfig's CA, as upstream) in `kube-root-ca.crt` in every namespace, with the
//!   CAs the kubelet signers sign with now, and counts the Nodes' progress through a CA
//!   rotation ([`root_ca_fleet`]).
//!
//! The kubeconfigs are re-read when they change ([`kubeconfig_reload`]).
//!
//! They are driven by one CSR watch ([`informer`]) through bounded, deduplicating work queues
//! with per-item backoff ([`queue`]), and run only while this process holds the leader Lease
//! ([`leader`]). The secure port ([`serving`]) answers health and metrics to whom the
//! apiserver says may read them (`client::delegated`). [`run`] is the whole program over an
//! injected health/metrics listener and shutdown future, so tests run it in-process.

pub mod aggregation;
pub mod approver;
pub mod ca_provider;
pub mod cleaner;
pub mod client_ca_lookup;
pub mod controllers;
pub mod csr;
pub mod explain;
pub mod flags;
pub mod informer;
pub mod kubeconfig_reload;
mod lazy_index;
pub mod leader;
pub mod metrics;
pub mod node_addresses;
pub mod pending_dedup;
pub mod queue;
pub mod review_cache;
pub mod revoked_users;
pub mod root_ca_fleet;
pub mod root_ca_publisher;
mod run;
pub mod serving;
pub mod signer;
pub mod supersede;
#[cfg(test)]
mod test_files;
pub mod token_binding;
pub mod token_cleaner;
pub mod worker;

pub use flags::{Args, Config, ConfigError, LogFormat};
pub use run::{RunError, USER_AGENT, run};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
