//! An immutable snapshot of the RBAC objects, indexed by subject so a request only looks at
//! the bindings that name its user, one of its groups, or its service account.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::forbidden::go_quote;
use crate::rule::rules_allow;
use crate::rules::UserRules;
use crate::user::{UserInfo, service_account_username};

/// The RBAC objects at one moment, ready to evaluate requests against. Build a new one on
/// every RBAC write and hand it to [`crate::RbacAuthorizer::set_policy`].
#[derive(Debug, Default)]
pub struct Policy {
    cluster: BindingSet,
    namespaced: HashMap<String, BindingSet>,
    /// Rules by ClusterRole name, and of Roles by namespace and name: what bindings resolve to.
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    roles: HashMap<String, HashMap<String, Arc<[PolicyRule]>>>,
}

/// Bindings of one scope (cluster-wide, or one namespace) and their subject index.
#[derive(Debug, Default)]
struct BindingSet {
    bindings: Vec<ResolvedBinding>,
    /// Username (users and service accounts) -> (binding, subject) positions.
    by_user: HashMap<String, Vec<(usize, usize)>>,
    /// Group name -> (binding, subject) positions.
    by_group: HashMap<String, Vec<(usize, usize)>>,
}

/// A binding with its role reference already resolved.
#[derive(Debug)]
struct ResolvedBinding {
    /// `ClusterRoleBinding "x"` or `RoleBinding "x/ns"`, as upstream describes the source.
    description: String,
    /// `ClusterRole "y"` or `Role "y"`.
    role: String,
    /// How each subject is named in reasons (`Group "z"`, `ServiceAccount "name/ns"`).
    subjects: Vec<String>,
    /// The role's rules, or upstream's error text when the role cannot be resolved.
    rules: Result<Arc<[PolicyRule]>, String>,
}

/// Where a subject points, once normalised for lookup.
enum SubjectKey {
    User(String),
    Group(String),
}

impl Policy {
    /// Indexes the given objects. Bindings keep their given order, which decides which
    /// binding is named in an Allow reason when several would allow.
    pub fn new(
        cluster_roles: &[ClusterRole],
        cluster_role_bindings: &[ClusterRoleBinding],
        roles: &[Role],
        role_bindings: &[RoleBinding],
    ) -> Self {
        let mut policy = Policy::default();
        for role in cluster_roles {
            policy.cluster_roles.insert(
                object_name(&role.metadata).to_string(),
                Arc::from(role.rules.clone()),
            );
        }
        for role in roles {
            policy
                .roles
                .entry(object_namespace(&role.metadata).to_string())
                .or_default()
                .insert(
                    object_name(&role.metadata).to_string(),
                    Arc::from(role.rules.clone()),
                );
        }
        for binding in cluster_role_bindings {
            let name = object_name(&binding.metadata);
            let role_ref = &binding.role_ref;
            // A Role reference resolves in namespace "" and so is never found, as upstream.
            let rules = policy.resolve(&role_ref.kind, &role_ref.name, "");
            policy.cluster.add(
                ResolvedBinding {
                    description: format!("ClusterRoleBinding {}", go_quote(name)),
                    role: format!("{} {}", role_ref.kind, go_quote(&role_ref.name)),
                    subjects: describe_subjects(&binding.subjects, ""),
                    rules,
                },
                &binding.subjects,
                "",
            );
        }
        for binding in role_bindings {
            let namespace = object_namespace(&binding.metadata);
            if namespace.is_empty() {
                continue; // Not a valid RoleBinding; the apiserver's validation rejects it.
            }
            let name = object_name(&binding.metadata);
            let role_ref = &binding.role_ref;
            let rules = policy.resolve(&role_ref.kind, &role_ref.name, namespace);
            policy
                .namespaced
                .entry(namespace.to_string())
                .or_default()
                .add(
                    ResolvedBinding {
                        description: format!(
                            "RoleBinding {}",
                            go_quote(&format!("{name}/{namespace}"))
                        ),
                        role: format!("{} {}", role_ref.kind, go_quote(&role_ref.name)),
                        subjects: describe_subjects(&binding.subjects, namespace),
                        rules,
                    },
                    &binding.subjects,
                    namespace,
                );
        }
        policy
    }

    /// The rules of the role a binding in `namespace` refers to, if it exists.
    pub fn role_rules(&self, kind: &str, name: &str, namespace: &str) -> Option<Arc<[PolicyRule]>> {
        self.resolve(kind, name, namespace).ok()
    }

    /// A role reference's rules, or upstream's error text when it cannot be resolved.
    fn resolve(
        &self,
        kind: &str,
        name: &str,
        namespace: &str,
    ) -> Result<Arc<[PolicyRule]>, String> {
        match kind {
            "ClusterRole" => self.cluster_roles.get(name).cloned().ok_or_else(|| {
                format!(
                    "clusterrole.rbac.authorization.k8s.io {} not found",
                    go_quote(name)
                )
            }),
            "Role" => self
                .roles
                .get(namespace)
                .and_then(|roles| roles.get(name))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {} not found",
                        go_quote(name)
                    )
                }),
            other => Err(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            )),
        }
    }

    /// Decides like upstream's RBAC authorizer: Allow with the first allowing binding named
    /// in the reason, otherwise NoOpinion (RBAC never denies), with the reason listing role
    /// references that could not be resolved for bindings that apply to the user.
    pub fn evaluate(&self, attributes: &Attributes) -> (Decision, String) {
        let mut errors: Vec<&str> = Vec::new();
        // Cluster-wide bindings first, then the request namespace's, as upstream visits them.
        let namespaced = match attributes.namespace.as_str() {
            "" => None,
            namespace => self.namespaced.get(namespace),
        };
        for set in std::iter::once(&self.cluster).chain(namespaced) {
            for (binding_index, subject_index) in set.applicable(&attributes.user) {
                let binding = &set.bindings[binding_index];
                match &binding.rules {
                    Ok(rules) if rules_allow(attributes, rules) => {
                        let reason = format!(
                            "RBAC: allowed by {} of {} to {}",
                            binding.description, binding.role, binding.subjects[subject_index]
                        );
                        return (Decision::Allow, reason);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if !errors.contains(&error.as_str()) {
                            errors.push(error);
                        }
                    }
                }
            }
        }
        let reason = match errors.as_slice() {
            [] => String::new(),
            [one] => format!("RBAC: {one}"),
            many => format!("RBAC: [{}]", many.join(", ")),
        };
        (Decision::NoOpinion, reason)
    }

    /// Every rule of every binding that applies to `user`, cluster-wide then in `namespace`,
    /// as upstream's `RulesFor` visits them; a binding whose role is missing adds its error.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        let mut rules = UserRules::default();
        let namespaced = match namespace {
            "" => None,
            namespace => self.namespaced.get(namespace),
        };
        for set in std::iter::once(&self.cluster).chain(namespaced) {
            for (binding_index, _) in set.applicable(user) {
                match &set.bindings[binding_index].rules {
                    Ok(role_rules) => rules.add_policy_rules(role_rules),
                    Err(error) => rules.errors.push(error.clone()),
                }
            }
        }
        rules
    }

    /// Number of bindings indexed (cluster-wide plus namespaced), for logs and metrics.
    pub fn binding_count(&self) -> usize {
        self.cluster.bindings.len()
            + self
                .namespaced
                .values()
                .map(|s| s.bindings.len())
                .sum::<usize>()
    }
}

impl Authorizer for Policy {
    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        self.evaluate(attributes)
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules {
        Policy::rules_for(self, user, namespace)
    }
}

impl BindingSet {
    fn add(&mut self, binding: ResolvedBinding, subjects: &[Subject], binding_namespace: &str) {
        let binding_index = self.bindings.len();
        for (subject_index, subject) in subjects.iter().enumerate() {
            let entry = (binding_index, subject_index);
            match subject_key(subject, binding_namespace) {
                Some(SubjectKey::User(name)) => self.by_user.entry(name).or_default().push(entry),
                Some(SubjectKey::Group(name)) => self.by_group.entry(name).or_default().push(entry),
                None => {}
            }
        }
        self.bindings.push(binding);
    }

    /// The bindings that apply to `user`, each once with its first matching subject, in
    /// binding order.
    fn applicable(&self, user: &UserInfo) -> Vec<(usize, usize)> {
        let mut hits: Vec<(usize, usize)> = Vec::new();
        if let Some(found) = self.by_user.get(&user.name) {
            hits.extend_from_slice(found);
        }
        for group in &user.groups {
            if let Some(found) = self.by_group.get(group) {
                hits.extend_from_slice(found);
            }
        }
        hits.sort_unstable();
        hits.dedup_by_key(|(binding, _)| *binding);
        hits
    }
}

/// The lookup key of a subject, as upstream's `appliesToUser` matches it: users by name,
/// groups by name, service accounts by `system:serviceaccount:<ns>:<name>` with the namespace
/// defaulting to the binding's. Unknown kinds and namespace-less service accounts match nobody.
fn subject_key(subject: &Subject, binding_namespace: &str) -> Option<SubjectKey> {
    match subject.kind.as_str() {
        "User" => Some(SubjectKey::User(subject.name.clone())),
        "Group" => Some(SubjectKey::Group(subject.name.clone())),
        "ServiceAccount" => {
            let namespace = subject_namespace(subject, binding_namespace);
            (!namespace.is_empty())
                .then(|| SubjectKey::User(service_account_username(namespace, &subject.name)))
        }
        _ => None,
    }
}

/// Upstream's `describeSubject`: `Kind "name"`, and `ServiceAccount "name/namespace"`.
fn describe_subjects(subjects: &[Subject], binding_namespace: &str) -> Vec<String> {
    subjects
        .iter()
        .map(|subject| match subject.kind.as_str() {
            "ServiceAccount" => format!(
                "{} {}",
                subject.kind,
                go_quote(&format!(
                    "{}/{}",
                    subject.name,
                    subject_namespace(subject, binding_namespace)
                ))
            ),
            _ => format!("{} {}", subject.kind, go_quote(&subject.name)),
        })
        .collect()
}

fn subject_namespace<'a>(subject: &'a Subject, binding_namespace: &'a str) -> &'a str {
    if subject.namespace.is_empty() {
        binding_namespace
    } else {
        &subject.namespace
    }
}

fn object_name(meta: &protocol::meta::ObjectMeta) -> &str {
    &meta.name
}

fn object_namespace(meta: &protocol::meta::ObjectMeta) -> &str {
    &meta.namespace
}

#[cfg(test)]
mod tests {
    use protocol::meta::ObjectMeta;
    use protocol::rbac::v1::RoleRef;

    use super::*;

    fn secrets_reader() -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta::named("secrets-reader"),
            rules: vec![PolicyRule::resource(&[""], &["secrets"], &["get"])],
            aggregation_rule: None,
        }
    }

    fn crb(name: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: ObjectMeta::named(name),
            subjects,
            role_ref: RoleRef::cluster_role("secrets-reader"),
        }
    }

    fn get_secret(user: UserInfo) -> Attributes {
        Attributes::resource(user, "get", "", "secrets")
            .with_namespace("ns")
            .with_name("s")
    }

    #[test]
    fn reason_names_the_first_matching_subject_of_the_first_binding() {
        let policy = Policy::new(
            &[secrets_reader()],
            &[
                crb("first", vec![Subject::group("g2"), Subject::user("u")]),
                crb("second", vec![Subject::group("g1")]),
            ],
            &[],
            &[],
        );
        let user = UserInfo::new("u", ["g1", "g2"]);
        assert_eq!(
            policy.evaluate(&get_secret(user)),
            (
                Decision::Allow,
                r#"RBAC: allowed by ClusterRoleBinding "first" of ClusterRole "secrets-reader" to Group "g2""#
                    .to_string()
            )
        );
    }

    #[test]
    fn subjects_that_match_nobody() {
        let unknown_kind = Subject {
            kind: "Robot".into(),
            ..Subject::user("u")
        };
        // A ServiceAccount in a ClusterRoleBinding needs its namespace.
        let namespaceless_sa = Subject {
            namespace: String::new(),
            ..Subject::service_account("", "sa")
        };
        let policy = Policy::new(
            &[secrets_reader()],
            &[crb("b", vec![unknown_kind, namespaceless_sa])],
            &[],
            &[],
        );
        let robot = UserInfo::new("u", ["system:authenticated"]);
        assert_eq!(policy.evaluate(&get_secret(robot)).0, Decision::NoOpinion);
        let sa = UserInfo::new("system:serviceaccount::sa", ["system:serviceaccounts"]);
        assert_eq!(policy.evaluate(&get_secret(sa)).0, Decision::NoOpinion);
    }

    #[test]
    fn user_subject_naming_a_service_account_matches_it() {
        let policy = Policy::new(
            &[secrets_reader()],
            &[crb("b", vec![Subject::user("system:serviceaccount:ns:sa")])],
            &[],
            &[],
        );
        let sa = UserInfo::service_account("ns", "sa");
        assert_eq!(policy.evaluate(&get_secret(sa)).0, Decision::Allow);
    }

    #[test]
    fn a_cluster_role_binding_cannot_use_a_role() {
        let role = Role {
            metadata: ObjectMeta::namespaced("ns", "secrets-reader"),
            rules: secrets_reader().rules,
        };
        let binding = ClusterRoleBinding {
            metadata: ObjectMeta::named("b"),
            subjects: vec![Subject::user("u")],
            role_ref: RoleRef::role("secrets-reader"),
        };
        let policy = Policy::new(&[], &[binding], &[role], &[]);
        assert_eq!(
            policy.evaluate(&get_secret(UserInfo::new("u", Vec::<String>::new()))),
            (
                Decision::NoOpinion,
                r#"RBAC: role.rbac.authorization.k8s.io "secrets-reader" not found"#.to_string()
            )
        );
    }

    #[test]
    fn many_bindings_only_the_users_apply() {
        let bindings: Vec<ClusterRoleBinding> = (0..5000)
            .map(|i| crb(&format!("b{i}"), vec![Subject::user(&format!("user-{i}"))]))
            .collect();
        let policy = Policy::new(&[secrets_reader()], &bindings, &[], &[]);
        assert_eq!(policy.binding_count(), 5000);
        let (decision, reason) = policy.evaluate(&get_secret(UserInfo::new("user-4321", ["x"])));
        assert_eq!(decision, Decision::Allow);
        assert!(reason.contains(r#"ClusterRoleBinding "b4321""#), "{reason}");
        let nobody = policy.evaluate(&get_secret(UserInfo::new("user-5000", ["x"])));
        assert_eq!(nobody, (Decision::NoOpinion, String::new()));
    }

    #[test]
    fn rules_for_lists_cluster_then_namespace_bindings_and_missing_roles() {
        let role_binding = |name: &str, namespace: &str, role: RoleRef| RoleBinding {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: namespace.into(),
                ..Default::default()
            },
            subjects: vec![Subject::user("u")],
            role_ref: role,
        };
        let pod_reader = Role {
            metadata: ObjectMeta {
                name: "lease-reader".into(),
                namespace: "ns".into(),
                ..Default::default()
            },
            rules: vec![PolicyRule::resource(
                &["coordination.k8s.io"],
                &["leases"],
                &["get", "list"],
            )],
        };
        let policy = Policy::new(
            &[secrets_reader()],
            &[
                crb("for-g", vec![Subject::group("g")]),
                crb("for-someone-else", vec![Subject::user("other")]),
            ],
            &[pod_reader],
            &[
                role_binding("leases", "ns", RoleRef::role("lease-reader")),
                role_binding("missing", "ns", RoleRef::role("nope")),
                role_binding("elsewhere", "other-ns", RoleRef::role("lease-reader")),
            ],
        );
        let user = UserInfo::new("u", ["g"]);

        let cluster_only = policy.rules_for(&user, "");
        assert_eq!(cluster_only.resource_rules.len(), 1);
        assert_eq!(cluster_only.resource_rules[0].resources, ["secrets"]);
        assert!(cluster_only.errors.is_empty());

        let in_ns = policy.rules_for(&user, "ns");
        let resources: Vec<&str> = in_ns
            .resource_rules
            .iter()
            .map(|r| r.resources[0].as_str())
            .collect();
        assert_eq!(resources, ["secrets", "leases"]);
        assert_eq!(in_ns.resource_rules[1].verbs, ["get", "list"]);
        assert_eq!(
            in_ns.errors,
            ["role.rbac.authorization.k8s.io \"nope\" not found"]
        );
        // RBAC lists all it knows: complete even when a role is missing (upstream).
        assert!(!in_ns.incomplete);

        let stranger = policy.rules_for(&UserInfo::new("x", ["y"]), "ns");
        assert_eq!(stranger, UserRules::default());
    }
}
