//! The ABAC authorizer (`--authorization-mode=ABAC`): a fixed list of policies read once from
//! `--authorization-policy-file`, each allowing one subject one kind of request. Matching and
//! rule listing as upstream's `pkg/auth/authorizer/abac/abac.go`; the file format is in
//! [`file`].

mod file;

use protocol::authorization::v1::{NonResourceRule, ResourceRule};

pub use file::{PolicyFile, PolicyFileError, PolicyLineError, parse_policy_file};

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::rule::ALL;
use crate::rules::UserRules;
use crate::user::UserInfo;

/// The reason upstream gives when no policy matches; the chain shows it in the 403 message.
pub const NO_POLICY_MATCHED: &str = "No policy matched.";

/// One policy in its converted form (upstream's internal `abac.PolicySpec`): what the v0 and
/// v1beta1 file lines become. Empty strings match only empty request values, `*` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbacPolicy {
    /// The username, `*` for any, `""` to leave the subject to `group`.
    pub user: String,
    /// One of the user's groups, `*` for any, `""` to leave the subject to `user`.
    pub group: String,
    /// Only `get`, `list` and `watch` when true; every verb when false.
    pub readonly: bool,
    pub api_group: String,
    pub resource: String,
    /// `*` matches every namespace and cluster-scoped requests; `""` only cluster-scoped ones.
    pub namespace: String,
    /// A URL path, `*` for every path, or `/prefix/*` for every path under `/prefix/`.
    pub non_resource_path: String,
}

impl AbacPolicy {
    /// Whether the policy allows the request (upstream's `matches`).
    pub fn matches(&self, attributes: &Attributes) -> bool {
        self.subject_matches(&attributes.user)
            && self.verb_matches(&attributes.verb)
            && (self.resource_matches(attributes) || self.non_resource_matches(attributes))
    }

    /// A user named and a group named must both match; a policy naming neither matches nobody.
    fn subject_matches(&self, user: &UserInfo) -> bool {
        let by_user = match self.user.as_str() {
            "" => None,
            ALL => Some(true),
            name => Some(name == user.name),
        };
        let by_group = match self.group.as_str() {
            "" => None,
            ALL => Some(true),
            group => Some(user.in_group(group)),
        };
        match (by_user, by_group) {
            (None, None) => false,
            (Some(matched), None) | (None, Some(matched)) => matched,
            (Some(user), Some(group)) => user && group,
        }
    }

    /// Read-only requests pass every policy; others need a policy that is not read-only.
    fn verb_matches(&self, verb: &str) -> bool {
        is_read_only(verb) || !self.readonly
    }

    /// Subresources are not looked at: a policy for `certificatesigningrequests` covers
    /// `certificatesigningrequests/approval` too, as upstream.
    fn resource_matches(&self, attributes: &Attributes) -> bool {
        attributes.resource_request
            && wildcard_or_equal(&self.namespace, &attributes.namespace)
            && wildcard_or_equal(&self.resource, &attributes.resource)
            && wildcard_or_equal(&self.api_group, &attributes.api_group)
    }

    fn non_resource_matches(&self, attributes: &Attributes) -> bool {
        if attributes.resource_request {
            return false;
        }
        let path = self.non_resource_path.as_str();
        if path == ALL || path == attributes.path {
            return true;
        }
        // `/root/*` covers `/root/` and everything below it, not `/root` itself.
        path.ends_with('*') && attributes.path.starts_with(path.trim_end_matches('*'))
    }

    /// The verbs a listed rule shows for this policy.
    fn verbs(&self) -> Vec<String> {
        if self.readonly {
            READ_ONLY_VERBS.iter().map(|v| v.to_string()).collect()
        } else {
            vec![ALL.to_string()]
        }
    }
}

/// The verbs upstream's `IsReadOnly` accepts.
const READ_ONLY_VERBS: [&str; 3] = ["get", "list", "watch"];

fn is_read_only(verb: &str) -> bool {
    READ_ONLY_VERBS.contains(&verb)
}

fn wildcard_or_equal(policy: &str, request: &str) -> bool {
    policy == ALL || policy == request
}

/// Allows a request when any policy matches; otherwise no opinion, so the next mode decides.
/// The policies never change after start-up (upstream does not reload the file either).
#[derive(Debug, Clone, Default)]
pub struct AbacAuthorizer {
    policies: Vec<AbacPolicy>,
}

impl AbacAuthorizer {
    pub fn new(policies: Vec<AbacPolicy>) -> Self {
        Self { policies }
    }

    pub fn policies(&self) -> &[AbacPolicy] {
        &self.policies
    }
}

impl Authorizer for AbacAuthorizer {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        if self.policies.iter().any(|p| p.matches(attributes)) {
            (Decision::Allow, String::new())
        } else {
            (Decision::NoOpinion, NO_POLICY_MATCHED.to_string())
        }
    }

    /// Each policy of the user's that applies in `namespace` becomes a resource rule when it
    /// names a resource and a non-resource rule when it names a path; both when it names both.
    /// Complete: ABAC allows nothing it cannot list.
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        let mut rules = UserRules::default();
        for policy in &self.policies {
            if !policy.subject_matches(user) || !wildcard_or_equal(&policy.namespace, namespace) {
                continue;
            }
            if !policy.resource.is_empty() {
                rules.resource_rules.push(ResourceRule {
                    verbs: policy.verbs(),
                    api_groups: vec![policy.api_group.clone()],
                    resources: vec![policy.resource.clone()],
                    resource_names: Vec::new(),
                });
            }
            if !policy.non_resource_path.is_empty() {
                rules.non_resource_rules.push(NonResourceRule {
                    verbs: policy.verbs(),
                    non_resource_urls: vec![policy.non_resource_path.clone()],
                });
            }
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::user::{SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED};

    /// The policies the table below is evaluated against, one of each shape.
    const POLICIES: &str = r#"
# read-only for everyone authenticated, on events anywhere
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"group":"system:authenticated","readonly":true,"apiGroup":"*","resource":"events","namespace":"*"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"reader","readonly":true,"apiGroup":"certificates.k8s.io","resource":"certificatesigningrequests","namespace":""}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"alice","apiGroup":"*","resource":"*","namespace":"project"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"grouped","group":"team","resource":"pods","namespace":"*"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"group":"ops","apiGroup":"","resource":"nodes","namespace":""}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"group":"system:unauthenticated","readonly":true,"nonResourcePath":"/healthz"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"*","readonly":true,"nonResourcePath":"/version"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"prober","nonResourcePath":"/metrics/*"}}
{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"root","apiGroup":"*","resource":"*","namespace":"*","nonResourcePath":"*"}}
"#;

    fn authorizer() -> AbacAuthorizer {
        let file = parse_policy_file(POLICIES, Path::new("policy.jsonl")).expect("policies");
        AbacAuthorizer::new(file.policies)
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo::new(name, groups.iter().copied())
    }

    fn authenticated(name: &str) -> UserInfo {
        user(name, &[SYSTEM_AUTHENTICATED])
    }

    fn anonymous() -> UserInfo {
        user("system:anonymous", &[SYSTEM_UNAUTHENTICATED])
    }

    fn resource(user: UserInfo, verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
        Attributes::resource(user, verb, group, resource).with_namespace(ns)
    }

    fn path(user: UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes::non_resource(user, verb, path)
    }

    const CSR_GROUP: &str = "certificates.k8s.io";
    const CSRS: &str = "certificatesigningrequests";

    #[test]
    fn requests_are_allowed_by_matching_policies_only() {
        let abac = authorizer();
        let cases: Vec<(&str, Attributes, bool)> = vec![
            // A group policy for system:authenticated: every signed-in user, nobody anonymous.
            (
                "authenticated reads events",
                resource(authenticated("chuck"), "list", "", "events", "ns1"),
                true,
            ),
            (
                "events.k8s.io events too (apiGroup *)",
                resource(
                    authenticated("chuck"),
                    "watch",
                    "events.k8s.io",
                    "events",
                    "",
                ),
                true,
            ),
            (
                "readonly refuses create",
                resource(authenticated("chuck"), "create", "", "events", "ns1"),
                false,
            ),
            (
                "anonymous is not authenticated",
                resource(anonymous(), "get", "", "events", "ns1"),
                false,
            ),
            // A user policy, read-only, one resource of one API group, cluster scope.
            (
                "reader lists CSRs",
                resource(authenticated("reader"), "list", CSR_GROUP, CSRS, ""),
                true,
            ),
            (
                "reader gets a CSR",
                resource(authenticated("reader"), "get", CSR_GROUP, CSRS, "").with_name("c"),
                true,
            ),
            (
                "reader cannot delete",
                resource(authenticated("reader"), "delete", CSR_GROUP, CSRS, ""),
                false,
            ),
            (
                "reader cannot approve",
                resource(authenticated("reader"), "update", CSR_GROUP, CSRS, "")
                    .with_subresource("approval"),
                false,
            ),
            (
                "subresources are not looked at",
                resource(authenticated("reader"), "get", CSR_GROUP, CSRS, "")
                    .with_subresource("status"),
                true,
            ),
            (
                "empty namespace is cluster scope only",
                resource(authenticated("reader"), "list", CSR_GROUP, CSRS, "ns1"),
                false,
            ),
            (
                "the API group must match",
                resource(authenticated("reader"), "list", "other.io", CSRS, ""),
                false,
            ),
            (
                "user names are case-sensitive",
                resource(authenticated("Reader"), "list", CSR_GROUP, CSRS, ""),
                false,
            ),
            (
                "user names are not prefixes",
                resource(authenticated("reader2"), "list", CSR_GROUP, CSRS, ""),
                false,
            ),
            // Everything in one namespace.
            (
                "alice writes in her namespace",
                resource(
                    authenticated("alice"),
                    "delete",
                    "apps",
                    "deployments",
                    "project",
                ),
                true,
            ),
            (
                "alice not elsewhere",
                resource(authenticated("alice"), "get", "", "pods", "other"),
                false,
            ),
            (
                "alice not at cluster scope",
                resource(authenticated("alice"), "get", "", "namespaces", ""),
                false,
            ),
            (
                "a resource policy never matches a path",
                path(authenticated("alice"), "get", "/project"),
                false,
            ),
            // User and group together must both match.
            (
                "grouped in team",
                resource(user("grouped", &["team"]), "create", "", "pods", "ns1"),
                true,
            ),
            (
                "grouped outside team",
                resource(user("grouped", &["other"]), "create", "", "pods", "ns1"),
                false,
            ),
            (
                "someone else in team",
                resource(user("other", &["team"]), "create", "", "pods", "ns1"),
                false,
            ),
            (
                "empty apiGroup is the core group only",
                resource(user("x", &["ops"]), "update", "", "nodes", ""),
                true,
            ),
            (
                "not another group's nodes",
                resource(user("x", &["ops"]), "update", "other.io", "nodes", ""),
                false,
            ),
            // Non-resource paths: exact, `*`, prefix.
            (
                "anonymous healthz",
                path(anonymous(), "get", "/healthz"),
                true,
            ),
            (
                "readonly path refuses post",
                path(anonymous(), "post", "/healthz"),
                false,
            ),
            (
                "exact path only",
                path(anonymous(), "get", "/healthz/etcd"),
                false,
            ),
            (
                "user * is every authenticated user",
                path(authenticated("chuck"), "get", "/version"),
                true,
            ),
            (
                "user * is not anonymous",
                path(anonymous(), "get", "/version"),
                false,
            ),
            (
                "prefix covers sub paths",
                path(authenticated("prober"), "get", "/metrics/slis"),
                true,
            ),
            (
                "prefix covers the slash",
                path(authenticated("prober"), "post", "/metrics/"),
                true,
            ),
            (
                "prefix does not cover the bare path",
                path(authenticated("prober"), "get", "/metrics"),
                false,
            ),
            (
                "a path policy never matches a resource",
                resource(authenticated("prober"), "get", "", "metrics", ""),
                false,
            ),
            // Everything.
            (
                "root anywhere",
                resource(authenticated("root"), "deletecollection", "x.io", "y", "z"),
                true,
            ),
            (
                "root any path",
                path(authenticated("root"), "put", "/anything"),
                true,
            ),
            (
                "nobody else",
                resource(authenticated("mallory"), "get", "", "secrets", "ns1"),
                false,
            ),
        ];
        for (name, request, allowed) in cases {
            let (decision, reason) = abac.authorize(&request);
            if allowed {
                assert_eq!((decision, reason.as_str()), (Decision::Allow, ""), "{name}");
            } else {
                assert_eq!(
                    (decision, reason.as_str()),
                    (Decision::NoOpinion, NO_POLICY_MATCHED),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn no_policies_have_no_opinion() {
        let empty = AbacAuthorizer::default();
        let request = resource(authenticated("a"), "get", "", "pods", "ns");
        assert_eq!(empty.authorize(&request).0, Decision::NoOpinion);
        assert_eq!(
            empty.rules_for(&authenticated("a"), "ns"),
            UserRules::default()
        );
    }

    #[test]
    fn a_policy_naming_no_subject_matches_nobody() {
        let policy = AbacPolicy {
            resource: ALL.into(),
            namespace: ALL.into(),
            api_group: ALL.into(),
            ..AbacPolicy::default()
        };
        let request = resource(authenticated("a"), "get", "", "pods", "ns");
        assert!(!policy.matches(&request));
        // Wildcards built in code (not through the file, which converts them) match anyone.
        let any_user = AbacPolicy {
            user: ALL.into(),
            ..policy.clone()
        };
        assert!(any_user.matches(&resource(anonymous(), "get", "", "pods", "ns")));
        let any_group = AbacPolicy {
            group: ALL.into(),
            ..policy
        };
        assert!(any_group.matches(&request));
    }

    fn resource_rule(verbs: &[&str], group: &str, resource: &str) -> ResourceRule {
        ResourceRule {
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            api_groups: vec![group.to_string()],
            resources: vec![resource.to_string()],
            resource_names: Vec::new(),
        }
    }

    fn path_rule(verbs: &[&str], url: &str) -> NonResourceRule {
        NonResourceRule {
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            non_resource_urls: vec![url.to_string()],
        }
    }

    const READ: &[&str] = &["get", "list", "watch"];

    #[test]
    fn rules_list_the_users_policies_in_the_namespace() {
        let abac = authorizer();
        let reader = abac.rules_for(&authenticated("reader"), "");
        assert_eq!(
            reader.resource_rules,
            vec![
                resource_rule(READ, "*", "events"),
                resource_rule(READ, CSR_GROUP, CSRS),
            ]
        );
        assert_eq!(reader.non_resource_rules, vec![path_rule(READ, "/version")]);
        assert!(!reader.incomplete);
        assert!(reader.errors.is_empty());

        // In a namespace the cluster-scoped (namespace "") policies drop out.
        let in_namespace = abac.rules_for(&authenticated("reader"), "ns1");
        assert_eq!(
            in_namespace.resource_rules,
            vec![resource_rule(READ, "*", "events")]
        );

        let alice = abac.rules_for(&authenticated("alice"), "project");
        assert_eq!(
            alice.resource_rules,
            vec![
                resource_rule(READ, "*", "events"),
                resource_rule(&["*"], "*", "*"),
            ]
        );

        // One policy naming both a resource and a path lists both.
        let root = abac.rules_for(&authenticated("root"), "any");
        assert!(
            root.resource_rules
                .contains(&resource_rule(&["*"], "*", "*"))
        );
        assert!(root.non_resource_rules.contains(&path_rule(&["*"], "*")));

        let anonymous_rules = abac.rules_for(&anonymous(), "");
        assert!(anonymous_rules.resource_rules.is_empty());
        assert_eq!(
            anonymous_rules.non_resource_rules,
            vec![path_rule(READ, "/healthz")]
        );
        // As upstream, the namespace filters path policies too: one without a namespace is
        // listed for the cluster scope only.
        assert_eq!(abac.rules_for(&anonymous(), "ns1"), UserRules::default());
    }
}
