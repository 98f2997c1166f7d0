//! The Kubernetes API objects this system serves, in their wire forms.
//!
//! Every top-level kind is one Rust struct that derives both serde (JSON exactly as Kubernetes
//! writes it: camelCase, omitempty, RFC 3339 times) and `prost::Message` (field numbers of the
//! upstream `generated.proto`), so the same value can be read from a kubectl protobuf body and
//! written back as JSON. The crate does no I/O and depends on no other crate of this workspace.
//!
//! Modules follow the API groups (`meta`, `core::v1`, `certificates::v1`, `rbac::v1`,
//! `coordination::v1`, `authentication::v1`, `authorization::v1`, and our own
//! `revocation::v1alpha1`); `envelope` is the protobuf `k8s\0` framing,
//! `discovery` the served resources and discovery documents, `table` the server-side printing.

pub mod authentication;
pub mod authorization;
pub mod certificates;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod envelope;
pub mod meta;
pub mod rbac;
mod resource;
pub mod revocation;
mod serde_helpers;
pub mod table;

pub use envelope::ProtocolError;
pub use resource::{ListResource, Resource, Typed};
