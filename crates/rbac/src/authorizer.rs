//! The authorizer trait, its decision, and the small authorizers: always-allow, privileged
//! groups, and the chain that asks several in order.

use crate::attributes::Attributes;
use crate::rules::UserRules;
use crate::user::{SYSTEM_MASTERS, UserInfo};

/// What an authorizer says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The request may proceed; later authorizers are not asked.
    Allow,
    /// The request is refused; later authorizers are not asked.
    Deny,
    /// This authorizer has nothing to say; ask the next one.
    NoOpinion,
}

/// One authorization step. Returns the decision and a reason (possibly empty), which the
/// apiserver appends to its 403 message and reports in SubjectAccessReview status.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String);

    /// What `user` may do in `namespace` (`""`: cluster-wide only), as far as this authorizer
    /// can list it. One that cannot says so (incomplete), rather than listing nothing.
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        let _ = (user, namespace);
        UserRules::unlisted("this authorizer does not support user rule resolution")
    }
}

/// Allows every request (`--authorization-mode=AlwaysAllow`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize(&self, _attributes: &Attributes) -> (Decision, String) {
        (Decision::Allow, String::new())
    }

    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> UserRules {
        UserRules::everything()
    }
}

/// Allows every request from a member of one of the groups, no opinion otherwise.
/// kube-apiserver puts this for `system:masters` first in its chain so superusers never
/// depend on RBAC objects being intact.
#[derive(Debug, Clone)]
pub struct PrivilegedGroups {
    groups: Vec<String>,
}

impl PrivilegedGroups {
    pub fn new(groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }
}

impl Default for PrivilegedGroups {
    /// `system:masters`, as kube-apiserver configures it.
    fn default() -> Self {
        Self::new([SYSTEM_MASTERS])
    }
}

impl Authorizer for PrivilegedGroups {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        if self.groups.iter().any(|g| attributes.user.in_group(g)) {
            (Decision::Allow, String::new())
        } else {
            (Decision::NoOpinion, String::new())
        }
    }

    /// Lists nothing, as upstream (it is no rule resolver there): superusers' rules come from
    /// the `cluster-admin` binding of `system:masters`.
    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> UserRules {
        UserRules::default()
    }
}

/// Asks authorizers in order; the first Allow or Deny wins. When every one has no opinion
/// the request is denied, with their reasons joined by newlines (as upstream's union
/// authorizer aggregates them).
pub struct Chain {
    authorizers: Vec<Box<dyn Authorizer>>,
}

impl Chain {
    pub fn new(authorizers: Vec<Box<dyn Authorizer>>) -> Self {
        Self { authorizers }
    }
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("authorizers", &self.authorizers.len())
            .finish()
    }
}

impl Authorizer for Chain {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        let mut reasons = Vec::new();
        for authorizer in &self.authorizers {
            let (decision, reason) = authorizer.authorize(attributes);
            match decision {
                Decision::Allow | Decision::Deny => return (decision, reason),
                Decision::NoOpinion => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
            }
        }
        (Decision::Deny, reasons.join("\n"))
    }

    /// Every authorizer's rules together (upstream's union).
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        let mut rules = UserRules::default();
        for authorizer in &self.authorizers {
            rules.merge(authorizer.rules_for(user, namespace));
        }
        rules
    }
}

impl<A: Authorizer + ?Sized> Authorizer for std::sync::Arc<A> {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        (**self).authorize(attributes)
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        (**self).rules_for(user, namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;

    /// A fixed answer, to observe the chain's ordering rules in isolation.
    struct Fixed(Decision, &'static str);

    impl Authorizer for Fixed {
        fn authorize(&self, _attributes: &Attributes) -> (Decision, String) {
            (self.0, self.1.to_string())
        }
    }

    fn request(groups: &[&str]) -> Attributes {
        Attributes::resource(
            UserInfo::new("u", groups.iter().copied()),
            "get",
            "",
            "secrets",
        )
    }

    #[test]
    fn chain_first_allow_or_deny_wins() {
        let allow_first = Chain::new(vec![
            Box::new(Fixed(Decision::NoOpinion, "a")),
            Box::new(Fixed(Decision::Allow, "b")),
            Box::new(Fixed(Decision::Deny, "c")),
        ]);
        assert_eq!(
            allow_first.authorize(&request(&[])),
            (Decision::Allow, "b".into())
        );
        let deny_first = Chain::new(vec![
            Box::new(Fixed(Decision::Deny, "no")),
            Box::new(Fixed(Decision::Allow, "yes")),
        ]);
        assert_eq!(
            deny_first.authorize(&request(&[])),
            (Decision::Deny, "no".into())
        );
    }

    #[test]
    fn chain_of_no_opinions_denies_with_joined_reasons() {
        let chain = Chain::new(vec![
            Box::new(Fixed(Decision::NoOpinion, "first")),
            Box::new(Fixed(Decision::NoOpinion, "")),
            Box::new(Fixed(Decision::NoOpinion, "third")),
        ]);
        assert_eq!(
            chain.authorize(&request(&[])),
            (Decision::Deny, "first\nthird".into())
        );
        let empty = Chain::new(Vec::new());
        assert_eq!(
            empty.authorize(&request(&[])),
            (Decision::Deny, String::new())
        );
    }

    #[test]
    fn privileged_groups_allow_members_only() {
        let privileged = PrivilegedGroups::default();
        assert_eq!(
            privileged.authorize(&request(&["system:masters"])).0,
            Decision::Allow
        );
        assert_eq!(
            privileged.authorize(&request(&["system:authenticated"])).0,
            Decision::NoOpinion
        );
    }

    #[test]
    fn always_allow_allows() {
        assert_eq!(AlwaysAllow.authorize(&request(&[])).0, Decision::Allow);
    }

    #[test]
    fn a_chain_lists_every_authorizers_rules() {
        let chain = Chain::new(vec![
            Box::new(PrivilegedGroups::default()),
            Box::new(Fixed(Decision::NoOpinion, "")),
            Box::new(AlwaysAllow),
        ]);
        let rules = chain.rules_for(&UserInfo::new("u", ["system:masters"]), "");
        // Privileged groups list nothing; the fixed one cannot list; always-allow lists `*`.
        assert!(rules.incomplete);
        assert_eq!(rules.resource_rules, UserRules::everything().resource_rules);
        assert_eq!(
            rules.evaluation_error(),
            "this authorizer does not support user rule resolution"
        );
    }
}
