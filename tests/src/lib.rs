//! Helpers for the cross-binary tests in `tests/tests/`: locate the built binaries, make a PKI,
//! start programs on free loopback ports, run the real `kubectl`, and speak raw HTTPS where
//! kubectl cannot (bad bodies, chosen content types, watches from a resourceVersion).
//!
//! Every wait is bounded and fails with a message that says what was awaited; every child
//! process is killed when its owner is dropped.

pub mod cluster;
pub mod csr;
pub mod https;
pub mod kubectl;
pub mod paths;
pub mod process;
pub mod wait;

pub use cluster::{Cluster, Stop};
pub use https::{Https, Response};
pub use kubectl::{Kubectl, Output};
