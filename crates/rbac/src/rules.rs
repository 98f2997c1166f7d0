//! A user's permissions listed rather than checked one request at a time: upstream's
//! `RuleResolver.RulesFor`, what a SelfSubjectRulesReview (`kubectl auth can-i --list`) shows.

use protocol::authorization::v1::{NonResourceRule, ResourceRule};
use protocol::rbac::v1::PolicyRule;

use crate::rule::ALL;

/// What the authorizers can list of a user's permissions in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRules {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    /// Some authorizer allows more than it can list (the Node authorizer for nodes).
    pub incomplete: bool,
    /// Why some rules could not be listed (a binding's role not found, ...).
    pub errors: Vec<String>,
}

impl UserRules {
    /// Everything, as the always-allow authorizer lists it.
    pub fn everything() -> UserRules {
        let all = || vec![ALL.to_string()];
        UserRules {
            resource_rules: vec![ResourceRule {
                verbs: all(),
                api_groups: all(),
                resources: all(),
                resource_names: Vec::new(),
            }],
            non_resource_rules: vec![NonResourceRule {
                verbs: all(),
                non_resource_urls: all(),
            }],
            ..UserRules::default()
        }
    }

    /// An authorizer that cannot list what it allows.
    pub fn unlisted(error: impl Into<String>) -> UserRules {
        UserRules {
            incomplete: true,
            errors: vec![error.into()],
            ..UserRules::default()
        }
    }

    /// Adds a role's rules, split as upstream splits them: the resource part of a rule that
    /// names resources, the URL part of one that names non-resource URLs.
    pub fn add_policy_rules(&mut self, rules: &[PolicyRule]) {
        for rule in rules {
            if !rule.resources.is_empty() {
                self.resource_rules.push(ResourceRule {
                    verbs: rule.verbs.clone(),
                    api_groups: rule.api_groups.clone(),
                    resources: rule.resources.clone(),
                    resource_names: rule.resource_names.clone(),
                });
            }
            if !rule.non_resource_urls.is_empty() {
                self.non_resource_rules.push(NonResourceRule {
                    verbs: rule.verbs.clone(),
                    non_resource_urls: rule.non_resource_urls.clone(),
                });
            }
        }
    }

    /// Another authorizer's answer added to this one (upstream's union).
    pub fn merge(&mut self, other: UserRules) {
        self.resource_rules.extend(other.resource_rules);
        self.non_resource_rules.extend(other.non_resource_rules);
        self.incomplete |= other.incomplete;
        self.errors.extend(other.errors);
    }

    /// Upstream's aggregated error text: one error as it is, several as `[a, b]`.
    pub fn evaluation_error(&self) -> String {
        match self.errors.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_split_into_resource_and_url_parts() {
        let mut rules = UserRules::default();
        rules.add_policy_rules(&[
            PolicyRule {
                verbs: vec!["get".into()],
                api_groups: vec!["".into()],
                resources: vec!["secrets".into()],
                resource_names: vec!["s1".into()],
                ..Default::default()
            },
            PolicyRule {
                verbs: vec!["get".into()],
                non_resource_urls: vec!["/healthz".into()],
                ..Default::default()
            },
        ]);
        assert_eq!(rules.resource_rules.len(), 1);
        assert_eq!(rules.resource_rules[0].resource_names, ["s1"]);
        assert_eq!(rules.non_resource_rules.len(), 1);
        assert_eq!(rules.non_resource_rules[0].non_resource_urls, ["/healthz"]);
        assert!(!rules.incomplete);
    }

    #[test]
    fn merging_keeps_incompleteness_and_aggregates_errors() {
        let mut rules = UserRules::everything();
        assert_eq!(rules.evaluation_error(), "");
        rules.merge(UserRules::unlisted("a"));
        assert!(rules.incomplete);
        assert_eq!(rules.evaluation_error(), "a");
        rules.merge(UserRules::unlisted("b"));
        assert_eq!(rules.evaluation_error(), "[a, b]");
        assert_eq!(rules.resource_rules.len(), 1);
    }
}
