//! `lab`: the one-command local cluster of this project, and the operator subcommands it is
//! built from (make a CA, make a bootstrap token, print certificate expiry).
//!
//! `lab up` prepares a state folder (CA, serving and client certificates, kubeconfigs, a
//! bootstrap token), starts the apiserver, the controller-manager and N kubelet-agents as
//! separate processes on loopback, seeds the bootstrap bindings through the API and shows each
//! node bootstrapping — read from the API with watches, never from the children's files.
//! It uses the workspace crates (`pki`, `kubeconfig`, `protocol`, `client`) and no second
//! implementation of anything they do; the programs are only started, never linked.

pub mod api;
pub mod binaries;
pub mod ca_rotation;
pub mod children;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod down;
pub mod duration;
pub mod expiry;
pub mod files;
pub mod init;
pub mod node;
pub mod ops;
pub mod ports;
pub mod progress;
pub mod state;
pub mod table;
pub mod token;
pub mod tokens;
pub mod up;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
