//! Decision table: the apiserver's authorizer chain (PrivilegedGroups, Node, RBAC over the
//! default policy plus the seed-003 bindings and a few test objects) must decide every row
//! as Kubernetes does, denials included.

use protocol::meta::ObjectMeta;
use protocol::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use rbac::{
    Attributes, Authorizer, Chain, Decision, NodeAuthorizer, Policy, PrivilegedGroups,
    RbacAuthorizer, UserInfo,
};

use Decision::{Allow, Deny};

const CSR: &str = "certificatesigningrequests";
const CERTS: &str = "certificates.k8s.io";

/// The identities of the table.
#[derive(Debug, Clone, Copy)]
enum Who {
    Bootstrap,
    NodeA,
    Admin,
    ControllerManager,
    CertificateControllerSa,
    OtherKubeSystemSa,
    Alice,
    Anonymous,
    Dev,
    BuilderSaTeam,
    BuilderSaOther,
    StatusBot,
    Scraper,
}

impl Who {
    fn user(self) -> UserInfo {
        let authenticated = "system:authenticated";
        match self {
            Who::Bootstrap => UserInfo::new(
                "system:bootstrap:abcdef",
                [
                    "system:bootstrappers",
                    "system:bootstrappers:kubeadm:default-node-token",
                    authenticated,
                ],
            ),
            Who::NodeA => UserInfo::new("system:node:a", ["system:nodes", authenticated]),
            Who::Admin => UserInfo::new("kubernetes-admin", ["system:masters", authenticated]),
            Who::ControllerManager => {
                UserInfo::new("system:kube-controller-manager", [authenticated])
            }
            Who::CertificateControllerSa => {
                UserInfo::service_account("kube-system", "certificate-controller")
            }
            Who::OtherKubeSystemSa => UserInfo::service_account("kube-system", "default"),
            Who::Alice => UserInfo::new("alice", [authenticated]),
            Who::Anonymous => UserInfo::new("system:anonymous", ["system:unauthenticated"]),
            Who::Dev => UserInfo::new("dev", [authenticated]),
            Who::BuilderSaTeam => UserInfo::service_account("team", "builder"),
            Who::BuilderSaOther => UserInfo::service_account("other", "builder"),
            Who::StatusBot => UserInfo::new("statusbot", [authenticated]),
            Who::Scraper => UserInfo::new("scraper", [authenticated]),
        }
    }
}

/// A resource row: who, verb, group, resource, subresource, namespace, name -> decision.
type ResourceRow = (
    Who,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Decision,
);
/// A non-resource row: who, verb, path -> decision.
type PathRow = (Who, &'static str, &'static str, Decision);

#[rustfmt::skip]
const RESOURCE_ROWS: &[ResourceRow] = &[
    // Bootstrap token user with the seed-003 bindings.
    (Who::Bootstrap, "create", CERTS, CSR, "", "", "", Allow),
    (Who::Bootstrap, "get", CERTS, CSR, "", "", "node-csr-x", Allow),
    (Who::Bootstrap, "list", CERTS, CSR, "", "", "", Allow),
    (Who::Bootstrap, "watch", CERTS, CSR, "", "", "", Allow),
    (Who::Bootstrap, "delete", CERTS, CSR, "", "", "node-csr-x", Deny),
    (Who::Bootstrap, "update", CERTS, CSR, "approval", "", "node-csr-x", Deny),
    (Who::Bootstrap, "update", CERTS, CSR, "status", "", "node-csr-x", Deny),
    (Who::Bootstrap, "create", CERTS, CSR, "nodeclient", "", "", Allow),
    (Who::Bootstrap, "create", CERTS, CSR, "selfnodeclient", "", "", Deny),
    (Who::Bootstrap, "list", "", "secrets", "", "kube-system", "", Deny),
    (Who::Bootstrap, "get", "", "secrets", "", "kube-system", "bootstrap-token-abcdef", Deny),
    (Who::Bootstrap, "create", "", "nodes", "", "", "", Deny),
    (Who::Bootstrap, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "", Allow),
    (Who::Bootstrap, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", "", Deny),
    // Node a: its own Node and Lease only, CSRs, events, SARs; renewals through RBAC.
    (Who::NodeA, "get", "", "nodes", "", "", "a", Allow),
    (Who::NodeA, "get", "", "nodes", "", "", "b", Allow),
    (Who::NodeA, "list", "", "nodes", "", "", "", Allow),
    (Who::NodeA, "watch", "", "nodes", "", "", "", Allow),
    (Who::NodeA, "create", "", "nodes", "", "", "", Allow),
    (Who::NodeA, "create", "", "nodes", "", "", "a", Allow),
    (Who::NodeA, "create", "", "nodes", "", "", "b", Deny),
    (Who::NodeA, "update", "", "nodes", "", "", "a", Allow),
    (Who::NodeA, "patch", "", "nodes", "", "", "a", Allow),
    (Who::NodeA, "update", "", "nodes", "", "", "b", Deny),
    (Who::NodeA, "patch", "", "nodes", "", "", "b", Deny),
    (Who::NodeA, "patch", "", "nodes", "status", "", "a", Allow),
    (Who::NodeA, "update", "", "nodes", "status", "", "b", Deny),
    (Who::NodeA, "delete", "", "nodes", "", "", "a", Deny),
    (Who::NodeA, "get", "coordination.k8s.io", "leases", "", "kube-node-lease", "a", Allow),
    (Who::NodeA, "create", "coordination.k8s.io", "leases", "", "kube-node-lease", "a", Allow),
    (Who::NodeA, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "a", Allow),
    (Who::NodeA, "delete", "coordination.k8s.io", "leases", "", "kube-node-lease", "a", Allow),
    (Who::NodeA, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "b", Deny),
    (Who::NodeA, "get", "coordination.k8s.io", "leases", "", "kube-system", "a", Deny),
    (Who::NodeA, "list", "coordination.k8s.io", "leases", "", "kube-node-lease", "", Deny),
    (Who::NodeA, "create", CERTS, CSR, "", "", "", Allow),
    (Who::NodeA, "get", CERTS, CSR, "", "", "csr-abcde", Allow),
    (Who::NodeA, "list", CERTS, CSR, "", "", "", Allow),
    (Who::NodeA, "watch", CERTS, CSR, "", "", "", Allow),
    (Who::NodeA, "create", CERTS, CSR, "selfnodeclient", "", "", Allow),
    (Who::NodeA, "create", CERTS, CSR, "nodeclient", "", "", Deny),
    (Who::NodeA, "update", CERTS, CSR, "approval", "", "csr-abcde", Deny),
    (Who::NodeA, "create", "", "events", "", "default", "", Allow),
    (Who::NodeA, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", "", Allow),
    (Who::NodeA, "create", "authentication.k8s.io", "tokenreviews", "", "", "", Allow),
    (Who::NodeA, "get", "authentication.k8s.io", "tokenreviews", "", "", "", Deny),
    (Who::NodeA, "list", "", "secrets", "", "default", "", Deny),
    (Who::NodeA, "delete", "", "namespaces", "", "", "default", Deny),
    // system:masters: everything, before any other authorizer.
    (Who::Admin, "delete", "", "secrets", "", "kube-system", "anything", Allow),
    (Who::Admin, "approve", CERTS, "signers", "", "", "example.com/custom", Allow),
    (Who::Admin, "update", CERTS, CSR, "approval", "", "csr-1", Allow),
    (Who::Admin, "deletecollection", "apps", "deployments", "", "team", "", Allow),
    // Controller-manager (one identity for all controllers; see bootstrap docs).
    (Who::ControllerManager, "list", CERTS, CSR, "", "", "", Allow),
    (Who::ControllerManager, "watch", CERTS, CSR, "", "", "", Allow),
    (Who::ControllerManager, "delete", CERTS, CSR, "", "", "csr-1", Allow),
    (Who::ControllerManager, "update", CERTS, CSR, "approval", "", "csr-1", Allow),
    (Who::ControllerManager, "update", CERTS, CSR, "status", "", "csr-1", Allow),
    (Who::ControllerManager, "create", CERTS, CSR, "", "", "", Deny),
    (Who::ControllerManager, "approve", CERTS, "signers", "", "", "kubernetes.io/kube-apiserver-client-kubelet", Allow),
    (Who::ControllerManager, "approve", CERTS, "signers", "", "", "kubernetes.io/kubelet-serving", Deny),
    (Who::ControllerManager, "approve", CERTS, "signers", "", "", "", Deny),
    (Who::ControllerManager, "sign", CERTS, "signers", "", "", "kubernetes.io/kube-apiserver-client-kubelet", Allow),
    (Who::ControllerManager, "sign", CERTS, "signers", "", "", "kubernetes.io/kubelet-serving", Allow),
    (Who::ControllerManager, "sign", CERTS, "signers", "", "", "kubernetes.io/kube-apiserver-client", Allow),
    (Who::ControllerManager, "sign", CERTS, "signers", "", "", "kubernetes.io/legacy-unknown", Allow),
    (Who::ControllerManager, "sign", CERTS, "signers", "", "", "example.com/custom", Deny),
    (Who::ControllerManager, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", "", Allow),
    (Who::ControllerManager, "create", "coordination.k8s.io", "leases", "", "kube-system", "", Allow),
    (Who::ControllerManager, "get", "coordination.k8s.io", "leases", "", "kube-system", "kube-controller-manager", Allow),
    (Who::ControllerManager, "update", "coordination.k8s.io", "leases", "", "kube-system", "kube-controller-manager", Allow),
    (Who::ControllerManager, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "a", Deny),
    (Who::ControllerManager, "create", "", "events", "", "kube-system", "", Allow),
    (Who::ControllerManager, "patch", "events.k8s.io", "events", "", "kube-system", "e1", Allow),
    (Who::ControllerManager, "update", "", "nodes", "", "", "a", Deny),
    // The upstream controller service account, and one that is not bound.
    (Who::CertificateControllerSa, "update", CERTS, CSR, "approval", "", "csr-1", Allow),
    (Who::CertificateControllerSa, "sign", CERTS, "signers", "", "", "kubernetes.io/kubelet-serving", Allow),
    (Who::OtherKubeSystemSa, "update", CERTS, CSR, "approval", "", "csr-1", Deny),
    // A plain authenticated user has only the basic roles.
    (Who::Alice, "list", "", "nodes", "", "", "", Deny),
    (Who::Alice, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "", Allow),
    (Who::Alice, "create", "authorization.k8s.io", "selfsubjectrulesreviews", "", "", "", Allow),
    // resourceNames: named rule via a RoleBinding to a ClusterRole; never matches unnamed requests.
    (Who::Dev, "get", "", "configmaps", "", "team", "cfg-a", Allow),
    (Who::Dev, "update", "", "configmaps", "", "team", "cfg-a", Allow),
    (Who::Dev, "get", "", "configmaps", "", "team", "cfg-b", Deny),
    (Who::Dev, "list", "", "configmaps", "", "team", "", Deny),
    (Who::Dev, "create", "", "configmaps", "", "team", "", Deny),
    (Who::Dev, "get", "", "configmaps", "", "other", "cfg-a", Deny),
    (Who::Dev, "get", "", "configmaps", "", "", "cfg-a", Deny),
    // RoleBinding scoping: Role in the binding's namespace only.
    (Who::Dev, "list", "", "pods", "", "team", "", Allow),
    (Who::Dev, "get", "", "pods", "", "team", "p1", Allow),
    (Who::Dev, "delete", "", "pods", "", "team", "p1", Deny),
    (Who::Dev, "list", "", "pods", "", "other", "", Deny),
    (Who::Dev, "list", "", "pods", "", "", "", Deny),
    (Who::Dev, "get", "", "pods", "log", "team", "p1", Deny),
    // Service-account subject without namespace defaults to the RoleBinding's namespace.
    (Who::BuilderSaTeam, "list", "", "pods", "", "team", "", Allow),
    (Who::BuilderSaOther, "list", "", "pods", "", "team", "", Deny),
    (Who::BuilderSaOther, "list", "", "pods", "", "other", "", Deny),
    // `*/status` matches any resource's status subresource, and nothing else.
    (Who::StatusBot, "update", "", "pods", "status", "team", "p1", Allow),
    (Who::StatusBot, "update", "", "nodes", "status", "", "a", Allow),
    (Who::StatusBot, "update", "apps", "deployments", "status", "team", "d", Allow),
    (Who::StatusBot, "update", "", "pods", "", "team", "p1", Deny),
    (Who::StatusBot, "update", "", "pods", "log", "team", "p1", Deny),
];

#[rustfmt::skip]
const PATH_ROWS: &[PathRow] = &[
    (Who::Alice, "get", "/healthz", Allow),
    (Who::Alice, "get", "/version", Allow),
    (Who::Alice, "get", "/api", Allow),
    (Who::Alice, "get", "/api/v1", Allow),
    (Who::Alice, "get", "/apis/certificates.k8s.io/v1", Allow),
    (Who::Alice, "get", "/openapi/v3", Allow),
    (Who::Alice, "post", "/api", Deny),
    (Who::Alice, "get", "/metrics", Deny),
    (Who::Alice, "get", "/healthz/etcd", Deny),
    (Who::Anonymous, "get", "/healthz", Allow),
    (Who::Anonymous, "get", "/livez", Allow),
    (Who::Anonymous, "get", "/version/", Allow),
    (Who::Anonymous, "get", "/versions", Deny),
    (Who::Anonymous, "get", "/api", Deny),
    (Who::Anonymous, "get", "/apis/certificates.k8s.io/v1", Deny),
    (Who::Bootstrap, "get", "/healthz", Allow),
    (Who::NodeA, "get", "/apis", Allow),
    (Who::Admin, "delete", "/anything/at/all", Allow),
    // `prefix*` matches below the prefix only.
    (Who::Scraper, "get", "/metrics", Allow),
    (Who::Scraper, "get", "/metrics/slis", Deny),
    (Who::Scraper, "get", "/logs/", Allow),
    (Who::Scraper, "get", "/logs/kube-apiserver.log", Allow),
    (Who::Scraper, "get", "/logs", Deny),
    (Who::Scraper, "post", "/metrics", Deny),
];

fn cluster_binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: ObjectMeta::named(name),
        subjects,
        role_ref: RoleRef::cluster_role(role),
    }
}

fn role_binding(
    namespace: &str,
    name: &str,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta::namespaced(namespace, name),
        subjects,
        role_ref,
    }
}

fn named(mut rule: PolicyRule, names: &[&str]) -> PolicyRule {
    rule.resource_names = names.iter().map(|n| n.to_string()).collect();
    rule
}

/// Default policy, seed-003 bindings, and the test objects the table refers to.
fn test_policy() -> Policy {
    let (mut cluster_roles, mut cluster_bindings) = rbac::bootstrap::default_policy();
    cluster_bindings.extend([
        // kubectl create clusterrolebinding ... (seed 003)
        cluster_binding(
            "create-csrs-for-bootstrapping",
            "system:node-bootstrapper",
            vec![Subject::group("system:bootstrappers")],
        ),
        cluster_binding(
            "auto-approve-csrs-for-group",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![Subject::group("system:bootstrappers")],
        ),
        cluster_binding(
            "auto-approve-renewals-for-nodes",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![Subject::group("system:nodes")],
        ),
        cluster_binding(
            "status-updater",
            "status-updater",
            vec![Subject::user("statusbot")],
        ),
        cluster_binding(
            "metrics-reader",
            "metrics-reader",
            vec![Subject::user("scraper")],
        ),
        // Points at a ClusterRole that does not exist: skipped.
        cluster_binding(
            "dangling",
            "no-such-role",
            vec![Subject::group("system:authenticated")],
        ),
    ]);
    cluster_roles.extend([
        ClusterRole {
            metadata: ObjectMeta::named("configmap-one"),
            rules: vec![named(
                PolicyRule::resource(&[""], &["configmaps"], &["get", "update"]),
                &["cfg-a"],
            )],
            aggregation_rule: None,
        },
        ClusterRole {
            metadata: ObjectMeta::named("status-updater"),
            rules: vec![PolicyRule::resource(&["*"], &["*/status"], &["update"])],
            aggregation_rule: None,
        },
        ClusterRole {
            metadata: ObjectMeta::named("metrics-reader"),
            rules: vec![PolicyRule::non_resource(&["/metrics", "/logs/*"], &["get"])],
            aggregation_rule: None,
        },
    ]);
    let roles = vec![Role {
        metadata: ObjectMeta::namespaced("team", "pod-reader"),
        rules: vec![PolicyRule::resource(
            &[""],
            &["pods"],
            &["get", "list", "watch"],
        )],
    }];
    let builder_without_namespace = Subject {
        namespace: String::new(),
        ..Subject::service_account("", "builder")
    };
    let role_bindings = vec![
        role_binding(
            "team",
            "dev-configmap",
            RoleRef::cluster_role("configmap-one"),
            vec![Subject::user("dev")],
        ),
        role_binding(
            "team",
            "dev-pods",
            RoleRef::role("pod-reader"),
            vec![Subject::user("dev"), builder_without_namespace.clone()],
        ),
        // The Role lives in "team", not "other": skipped.
        role_binding(
            "other",
            "dev-pods",
            RoleRef::role("pod-reader"),
            vec![Subject::user("dev"), builder_without_namespace],
        ),
    ];
    Policy::new(&cluster_roles, &cluster_bindings, &roles, &role_bindings)
}

/// The chain kube-apiserver runs with `--authorization-mode=Node,RBAC`.
fn apiserver_chain(policy: Policy) -> Chain {
    Chain::new(vec![
        Box::new(PrivilegedGroups::default()),
        Box::new(NodeAuthorizer),
        Box::new(RbacAuthorizer::new(policy)),
    ])
}

fn resource_attributes(row: &ResourceRow) -> Attributes {
    let (who, verb, group, resource, subresource, namespace, name, _) = *row;
    Attributes::resource(who.user(), verb, group, resource)
        .with_subresource(subresource)
        .with_namespace(namespace)
        .with_name(name)
}

#[test]
fn resource_requests_decide_like_kubernetes() {
    let chain = apiserver_chain(test_policy());
    let mut wrong = Vec::new();
    for row in RESOURCE_ROWS {
        let (decision, reason) = chain.authorize(&resource_attributes(row));
        if decision != row.7 {
            wrong.push(format!("{row:?} -> {decision:?} ({reason})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong decisions:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn non_resource_requests_decide_like_kubernetes() {
    let chain = apiserver_chain(test_policy());
    let mut wrong = Vec::new();
    for row in PATH_ROWS {
        let (who, verb, path, expected) = *row;
        let (decision, reason) = chain.authorize(&Attributes::non_resource(who.user(), verb, path));
        if decision != expected {
            wrong.push(format!("{row:?} -> {decision:?} ({reason})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong decisions:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn rbac_alone_never_denies() {
    let rbac = RbacAuthorizer::new(test_policy());
    for row in RESOURCE_ROWS {
        let (decision, _) = rbac.authorize(&resource_attributes(row));
        assert_ne!(decision, Deny, "{row:?}");
    }
}

#[test]
fn allow_reasons_name_binding_role_and_subject() {
    let rbac = RbacAuthorizer::new(test_policy());
    let reason = |attrs: Attributes| rbac.authorize(&attrs).1;
    assert_eq!(
        reason(Attributes::resource(
            Who::Bootstrap.user(),
            "create",
            CERTS,
            CSR
        )),
        r#"RBAC: allowed by ClusterRoleBinding "create-csrs-for-bootstrapping" of ClusterRole "system:node-bootstrapper" to Group "system:bootstrappers""#
    );
    assert_eq!(
        reason(
            Attributes::resource(Who::ControllerManager.user(), "update", CERTS, CSR)
                .with_subresource("approval")
        ),
        r#"RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager""#
    );
    assert_eq!(
        reason(
            Attributes::resource(Who::CertificateControllerSa.user(), "update", CERTS, CSR)
                .with_subresource("status")
        ),
        r#"RBAC: allowed by ClusterRoleBinding "system:controller:certificate-controller" of ClusterRole "system:controller:certificate-controller" to ServiceAccount "certificate-controller/kube-system""#
    );
    assert_eq!(
        reason(
            Attributes::resource(Who::BuilderSaTeam.user(), "list", "", "pods")
                .with_namespace("team")
        ),
        r#"RBAC: allowed by RoleBinding "dev-pods/team" of Role "pod-reader" to ServiceAccount "builder/team""#
    );
}

#[test]
fn unresolvable_roles_are_reported_when_nothing_allows() {
    let rbac = RbacAuthorizer::new(test_policy());
    let (decision, reason) = rbac.authorize(
        &Attributes::resource(Who::Dev.user(), "list", "", "pods").with_namespace("other"),
    );
    assert_eq!(decision, Decision::NoOpinion);
    assert_eq!(
        reason,
        r#"RBAC: [clusterrole.rbac.authorization.k8s.io "no-such-role" not found, role.rbac.authorization.k8s.io "pod-reader" not found]"#
    );
}

#[test]
fn chain_order_privileged_then_node_then_rbac() {
    // With no RBAC objects at all, masters are still allowed (PrivilegedGroups comes first)
    // and nodes still reach their own objects (Node authorizer), everyone else is denied.
    let chain = apiserver_chain(Policy::default());
    let secrets = |who: Who| {
        Attributes::resource(who.user(), "get", "", "secrets")
            .with_namespace("x")
            .with_name("s")
    };
    assert_eq!(chain.authorize(&secrets(Who::Admin)).0, Allow);
    assert_eq!(chain.authorize(&secrets(Who::Alice)).0, Deny);
    let own_node = Attributes::resource(Who::NodeA.user(), "update", "", "nodes").with_name("a");
    assert_eq!(chain.authorize(&own_node).0, Allow);
    // The Node authorizer has no opinion on renewals; without the RBAC binding they are denied.
    let renewal = Attributes::resource(Who::NodeA.user(), "create", CERTS, CSR)
        .with_subresource("selfnodeclient");
    assert_eq!(chain.authorize(&renewal).0, Deny);
    // Denial reasons of the authorizers that had one are passed on.
    let other_lease =
        Attributes::resource(Who::NodeA.user(), "update", "coordination.k8s.io", "leases")
            .with_namespace("kube-node-lease")
            .with_name("b");
    assert_eq!(
        chain.authorize(&other_lease),
        (
            Deny,
            "can only access node lease with the same name as the requesting node".to_string()
        )
    );
}

#[test]
fn policy_replacement_takes_effect_immediately() {
    let rbac = RbacAuthorizer::new(Policy::default());
    let create_csr = Attributes::resource(Who::Bootstrap.user(), "create", CERTS, CSR);
    assert_eq!(rbac.authorize(&create_csr).0, Decision::NoOpinion);
    rbac.set_policy(test_policy());
    assert_eq!(rbac.authorize(&create_csr).0, Allow);
    rbac.set_policy(Policy::default());
    assert_eq!(rbac.authorize(&create_csr).0, Decision::NoOpinion);
}

#[test]
fn forbidden_message_for_a_denied_row() {
    let attrs = Attributes::resource(Who::Bootstrap.user(), "list", "", "secrets")
        .with_namespace("kube-system");
    assert_eq!(apiserver_chain(test_policy()).authorize(&attrs).0, Deny);
    assert_eq!(
        rbac::forbidden_message(&attrs),
        r#"User "system:bootstrap:abcdef" cannot list resource "secrets" in API group "" in the namespace "kube-system""#
    );
}
