//! Async HTTPS client for the Kubernetes API served by our apiserver.
//!
//! Built from a kubeconfig (`Client::from_kubeconfig`): rustls with the aws-lc-rs provider,
//! trusting only the kubeconfig's CA, HTTP/2 (ALPN) with connection reuse through the
//! hyper-util pool. Typed CRUD for the kinds of `protocol` (`get`, `list`, `create`, `update`,
//! `update_subresource`, `patch`, `delete`), a list-then-watch that resumes without losing or
//! repeating events (`watch`), retries with capped jittered backoff on connection errors, 5xx
//! and 429, and an identity (client certificate or token) that can be swapped at runtime
//! (`set_identity`), as the kubelet-agent does when it rotates its certificate.
//! No client-side QPS throttle: a bootstrap storm is the server's to shape.
//!
//! [`delegated`] is the other side of TokenReview and SubjectAccessReview: how a component's
//! secure port asks the apiserver who a caller is and what it may do; [`client_ca`] follows
//! that port's `--client-ca-file`.

mod api;
mod client;
pub mod client_ca;
pub mod clock;
mod config;
mod connector;
pub mod delegated;
mod error;
mod path;
mod tls;
mod watch;

pub use api::{ObjectList, Patch, retry_on_conflict};
pub use client::{Client, RawResponse};
pub use config::{ClientConfig, RetryPolicy};
pub use error::ClientError;
pub use kubeconfig::Identity;
pub use path::{ListParams, collection_path, group_version_prefix, object_path};
pub use watch::{Event, WatchEvent, Watcher};
