//! The RBAC authorizer the apiserver keeps for its lifetime: requests read the current
//! [`Policy`] snapshot while writers swap in a rebuilt one.

use std::sync::{Arc, PoisonError, RwLock};

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::policy::Policy;

/// RBAC over a replaceable policy. Cheap to share (`Arc<RbacAuthorizer>`); each request
/// holds the read lock only long enough to clone an `Arc`, so evaluation never blocks a
/// policy swap and a swap never exposes a half-built policy.
#[derive(Debug, Default)]
pub struct RbacAuthorizer {
    current: RwLock<Arc<Policy>>,
}

impl RbacAuthorizer {
    pub fn new(policy: Policy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// Replaces the policy atomically: requests already evaluating finish on the old one.
    pub fn set_policy(&self, policy: Policy) {
        let policy = Arc::new(policy);
        // A panic elsewhere while holding the lock cannot leave the Arc half-written, so a
        // poisoned lock is still safe to use.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// The policy in force right now.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Authorizer for RbacAuthorizer {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        self.policy().evaluate(attributes)
    }
}
