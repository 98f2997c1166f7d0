//! Authorization for the apiserver: Kubernetes RBAC evaluation over a replaceable policy,
//! escalation prevention for RBAC writes, the Node authorizer, the ABAC authorizer and its policy-file format, the privileged-groups
//! and always-allow authorizers, the chain that combines them, the default bootstrap policy,
//! and the exact 403 message.
//!
//! Pure functions over `protocol` types: no I/O, no clock (the apiserver reads the ABAC
//! policy file and hands its text to [`abac::parse_policy_file`]).

pub mod abac;
mod attributes;
mod authorizer;
pub mod bootstrap;
pub mod escalation;
mod forbidden;
mod live;
mod node;
mod policy;
pub mod rule;
mod rules;
pub mod user;

pub use abac::{AbacAuthorizer, AbacPolicy};
pub use attributes::Attributes;
pub use authorizer::{AlwaysAllow, Authorizer, Chain, Decision, PrivilegedGroups};
pub use escalation::RuleResolver;
pub use forbidden::forbidden_message;
pub use live::RbacAuthorizer;
pub use node::{NODE_LEASE_NAMESPACE, NodeAuthorizer};
pub use policy::Policy;
pub use rules::UserRules;
pub use user::UserInfo;
