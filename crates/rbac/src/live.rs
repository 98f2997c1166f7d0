//! The RBAC authorizer the apiserver keeps for its lifetime: requests read the current
//! [`Policy`] snapshot while writers swap in a rebuilt one.

use std::sync::{Arc, PoisonError, RwLock};

use protocol::rbac::v1::PolicyRule;

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::escalation::RuleResolver;
use crate::policy::Policy;
use crate::rules::UserRules;
use crate::user::UserInfo;

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

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        self.policy().rules_for(user, namespace)
    }
}

impl RuleResolver for RbacAuthorizer {
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        self.policy().rules_for(user, namespace)
    }

    fn role_rules(&self, kind: &str, name: &str, namespace: &str) -> Option<Arc<[PolicyRule]>> {
        self.policy().role_rules(kind, name, namespace)
    }
}

impl RuleResolver for Policy {
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        Policy::rules_for(self, user, namespace)
    }

    fn role_rules(&self, kind: &str, name: &str, namespace: &str) -> Option<Arc<[PolicyRule]>> {
        Policy::role_rules(self, kind, name, namespace)
    }
}

#[cfg(test)]
mod tests {
    use protocol::meta::ObjectMeta;
    use protocol::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};

    use super::*;
    use crate::user::UserInfo;

    #[test]
    fn readers_see_whole_policies_while_writers_swap() {
        let (roles, mut bindings) = crate::bootstrap::default_policy();
        bindings.push(ClusterRoleBinding {
            metadata: ObjectMeta::named("create-csrs-for-bootstrapping"),
            subjects: vec![Subject::group("system:bootstrappers")],
            role_ref: RoleRef::cluster_role("system:node-bootstrapper"),
        });
        let with_binding = || Policy::new(&roles, &bindings, &[], &[]);
        let without_binding = || Policy::new(&roles, &bindings[..bindings.len() - 1], &[], &[]);
        let authorizer = Arc::new(RbacAuthorizer::new(with_binding()));
        let user = UserInfo::new("system:bootstrap:x", ["system:bootstrappers"]);
        let create = Attributes::resource(
            user,
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        );
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let authorizer = Arc::clone(&authorizer);
                let create = create.clone();
                scope.spawn(move || {
                    for _ in 0..2000 {
                        let (decision, reason) = authorizer.authorize(&create);
                        // Either policy, never a mix: an Allow always names the binding.
                        match decision {
                            Decision::Allow => {
                                assert!(reason.contains("create-csrs-for-bootstrapping"))
                            }
                            other => assert_eq!(other, Decision::NoOpinion),
                        }
                    }
                });
            }
            for i in 0..200 {
                authorizer.set_policy(if i % 2 == 0 {
                    without_binding()
                } else {
                    with_binding()
                });
            }
        });
        // 200 swaps, the last one (i = 199) installed the policy with the binding.
        assert_eq!(authorizer.authorize(&create).0, Decision::Allow);
    }
}
