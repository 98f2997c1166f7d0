//! Authorization: the chain named by `--authorization-mode` behind `system:masters`, the
//! request attributes it is asked about, and the 403 Status it answers with.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use protocol::meta::Status;
use rbac::{
    AbacAuthorizer, AlwaysAllow, Attributes, Authorizer, Chain, Decision, NodeAuthorizer,
    PrivilegedGroups, RbacAuthorizer, UserInfo, UserRules, forbidden_message,
};

use crate::request_info::RequestInfo;

/// One `--authorization-mode` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorizationMode {
    Node,
    Rbac,
    /// The policies of `--authorization-policy-file`.
    Abac,
    AlwaysAllow,
    AlwaysDeny,
}

impl AuthorizationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationMode::Node => "Node",
            AuthorizationMode::Rbac => "RBAC",
            AuthorizationMode::Abac => "ABAC",
            AuthorizationMode::AlwaysAllow => "AlwaysAllow",
            AuthorizationMode::AlwaysDeny => "AlwaysDeny",
        }
    }
}

impl fmt::Display for AuthorizationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthorizationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Node" => Ok(AuthorizationMode::Node),
            "RBAC" => Ok(AuthorizationMode::Rbac),
            "ABAC" => Ok(AuthorizationMode::Abac),
            "AlwaysAllow" => Ok(AuthorizationMode::AlwaysAllow),
            "AlwaysDeny" => Ok(AuthorizationMode::AlwaysDeny),
            other => Err(format!(
                "unknown authorization mode {other:?} (valid: Node, RBAC, ABAC, AlwaysAllow, AlwaysDeny)"
            )),
        }
    }
}

/// The ordered, duplicate-free list of a `--authorization-mode` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationModes(pub Vec<AuthorizationMode>);

/// Parses `Node,RBAC`-style lists; empty entries, unknown names and repeats are errors (as
/// upstream: "has mode specified more than once").
pub fn parse_modes(value: &str) -> Result<AuthorizationModes, String> {
    let mut modes = Vec::new();
    for name in value.split(',') {
        if name.is_empty() {
            return Err("empty authorization mode in the list".to_string());
        }
        let mode: AuthorizationMode = name.parse()?;
        if modes.contains(&mode) {
            return Err(format!(
                "authorization mode {name:?} is specified more than once"
            ));
        }
        modes.push(mode);
    }
    Ok(AuthorizationModes(modes))
}

/// Denies everything (`--authorization-mode=AlwaysDeny`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysDeny;

impl Authorizer for AlwaysDeny {
    fn authorize(&self, _attributes: &Attributes) -> (Decision, String) {
        (Decision::Deny, "Everything is forbidden.".to_string())
    }

    fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> UserRules {
        UserRules::default()
    }
}

/// `system:masters` first (so superusers never depend on RBAC objects), then the modes in order.
/// `abac` holds the policy file's policies (none unless the flags named one, which they must
/// when ABAC is a mode).
pub fn build_chain(
    modes: &[AuthorizationMode],
    rbac: &Arc<RbacAuthorizer>,
    abac: &Arc<AbacAuthorizer>,
) -> Arc<dyn Authorizer> {
    let mut authorizers: Vec<Box<dyn Authorizer>> = vec![Box::new(PrivilegedGroups::default())];
    for mode in modes {
        authorizers.push(match mode {
            AuthorizationMode::Node => Box::new(NodeAuthorizer),
            AuthorizationMode::Rbac => Box::new(Arc::clone(rbac)),
            AuthorizationMode::Abac => Box::new(Arc::clone(abac)),
            AuthorizationMode::AlwaysAllow => Box::new(AlwaysAllow),
            AuthorizationMode::AlwaysDeny => Box::new(AlwaysDeny),
        });
    }
    Arc::new(Chain::new(authorizers))
}

/// The attributes of a request, as upstream's `GetAuthorizerAttributes` builds them.
pub fn attributes(info: &RequestInfo, user: UserInfo) -> Attributes {
    if !info.is_resource_request {
        return Attributes::non_resource(user, info.verb.clone(), info.path.clone());
    }
    Attributes::resource(
        user,
        info.verb.clone(),
        info.api_group.clone(),
        info.resource.clone(),
    )
    .with_api_version(info.api_version.clone())
    .with_subresource(info.subresource.clone())
    .with_namespace(info.namespace.clone())
    .with_name(info.name.clone())
}

/// 403 as upstream's `responsewriters.Forbidden` writes it: `<resource>[.<group>] ["<name>"] is
/// forbidden: <forbidden_message>[: <reason>]`, with `details` {name, group, kind=resource}.
pub fn forbidden_status(attributes: &Attributes, reason: &str) -> Status {
    let mut message = forbidden_message(attributes);
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    let resource = &attributes.resource;
    let group = &attributes.api_group;
    let name = &attributes.name;
    let qualified = if group.is_empty() {
        resource.clone()
    } else {
        format!("{resource}.{group}")
    };
    let full = if resource.is_empty() && group.is_empty() {
        format!("forbidden: {message}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {message}")
    } else {
        format!("{qualified} {name:?} is forbidden: {message}")
    };
    Status::forbidden(group, resource, name, full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, Uri};
    use protocol::meta::ObjectMeta;
    use protocol::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};

    fn info(method: Method, uri: &str) -> RequestInfo {
        RequestInfo::parse(&method, &uri.parse::<Uri>().expect("uri"))
    }

    #[test]
    fn modes_parse_in_order() {
        assert_eq!(
            parse_modes("RBAC,AlwaysAllow").expect("modes").0,
            vec![AuthorizationMode::Rbac, AuthorizationMode::AlwaysAllow]
        );
        assert!(
            parse_modes("rbac")
                .unwrap_err()
                .contains("unknown authorization mode \"rbac\"")
        );
        assert!(
            parse_modes("Node,Node")
                .unwrap_err()
                .contains("more than once")
        );
        assert!(parse_modes("Node,").is_err());
        assert_eq!(
            parse_modes("Node,ABAC,RBAC").expect("modes").0,
            vec![
                AuthorizationMode::Node,
                AuthorizationMode::Abac,
                AuthorizationMode::Rbac
            ]
        );
        assert_eq!(AuthorizationMode::Abac.to_string(), "ABAC");
        assert!(
            parse_modes("abac")
                .unwrap_err()
                .contains("(valid: Node, RBAC, ABAC, AlwaysAllow, AlwaysDeny)")
        );
    }

    #[test]
    fn first_decision_wins_and_masters_come_first() {
        let rbac = Arc::new(RbacAuthorizer::default());
        let abac = Arc::new(AbacAuthorizer::default());
        let user = UserInfo::new("bob", ["system:authenticated"]);
        let request = attributes(
            &info(Method::GET, "/api/v1/namespaces/default/secrets"),
            user,
        );
        let deny_first = build_chain(
            &[
                AuthorizationMode::AlwaysDeny,
                AuthorizationMode::AlwaysAllow,
            ],
            &rbac,
            &abac,
        );
        assert_eq!(deny_first.authorize(&request).0, Decision::Deny);
        let allow_first = build_chain(
            &[
                AuthorizationMode::AlwaysAllow,
                AuthorizationMode::AlwaysDeny,
            ],
            &rbac,
            &abac,
        );
        assert_eq!(allow_first.authorize(&request).0, Decision::Allow);
        let admin = attributes(
            &info(Method::GET, "/api/v1/secrets"),
            UserInfo::new("admin", ["system:masters"]),
        );
        assert_eq!(deny_first.authorize(&admin).0, Decision::Allow);
        // Empty RBAC policy: no opinion, so the chain denies.
        let rbac_only = build_chain(&[AuthorizationMode::Rbac], &rbac, &abac);
        assert_eq!(rbac_only.authorize(&request).0, Decision::Deny);
    }

    #[test]
    fn abac_allows_or_leaves_the_request_to_the_next_mode() {
        let (roles, mut bindings) = rbac::bootstrap::default_policy();
        bindings.push(ClusterRoleBinding {
            metadata: ObjectMeta::named("approver"),
            subjects: vec![Subject::user("approver")],
            role_ref: RoleRef::cluster_role("cluster-admin"),
        });
        let rbac = Arc::new(RbacAuthorizer::new(rbac::Policy::new(
            &roles,
            &bindings,
            &[],
            &[],
        )));
        let policy = r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"reader","readonly":true,"apiGroup":"certificates.k8s.io","resource":"certificatesigningrequests"}}"#;
        let file =
            rbac::abac::parse_policy_file(policy, std::path::Path::new("p")).expect("policy");
        let abac = Arc::new(AbacAuthorizer::new(file.policies));
        let chain = build_chain(
            &[
                AuthorizationMode::Node,
                AuthorizationMode::Abac,
                AuthorizationMode::Rbac,
            ],
            &rbac,
            &abac,
        );
        let csrs = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
        let ask = |method: Method, uri: &str, user: &str| {
            chain.authorize(&attributes(
                &info(method, uri),
                UserInfo::new(user, ["system:authenticated"]),
            ))
        };
        assert_eq!(
            ask(Method::GET, csrs, "reader"),
            (Decision::Allow, String::new())
        );
        // Not read-only: ABAC has no opinion, RBAC binds nothing to reader, so the chain
        // denies with ABAC's reason.
        assert_eq!(
            ask(Method::DELETE, &format!("{csrs}/csr-1"), "reader"),
            (Decision::Deny, "No policy matched.".to_string())
        );
        // A user ABAC does not mention is still RBAC's to allow.
        assert_eq!(
            ask(Method::DELETE, &format!("{csrs}/csr-1"), "approver").0,
            Decision::Allow
        );
        assert_eq!(ask(Method::GET, csrs, "nobody").0, Decision::Deny);
        // Without ABAC in the modes its policies are never asked.
        let without = build_chain(&[AuthorizationMode::Rbac], &rbac, &abac);
        let reader = UserInfo::new("reader", ["system:authenticated"]);
        assert_eq!(
            without
                .authorize(&attributes(&info(Method::GET, csrs), reader))
                .0,
            Decision::Deny
        );
    }

    #[test]
    fn forbidden_status_reads_like_kubernetes() {
        let attrs = attributes(
            &info(Method::GET, "/api/v1/namespaces/kube-system/secrets"),
            UserInfo::new("system:bootstrap:abcdef", ["system:bootstrappers"]),
        );
        let status = forbidden_status(&attrs, "");
        assert_eq!(status.code, 403);
        assert_eq!(status.reason, "Forbidden");
        assert_eq!(
            status.message,
            r#"secrets is forbidden: User "system:bootstrap:abcdef" cannot list resource "secrets" in API group "" in the namespace "kube-system""#
        );
        let details = status.details.expect("details");
        assert_eq!(
            (
                details.kind.as_str(),
                details.group.as_str(),
                details.name.as_str()
            ),
            ("secrets", "", "")
        );

        let named = attributes(
            &info(
                Method::PUT,
                "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
            ),
            UserInfo::new("bob", ["system:authenticated"]),
        );
        let status = forbidden_status(&named, "no RBAC policy matched");
        assert_eq!(
            status.message,
            r#"certificatesigningrequests.certificates.k8s.io "csr-1" is forbidden: User "bob" cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope: no RBAC policy matched"#
        );
        let path = attributes(
            &info(Method::GET, "/healthz/x"),
            UserInfo::new("system:anonymous", ["system:unauthenticated"]),
        );
        assert_eq!(
            forbidden_status(&path, "").message,
            r#"forbidden: User "system:anonymous" cannot get path "/healthz/x""#
        );
    }
}
