//! The Node authorizer: what a kubelet identity (`system:node:<name>` in `system:nodes`) may
//! do, scoped to its own objects. Modelled on upstream's `node_authorizer.go` plus the
//! ownership checks upstream leaves to the NodeRestriction admission plugin, narrowed to the
//! resources this system serves.

use protocol::core::v1::{ROOT_CA_CONFIG_MAP, ROOT_CA_NAMESPACE_FOR_NODES};

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::forbidden::go_quote;
use crate::rules::UserRules;
use crate::user::UserInfo;

/// The namespace node heartbeat Leases live in.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Authorizes node identities; anything it does not cover gets no opinion so RBAC may still
/// decide. Non-node users always get no opinion.
///
/// A node may:
/// - `get`, `list`, `watch` any Node; `update`, `patch` its own Node and its own
///   `nodes/status`; `create` its own Node;
/// - `create`, `get`, `update`, `patch`, `delete` its own Lease (name = node name) in
///   `kube-node-lease`;
/// - `create`, `get`, `list`, `watch` CertificateSigningRequests (not subdivided, as upstream);
/// - `create`, `update`, `patch` Events (core and `events.k8s.io`, as upstream's NodeRules:
///   the kubelet patches events when it aggregates repeats);
/// - `create` SubjectAccessReviews and TokenReviews (upstream's NodeRules: the kubelet's port
///   delegates its authentication and authorization to the apiserver);
/// - ours (decision 0029): `get` the ConfigMap `kube-root-ca.crt` in `kube-public`, and `list`
///   or `watch` it by name (`fieldSelector=metadata.name=kube-root-ca.crt`, which the apiserver
///   passes as the name), so a kubelet-agent follows a CA rotation. Upstream gives nodes only
///   the ConfigMaps their pods use; no other ConfigMap is allowed here.
///
/// On `create` the URL carries no name. When the apiserver leaves `Attributes::name` empty the
/// create is allowed (upstream behaviour, which then relies on admission to check the body);
/// when it copies the body's `metadata.name` there, a node creating another node's Node or
/// Lease gets no opinion here.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeAuthorizer;

/// Whether this authorizer speaks for `user` (upstream's `NodeIdentity`: the group and the
/// name prefix; an empty node name is still a node, one it then refuses).
fn is_node_identity(user: &UserInfo) -> bool {
    user.in_group(crate::user::SYSTEM_NODES) && user.name.starts_with(crate::user::NODE_USER_PREFIX)
}

impl Authorizer for NodeAuthorizer {
    /// A node's permissions depend on the objects it asks about, so they are not listed
    /// (upstream's words); everyone else gets nothing from this authorizer.
    fn rules_for(&self, user: &UserInfo, _namespace: &str) -> UserRules {
        if is_node_identity(user) {
            UserRules::unlisted("node authorizer does not support user rule resolution")
        } else {
            UserRules::default()
        }
    }

    fn authorize(&self, attributes: &Attributes) -> (Decision, String) {
        let user = &attributes.user;
        if !is_node_identity(user) {
            return no_opinion("");
        }
        let Some(node) = user.node_name() else {
            return no_opinion(&format!("unknown node for user {}", go_quote(&user.name)));
        };
        if !attributes.resource_request {
            return no_opinion("");
        }
        let verb = attributes.verb.as_str();
        match (attributes.api_group.as_str(), attributes.resource.as_str()) {
            ("", "nodes") => authorize_node(node, attributes),
            ("coordination.k8s.io", "leases") => authorize_lease(node, attributes),
            ("certificates.k8s.io", "certificatesigningrequests")
                if attributes.subresource.is_empty()
                    && matches!(verb, "create" | "get" | "list" | "watch") =>
            {
                allow()
            }
            ("" | "events.k8s.io", "events")
                if attributes.subresource.is_empty()
                    && matches!(verb, "create" | "update" | "patch") =>
            {
                allow()
            }
            ("authorization.k8s.io", "subjectaccessreviews")
            | ("authentication.k8s.io", "tokenreviews")
                if attributes.subresource.is_empty() && verb == "create" =>
            {
                allow()
            }
            ("", "configmaps")
                if attributes.subresource.is_empty()
                    && matches!(verb, "get" | "list" | "watch")
                    && attributes.namespace == ROOT_CA_NAMESPACE_FOR_NODES
                    && attributes.name == ROOT_CA_CONFIG_MAP =>
            {
                allow()
            }
            _ => no_opinion(""),
        }
    }
}

fn authorize_node(node: &str, attributes: &Attributes) -> (Decision, String) {
    let name = attributes.name.as_str();
    let own = name == node;
    match (attributes.subresource.as_str(), attributes.verb.as_str()) {
        ("", "get" | "list" | "watch") => allow(),
        ("", "create") if name.is_empty() || own => allow(),
        ("" | "status", "update" | "patch") if own => allow(),
        ("" | "status", "create" | "update" | "patch") => no_opinion(&format!(
            "node {} can only modify its own Node object, not {}",
            go_quote(node),
            go_quote(name)
        )),
        _ => no_opinion(""),
    }
}

fn authorize_lease(node: &str, attributes: &Attributes) -> (Decision, String) {
    let verb = attributes.verb.as_str();
    if !matches!(verb, "get" | "create" | "update" | "patch" | "delete") {
        return no_opinion("can only get, create, update, patch, or delete a node lease");
    }
    if !attributes.subresource.is_empty() {
        return no_opinion("cannot access lease subresources");
    }
    if attributes.namespace != NODE_LEASE_NAMESPACE {
        return no_opinion(&format!(
            "can only access leases in the {} system namespace",
            go_quote(NODE_LEASE_NAMESPACE)
        ));
    }
    let unnamed_create = verb == "create" && attributes.name.is_empty();
    if !unnamed_create && attributes.name != node {
        return no_opinion("can only access node lease with the same name as the requesting node");
    }
    allow()
}

fn allow() -> (Decision, String) {
    (Decision::Allow, String::new())
}

fn no_opinion(reason: &str) -> (Decision, String) {
    (Decision::NoOpinion, reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> UserInfo {
        UserInfo::new(
            format!("system:node:{name}"),
            ["system:nodes", "system:authenticated"],
        )
    }

    fn decide(attributes: Attributes) -> Decision {
        NodeAuthorizer.authorize(&attributes).0
    }

    #[test]
    fn non_nodes_get_no_opinion_without_reason() {
        let user = UserInfo::new("alice", ["system:masters"]);
        let attrs = Attributes::resource(user, "get", "", "nodes").with_name("a");
        assert_eq!(NodeAuthorizer.authorize(&attrs), no_opinion(""));
        // The name alone does not make a node: the group is required.
        let impostor = UserInfo::new("system:node:a", ["system:authenticated"]);
        let attrs = Attributes::resource(impostor, "get", "", "nodes").with_name("a");
        assert_eq!(decide(attrs), Decision::NoOpinion);
    }

    #[test]
    fn empty_node_name_is_unknown() {
        let user = UserInfo::new("system:node:", ["system:nodes"]);
        let attrs = Attributes::resource(user, "get", "", "nodes");
        assert_eq!(
            NodeAuthorizer.authorize(&attrs),
            no_opinion(r#"unknown node for user "system:node:""#)
        );
    }

    #[test]
    fn node_objects() {
        let a = || node("a");
        let nodes = |verb: &str| Attributes::resource(a(), verb, "", "nodes");
        assert_eq!(decide(nodes("get").with_name("b")), Decision::Allow);
        assert_eq!(decide(nodes("list")), Decision::Allow);
        assert_eq!(decide(nodes("watch")), Decision::Allow);
        assert_eq!(decide(nodes("create")), Decision::Allow);
        assert_eq!(decide(nodes("create").with_name("a")), Decision::Allow);
        assert_eq!(decide(nodes("create").with_name("b")), Decision::NoOpinion);
        assert_eq!(decide(nodes("update").with_name("a")), Decision::Allow);
        assert_eq!(decide(nodes("patch").with_name("a")), Decision::Allow);
        assert_eq!(decide(nodes("update").with_name("b")), Decision::NoOpinion);
        assert_eq!(decide(nodes("update")), Decision::NoOpinion);
        assert_eq!(decide(nodes("delete").with_name("a")), Decision::NoOpinion);
        let status =
            |verb: &str, name: &str| nodes(verb).with_subresource("status").with_name(name);
        assert_eq!(decide(status("patch", "a")), Decision::Allow);
        assert_eq!(decide(status("update", "a")), Decision::Allow);
        assert_eq!(decide(status("patch", "b")), Decision::NoOpinion);
        assert_eq!(decide(status("get", "a")), Decision::NoOpinion);
        let proxy = nodes("get").with_subresource("proxy").with_name("a");
        assert_eq!(decide(proxy), Decision::NoOpinion);
    }

    #[test]
    fn leases_only_own_in_node_lease_namespace() {
        let lease = |verb: &str, ns: &str, name: &str| {
            Attributes::resource(node("a"), verb, "coordination.k8s.io", "leases")
                .with_namespace(ns)
                .with_name(name)
        };
        for verb in ["get", "create", "update", "patch", "delete"] {
            assert_eq!(
                decide(lease(verb, "kube-node-lease", "a")),
                Decision::Allow,
                "{verb}"
            );
            assert_eq!(
                decide(lease(verb, "kube-node-lease", "b")),
                Decision::NoOpinion,
                "{verb}"
            );
            assert_eq!(
                decide(lease(verb, "default", "a")),
                Decision::NoOpinion,
                "{verb}"
            );
        }
        assert_eq!(
            decide(lease("create", "kube-node-lease", "")),
            Decision::Allow
        );
        assert_eq!(
            decide(lease("list", "kube-node-lease", "")),
            Decision::NoOpinion
        );
        assert_eq!(
            NodeAuthorizer
                .authorize(&lease("get", "kube-system", "a"))
                .1,
            r#"can only access leases in the "kube-node-lease" system namespace"#
        );
    }

    #[test]
    fn static_rules() {
        let csr = |verb: &str| {
            Attributes::resource(
                node("a"),
                verb,
                "certificates.k8s.io",
                "certificatesigningrequests",
            )
        };
        for verb in ["create", "get", "list", "watch"] {
            assert_eq!(decide(csr(verb)), Decision::Allow, "{verb}");
        }
        assert_eq!(decide(csr("delete")), Decision::NoOpinion);
        assert_eq!(
            decide(csr("create").with_subresource("selfnodeclient")),
            Decision::NoOpinion
        );
        assert_eq!(
            decide(csr("update").with_subresource("approval")),
            Decision::NoOpinion
        );
        let event =
            Attributes::resource(node("a"), "create", "", "events").with_namespace("default");
        assert_eq!(decide(event), Decision::Allow);
        let sar = Attributes::resource(
            node("a"),
            "create",
            "authorization.k8s.io",
            "subjectaccessreviews",
        );
        assert_eq!(decide(sar), Decision::Allow);
        let token_review =
            Attributes::resource(node("a"), "create", "authentication.k8s.io", "tokenreviews");
        assert_eq!(decide(token_review), Decision::Allow);
        let secrets =
            Attributes::resource(node("a"), "list", "", "secrets").with_namespace("default");
        assert_eq!(decide(secrets), Decision::NoOpinion);
        let healthz = Attributes::non_resource(node("a"), "get", "/healthz");
        assert_eq!(decide(healthz), Decision::NoOpinion);
    }

    #[test]
    fn only_the_root_ca_config_map_in_kube_public() {
        let cm = |verb: &str, ns: &str, name: &str| {
            Attributes::resource(node("a"), verb, "", "configmaps")
                .with_namespace(ns)
                .with_name(name)
        };
        for verb in ["get", "list", "watch"] {
            assert_eq!(
                decide(cm(verb, "kube-public", "kube-root-ca.crt")),
                Decision::Allow,
                "{verb}"
            );
            assert_eq!(
                decide(cm(verb, "kube-public", "other")),
                Decision::NoOpinion,
                "{verb}"
            );
            assert_eq!(
                decide(cm(verb, "default", "kube-root-ca.crt")),
                Decision::NoOpinion,
                "{verb}"
            );
            assert_eq!(
                decide(cm(verb, "", "kube-root-ca.crt")),
                Decision::NoOpinion,
                "{verb}"
            );
        }
        // A list or watch that names no object, and every write, are not allowed.
        for verb in ["list", "watch"] {
            assert_eq!(decide(cm(verb, "kube-public", "")), Decision::NoOpinion);
        }
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            assert_eq!(
                decide(cm(verb, "kube-public", "kube-root-ca.crt")),
                Decision::NoOpinion,
                "{verb}"
            );
        }
        // Another group's resource of the same name, or a subresource: no.
        let other_group = Attributes::resource(node("a"), "get", "example.com", "configmaps")
            .with_namespace("kube-public")
            .with_name("kube-root-ca.crt");
        assert_eq!(decide(other_group), Decision::NoOpinion);
        let sub = cm("get", "kube-public", "kube-root-ca.crt").with_subresource("status");
        assert_eq!(decide(sub), Decision::NoOpinion);
        // Not a node: nothing from here.
        let bob = Attributes::resource(
            UserInfo::new("bob", ["system:authenticated"]),
            "get",
            "",
            "configmaps",
        )
        .with_namespace("kube-public")
        .with_name("kube-root-ca.crt");
        assert_eq!(decide(bob), Decision::NoOpinion);
    }

    #[test]
    fn a_nodes_rules_are_not_listed_and_others_get_none_from_here() {
        let rules = NodeAuthorizer.rules_for(&node("a"), "default");
        assert!(rules.incomplete);
        assert_eq!(
            rules.evaluation_error(),
            "node authorizer does not support user rule resolution"
        );
        let other = UserInfo::new("bob", ["system:authenticated"]);
        assert_eq!(
            NodeAuthorizer.rules_for(&other, "default"),
            UserRules::default()
        );
    }
}
