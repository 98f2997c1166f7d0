//! The default RBAC objects the apiserver seeds at first start, with upstream's rules
//! (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`), limited to the roles this system
//! uses, and upstream's namespaced defaults (`namespace_policy.go`) this system needs. Every
//! object carries upstream's bootstrapping label and autoupdate annotation.

use std::collections::BTreeMap;

use protocol::core::v1::{AUTHENTICATION_CONFIG_MAP, AUTHENTICATION_CONFIG_MAP_NAMESPACE};
use protocol::meta::ObjectMeta;
use protocol::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

/// Label on every default object.
pub const BOOTSTRAPPING_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");
/// Annotation telling the apiserver it may reconcile the object back to the defaults.
pub const AUTOUPDATE_ANNOTATION: (&str, &str) =
    ("rbac.authorization.kubernetes.io/autoupdate", "true");

const LEGACY: &str = "";
const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";
const CERTIFICATES: &str = "certificates.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const RBAC: &str = "rbac.authorization.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const NODE: &str = "node.k8s.io";
const STORAGE: &str = "storage.k8s.io";

const CSRS: &str = "certificatesigningrequests";
const READ: &[&str] = &["get", "list", "watch"];

/// Signer names, as in `certificates.k8s.io/v1`.
const SIGNER_KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
const SIGNER_KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const SIGNER_KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
const SIGNER_LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// The CSR subresource csrapproving asks a SubjectAccessReview for before it renews an
/// expired node client certificate (decision 0027), as `selfnodeclient` for a valid one.
pub const EXPIRED_NODE_CLIENT_SUBRESOURCE: &str = "expirednodeclient";
/// The default ClusterRole granting it, with the CSR verbs the renewal needs.
pub const EXPIRED_NODE_CLIENT_ROLE: &str =
    "kubelet-tls-bootstrap:certificatesigningrequests:expirednodeclient";

/// The default Role reading the published client CA, in
/// `kube-system/extension-apiserver-authentication` (upstream's name: the usual fix for a
/// delegated-authentication 403 binds it).
pub const EXTENSION_AUTHENTICATION_READER_ROLE: &str = "extension-apiserver-authentication-reader";
/// The default RoleBinding of that Role (upstream's name, double colon included).
pub const EXTENSION_AUTHENTICATION_READER_BINDING: &str =
    "system::extension-apiserver-authentication-reader";

/// The default ClusterRoles and ClusterRoleBindings.
///
/// There are deliberately no bindings for `system:node-bootstrapper`, `...:nodeclient` or
/// `...:selfnodeclient`: upstream has none either, the operator creates them (kubeadm does,
/// and so does our seed 003), and auto-approval depends on them.
pub fn default_policy() -> (Vec<ClusterRole>, Vec<ClusterRoleBinding>) {
    (cluster_roles(), cluster_role_bindings())
}

/// The default namespaced Roles and RoleBindings: upstream's reader of the published client
/// CA in `kube-system`, bound to the controller-manager and the scheduler. Upstream's other
/// namespaced defaults (leader-locking, bootstrap-signer, ...) are left out: nothing here
/// uses them.
pub fn namespaced_policy() -> (Vec<Role>, Vec<RoleBinding>) {
    let namespace = AUTHENTICATION_CONFIG_MAP_NAMESPACE;
    let reader = Role {
        metadata: namespaced_metadata(namespace, EXTENSION_AUTHENTICATION_READER_ROLE),
        rules: vec![
            rule(READ)
                .groups(&[LEGACY])
                .resources(&["configmaps"])
                .names(&[AUTHENTICATION_CONFIG_MAP])
                .build(),
        ],
    };
    let binding = RoleBinding {
        metadata: namespaced_metadata(namespace, EXTENSION_AUTHENTICATION_READER_BINDING),
        subjects: vec![
            user("system:kube-controller-manager"),
            user("system:kube-scheduler"),
        ],
        role_ref: RoleRef::role(EXTENSION_AUTHENTICATION_READER_ROLE),
    };
    (vec![reader], vec![binding])
}

/// The default ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    vec![
        role(
            "cluster-admin",
            vec![
                rule(&["*"]).groups(&["*"]).resources(&["*"]).build(),
                rule(&["*"]).urls(&["*"]).build(),
            ],
        ),
        role(
            "system:discovery",
            vec![
                rule(&["get"])
                    .urls(&[
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ])
                    .build(),
            ],
        ),
        role(
            "system:public-info-viewer",
            vec![
                rule(&["get"])
                    .urls(&["/healthz", "/livez", "/readyz", "/version", "/version/"])
                    .build(),
            ],
        ),
        role(
            "system:basic-user",
            vec![
                rule(&["create"])
                    .groups(&[AUTHORIZATION])
                    .resources(&["selfsubjectaccessreviews", "selfsubjectrulesreviews"])
                    .build(),
                rule(&["create"])
                    .groups(&[AUTHENTICATION])
                    .resources(&["selfsubjectreviews"])
                    .build(),
            ],
        ),
        role(
            "system:node-bootstrapper",
            vec![
                rule(&["create", "get", "list", "watch"])
                    .groups(&[CERTIFICATES])
                    .resources(&[CSRS])
                    .build(),
            ],
        ),
        csr_subresource_role("nodeclient"),
        csr_subresource_role("selfnodeclient"),
        // Not in current upstream (removed with the selfnodeserver recognizer); kept so an
        // operator can grant serving-certificate auto-approval the way 1.8-1.11 did.
        csr_subresource_role("selfnodeserver"),
        // Ours (decision 0027): what an expired client certificate may do within the
        // apiserver's offline window once bound to its group: ask for, and wait for, its own
        // renewal. Not bound by default, as the roles above.
        role(
            EXPIRED_NODE_CLIENT_ROLE,
            vec![
                rule(&["create", "get", "list", "watch"])
                    .groups(&[CERTIFICATES])
                    .resources(&[CSRS])
                    .build(),
                rule(&["create"])
                    .groups(&[CERTIFICATES])
                    .resources(&[&format!("{CSRS}/{EXPIRED_NODE_CLIENT_SUBRESOURCE}")])
                    .build(),
            ],
        ),
        approver_role(
            "kube-apiserver-client-approver",
            SIGNER_KUBE_APISERVER_CLIENT,
        ),
        approver_role(
            "kube-apiserver-client-kubelet-approver",
            SIGNER_KUBE_APISERVER_CLIENT_KUBELET,
        ),
        approver_role("kubelet-serving-approver", SIGNER_KUBELET_SERVING),
        approver_role("legacy-unknown-approver", SIGNER_LEGACY_UNKNOWN),
        role("system:node", node_rules()),
        role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"])
                    .groups(&[LEGACY])
                    .resources(&["endpoints", "services"])
                    .build(),
                rule(READ).groups(&[LEGACY]).resources(&["nodes"]).build(),
                events_rule(),
                rule(&["list", "watch"])
                    .groups(&[DISCOVERY])
                    .resources(&["endpointslices"])
                    .build(),
            ],
        ),
        role(
            "system:kube-controller-manager",
            kube_controller_manager_rules(),
        ),
        role(
            "system:controller:certificate-controller",
            certificate_controller_rules(),
        ),
        role(
            "system:controller:clusterrole-aggregation-controller",
            aggregation_controller_rules(),
        ),
    ]
    .into_iter()
    .chain(user_facing_roles())
    .collect()
}

/// Label of a ClusterRole whose rules `admin`, `edit` or `view` take in.
const AGGREGATE_TO: &str = "rbac.authorization.k8s.io/aggregate-to-";

/// `admin`, `edit` and `view` (filled by the controller-manager's `clusterrole-aggregation`
/// from the roles labelled `aggregate-to-<name>`: view goes into edit, edit into admin), and
/// the `system:aggregate-to-*` roles with upstream's rules (Kubernetes 1.30), which name
/// resources this apiserver does not serve too, so the roles read as upstream's.
pub fn user_facing_roles() -> Vec<ClusterRole> {
    const RW: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
    const ALL_VERBS: &[&str] = &[
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let aggregate_to_admin = vec![
        rule(&["create"])
            .groups(&[AUTHORIZATION])
            .resources(&["localsubjectaccessreviews"])
            .build(),
        rule(ALL_VERBS)
            .groups(&[RBAC])
            .resources(&["rolebindings", "roles"])
            .build(),
    ];
    let aggregate_to_edit = vec![
        rule(READ)
            .groups(&[LEGACY])
            .resources(&[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ])
            .build(),
        rule(&["impersonate"])
            .groups(&[LEGACY])
            .resources(&["serviceaccounts"])
            .build(),
        rule(RW)
            .groups(&[LEGACY])
            .resources(&[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["pods/eviction"])
            .build(),
        rule(RW)
            .groups(&[LEGACY])
            .resources(&[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["serviceaccounts/token"])
            .build(),
        rule(RW)
            .groups(&["apps"])
            .resources(&[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ])
            .build(),
        rule(RW)
            .groups(&["autoscaling"])
            .resources(&["horizontalpodautoscalers"])
            .build(),
        rule(RW)
            .groups(&["batch"])
            .resources(&["cronjobs", "jobs"])
            .build(),
        rule(RW)
            .groups(&["extensions"])
            .resources(&[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ])
            .build(),
        rule(RW)
            .groups(&["policy"])
            .resources(&["poddisruptionbudgets"])
            .build(),
        rule(RW)
            .groups(&["networking.k8s.io"])
            .resources(&["ingresses", "networkpolicies"])
            .build(),
        rule(ALL_VERBS)
            .groups(&[COORDINATION])
            .resources(&["leases"])
            .build(),
    ];
    let aggregate_to_view = vec![
        rule(READ)
            .groups(&[LEGACY])
            .resources(&[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ])
            .build(),
        rule(READ)
            .groups(&[LEGACY])
            .resources(&[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ])
            .build(),
        rule(READ)
            .groups(&[LEGACY])
            .resources(&["namespaces"])
            .build(),
        rule(READ)
            .groups(&[DISCOVERY])
            .resources(&["endpointslices"])
            .build(),
        rule(READ)
            .groups(&["apps"])
            .resources(&[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ])
            .build(),
        rule(READ)
            .groups(&["autoscaling"])
            .resources(&[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ])
            .build(),
        rule(READ)
            .groups(&["batch"])
            .resources(&["cronjobs", "cronjobs/status", "jobs", "jobs/status"])
            .build(),
        rule(READ)
            .groups(&["extensions"])
            .resources(&[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ])
            .build(),
        rule(READ)
            .groups(&["policy"])
            .resources(&["poddisruptionbudgets", "poddisruptionbudgets/status"])
            .build(),
        rule(READ)
            .groups(&["networking.k8s.io"])
            .resources(&["ingresses", "ingresses/status", "networkpolicies"])
            .build(),
    ];
    let labelled = |mut role: ClusterRole, into: Option<&str>| {
        if let Some(into) = into {
            role.metadata
                .labels
                .insert(format!("{AGGREGATE_TO}{into}"), "true".to_string());
        }
        role
    };
    let aggregating = |name: &str, into: Option<&str>| {
        let mut role = labelled(role(name, Vec::new()), into);
        let selector = protocol::meta::LabelSelector {
            match_labels: BTreeMap::from([(format!("{AGGREGATE_TO}{name}"), "true".to_string())]),
            match_expressions: Vec::new(),
        };
        role.aggregation_rule = Some(protocol::rbac::v1::AggregationRule {
            cluster_role_selectors: vec![selector],
        });
        role
    };
    vec![
        aggregating("admin", None),
        aggregating("edit", Some("admin")),
        labelled(
            role("system:aggregate-to-admin", aggregate_to_admin),
            Some("admin"),
        ),
        labelled(
            role("system:aggregate-to-edit", aggregate_to_edit),
            Some("edit"),
        ),
        labelled(
            role("system:aggregate-to-view", aggregate_to_view),
            Some("view"),
        ),
        aggregating("view", Some("edit")),
    ]
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    vec![
        binding("cluster-admin", vec![group("system:masters")]),
        binding("system:discovery", vec![group("system:authenticated")]),
        binding("system:basic-user", vec![group("system:authenticated")]),
        binding(
            "system:public-info-viewer",
            vec![
                group("system:authenticated"),
                group("system:unauthenticated"),
            ],
        ),
        binding("system:node-proxier", vec![user("system:kube-proxy")]),
        binding(
            "system:kube-controller-manager",
            vec![user("system:kube-controller-manager")],
        ),
        // Empty on purpose, as upstream: the Node authorizer replaced this binding in 1.7.
        binding("system:node", Vec::new()),
        binding(
            "system:controller:certificate-controller",
            vec![service_account("kube-system", "certificate-controller")],
        ),
        binding(
            "system:controller:clusterrole-aggregation-controller",
            vec![service_account(
                "kube-system",
                "clusterrole-aggregation-controller",
            )],
        ),
    ]
}

/// Upstream's `NodeRules()` (1.2x), the rules of the `system:node` ClusterRole.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"])
            .groups(&[AUTHENTICATION])
            .resources(&["tokenreviews"])
            .build(),
        rule(&["create"])
            .groups(&[AUTHORIZATION])
            .resources(&["localsubjectaccessreviews", "subjectaccessreviews"])
            .build(),
        rule(READ)
            .groups(&[LEGACY])
            .resources(&["services"])
            .build(),
        rule(&["create", "get", "list", "watch"])
            .groups(&[LEGACY])
            .resources(&["nodes"])
            .build(),
        rule(&["patch", "update"])
            .groups(&[LEGACY])
            .resources(&["nodes/status"])
            .build(),
        rule(&["patch", "update"])
            .groups(&[LEGACY])
            .resources(&["nodes"])
            .build(),
        rule(&["create", "patch", "update"])
            .groups(&[LEGACY])
            .resources(&["events"])
            .build(),
        rule(READ).groups(&[LEGACY]).resources(&["pods"]).build(),
        rule(&["create", "delete"])
            .groups(&[LEGACY])
            .resources(&["pods"])
            .build(),
        rule(&["patch", "update"])
            .groups(&[LEGACY])
            .resources(&["pods/status"])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["pods/eviction"])
            .build(),
        rule(READ)
            .groups(&[LEGACY])
            .resources(&["configmaps", "secrets"])
            .build(),
        rule(&["get"])
            .groups(&[LEGACY])
            .resources(&["persistentvolumeclaims", "persistentvolumes"])
            .build(),
        rule(&["get"])
            .groups(&[LEGACY])
            .resources(&["endpoints"])
            .build(),
        rule(&["create", "get", "list", "watch"])
            .groups(&[CERTIFICATES])
            .resources(&[CSRS])
            .build(),
        rule(&["create", "delete", "get", "patch", "update"])
            .groups(&[COORDINATION])
            .resources(&["leases"])
            .build(),
        rule(&["get"])
            .groups(&[STORAGE])
            .resources(&["volumeattachments"])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["serviceaccounts/token"])
            .build(),
        rule(&["get", "patch", "update"])
            .groups(&[LEGACY])
            .resources(&["persistentvolumeclaims/status"])
            .build(),
        rule(READ)
            .groups(&[STORAGE])
            .resources(&["csidrivers"])
            .build(),
        rule(&["create", "delete", "get", "patch", "update"])
            .groups(&[STORAGE])
            .resources(&["csinodes"])
            .build(),
        rule(READ)
            .groups(&[NODE])
            .resources(&["runtimeclasses"])
            .build(),
    ]
}

/// The rules of `system:kube-controller-manager`: upstream's, plus those of
/// `system:controller:certificate-controller` and
/// `system:controller:clusterrole-aggregation-controller`.
///
/// Deviation from upstream: the real kube-controller-manager runs each controller under its
/// own service account (`--use-service-account-credentials`), so upstream binds the CSR rules
/// to `kube-system/certificate-controller` only. Our controller-manager runs every controller
/// as the single user `system:kube-controller-manager`, so this role also carries the
/// certificate-controller rules (CSR get/list/watch/delete, `/approval` and `/status` update,
/// `approve` on the kube-apiserver-client-kubelet signer, `sign` on the four signers, and
/// SubjectAccessReview create), and the aggregation controller's (ClusterRole read, write and
/// `escalate`, since an aggregated role may grant what the writer does not hold). Upstream's
/// rules already give leader election on the Lease
/// `kube-controller-manager` (create any, get/update that name) and events create/update/patch.
pub fn kube_controller_manager_rules() -> Vec<PolicyRule> {
    let mut rules = vec![
        events_rule(),
        rule(&["create"])
            .groups(&[COORDINATION])
            .resources(&["leases"])
            .build(),
        rule(&["get", "update"])
            .groups(&[COORDINATION])
            .resources(&["leases"])
            .names(&["kube-controller-manager"])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["secrets", "serviceaccounts"])
            .build(),
        rule(&["delete"])
            .groups(&[LEGACY])
            .resources(&["secrets"])
            .build(),
        rule(&["get"])
            .groups(&[LEGACY])
            .resources(&["configmaps", "namespaces", "secrets", "serviceaccounts"])
            .build(),
        rule(&["update"])
            .groups(&[LEGACY])
            .resources(&["secrets", "serviceaccounts"])
            .build(),
        rule(&["create"])
            .groups(&[AUTHENTICATION])
            .resources(&["tokenreviews"])
            .build(),
        rule(&["create"])
            .groups(&[AUTHORIZATION])
            .resources(&["subjectaccessreviews"])
            .build(),
        rule(&["list", "watch"])
            .groups(&["*"])
            .resources(&["*"])
            .build(),
        rule(&["create"])
            .groups(&[LEGACY])
            .resources(&["serviceaccounts/token"])
            .build(),
    ];
    rules.extend(certificate_controller_rules());
    rules.extend(aggregation_controller_rules());
    // Upstream's `system:controller:root-ca-cert-publisher` rules: kube-root-ca.crt in each
    // namespace (decision 0029).
    rules.push(
        rule(&["create", "update"])
            .groups(&[LEGACY])
            .resources(&["configmaps"])
            .build(),
    );
    // Ours: csrsupersede writes each node's `<node>-superseded` revocation (decision 0025).
    rules.push(
        rule(&["get", "create", "update"])
            .groups(&["revocation.kubelet-tls-bootstrap.io"])
            .resources(&["certificaterevocations"])
            .build(),
    );
    rules
}

/// Upstream's `system:controller:clusterrole-aggregation-controller` rules.
pub fn aggregation_controller_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["escalate", "get", "list", "patch", "update", "watch"])
            .groups(&[RBAC])
            .resources(&["clusterroles"])
            .build(),
    ]
}

/// Upstream's `system:controller:certificate-controller` rules.
pub fn certificate_controller_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["get", "list", "watch", "delete"])
            .groups(&[CERTIFICATES])
            .resources(&[CSRS])
            .build(),
        rule(&["update"])
            .groups(&[CERTIFICATES])
            .resources(&[
                "certificatesigningrequests/status",
                "certificatesigningrequests/approval",
            ])
            .build(),
        rule(&["approve"])
            .groups(&[CERTIFICATES])
            .resources(&["signers"])
            .names(&[SIGNER_KUBE_APISERVER_CLIENT_KUBELET])
            .build(),
        rule(&["sign"])
            .groups(&[CERTIFICATES])
            .resources(&["signers"])
            .names(&[
                SIGNER_LEGACY_UNKNOWN,
                SIGNER_KUBE_APISERVER_CLIENT,
                SIGNER_KUBE_APISERVER_CLIENT_KUBELET,
                SIGNER_KUBELET_SERVING,
            ])
            .build(),
        rule(&["create"])
            .groups(&[AUTHORIZATION])
            .resources(&["subjectaccessreviews"])
            .build(),
        events_rule(),
    ]
}

/// Upstream's `eventsRule()`.
fn events_rule() -> PolicyRule {
    rule(&["create", "update", "patch"])
        .groups(&[LEGACY, EVENTS])
        .resources(&["events"])
        .build()
}

fn csr_subresource_role(subresource: &str) -> ClusterRole {
    role(
        &format!("system:certificates.k8s.io:certificatesigningrequests:{subresource}"),
        vec![
            rule(&["create"])
                .groups(&[CERTIFICATES])
                .resources(&[&format!("{CSRS}/{subresource}")])
                .build(),
        ],
    )
}

fn approver_role(suffix: &str, signer: &str) -> ClusterRole {
    role(
        &format!("system:certificates.k8s.io:{suffix}"),
        vec![
            rule(&["approve"])
                .groups(&[CERTIFICATES])
                .resources(&["signers"])
                .names(&[signer])
                .build(),
        ],
    )
}

fn default_metadata(name: &str) -> ObjectMeta {
    with_defaults(ObjectMeta::named(name))
}

fn namespaced_metadata(namespace: &str, name: &str) -> ObjectMeta {
    with_defaults(ObjectMeta::namespaced(namespace, name))
}

/// Adds the bootstrapping label and the autoupdate annotation every default carries.
fn with_defaults(mut metadata: ObjectMeta) -> ObjectMeta {
    metadata.labels = BTreeMap::from([(
        BOOTSTRAPPING_LABEL.0.to_string(),
        BOOTSTRAPPING_LABEL.1.to_string(),
    )]);
    metadata.annotations = BTreeMap::from([(
        AUTOUPDATE_ANNOTATION.0.to_string(),
        AUTOUPDATE_ANNOTATION.1.to_string(),
    )]);
    metadata
}

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: default_metadata(name),
        rules,
        ..Default::default()
    }
}

/// A binding of the ClusterRole with the same name.
fn binding(name: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: default_metadata(name),
        subjects,
        role_ref: RoleRef::cluster_role(name),
    }
}

fn group(name: &str) -> Subject {
    Subject::group(name)
}

fn user(name: &str) -> Subject {
    Subject::user(name)
}

fn service_account(namespace: &str, name: &str) -> Subject {
    Subject::service_account(namespace, name)
}

/// Builds a PolicyRule the way upstream's `rbacv1helpers.NewRule(...)` reads.
fn rule(verbs: &[&str]) -> RuleBuilder {
    RuleBuilder(PolicyRule {
        verbs: strings(verbs),
        ..Default::default()
    })
}

struct RuleBuilder(PolicyRule);

impl RuleBuilder {
    fn groups(mut self, groups: &[&str]) -> Self {
        self.0.api_groups = strings(groups);
        self
    }
    fn resources(mut self, resources: &[&str]) -> Self {
        self.0.resources = strings(resources);
        self
    }
    fn names(mut self, names: &[&str]) -> Self {
        self.0.resource_names = strings(names);
        self
    }
    fn urls(mut self, urls: &[&str]) -> Self {
        self.0.non_resource_urls = strings(urls);
        self
    }
    fn build(self) -> PolicyRule {
        self.0
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_goes_into_edit_and_edit_into_admin() {
        let roles = cluster_roles();
        let find = |name: &str| roles.iter().find(|r| r.metadata.name == name).unwrap();
        let selects = |role: &ClusterRole, other: &ClusterRole| {
            role.aggregation_rule.as_ref().is_some_and(|a| {
                a.cluster_role_selectors
                    .iter()
                    .any(|s| s.matches(&other.metadata.labels))
            })
        };
        assert!(selects(find("admin"), find("edit")));
        assert!(selects(find("edit"), find("view")));
        assert!(selects(find("view"), find("system:aggregate-to-view")));
        assert!(selects(find("edit"), find("system:aggregate-to-edit")));
        assert!(selects(find("admin"), find("system:aggregate-to-admin")));
        assert!(!selects(find("view"), find("edit")));
        assert!(!selects(find("view"), find("cluster-admin")));
        assert!(find("view").rules.is_empty());
    }

    #[test]
    fn every_default_object_is_labelled_and_annotated() {
        let (roles, bindings) = default_policy();
        let (namespaced_roles, namespaced_bindings) = namespaced_policy();
        let metas = roles
            .iter()
            .map(|r| &r.metadata)
            .chain(bindings.iter().map(|b| &b.metadata))
            .chain(namespaced_roles.iter().map(|r| &r.metadata))
            .chain(namespaced_bindings.iter().map(|b| &b.metadata));
        for meta in metas {
            assert_eq!(
                meta.labels
                    .get("kubernetes.io/bootstrapping")
                    .map(String::as_str),
                Some("rbac-defaults"),
                "{}",
                meta.name
            );
            assert_eq!(
                meta.annotations
                    .get("rbac.authorization.kubernetes.io/autoupdate")
                    .map(String::as_str),
                Some("true"),
                "{}",
                meta.name
            );
        }
    }

    #[test]
    fn the_requested_roles_exist_and_bindings_point_at_them() {
        let (roles, bindings) = default_policy();
        let names: Vec<&str> = roles.iter().map(|r| r.metadata.name.as_str()).collect();
        for expected in [
            "cluster-admin",
            "system:node-bootstrapper",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeserver",
            EXPIRED_NODE_CLIENT_ROLE,
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            "system:certificates.k8s.io:kubelet-serving-approver",
            "system:certificates.k8s.io:legacy-unknown-approver",
            "system:node",
            "system:node-proxier",
            "system:kube-controller-manager",
            "system:controller:certificate-controller",
            "system:basic-user",
            "system:discovery",
            "system:public-info-viewer",
        ] {
            assert!(names.contains(&expected), "missing role {expected}");
        }
        for binding in &bindings {
            assert_eq!(
                binding.role_ref,
                RoleRef::cluster_role(&binding.role_ref.name)
            );
            assert!(names.contains(&binding.role_ref.name.as_str()));
        }
        let node = bindings.iter().find(|b| b.metadata.name == "system:node");
        assert!(node.is_some_and(|b| b.subjects.is_empty()));
    }

    #[test]
    fn no_default_bindings_for_bootstrap_roles() {
        let (_, bindings) = default_policy();
        for binding in &bindings {
            let role = binding.role_ref.name.as_str();
            assert!(
                role != "system:node-bootstrapper" && !role.contains("certificatesigningrequests:"),
                "unexpected default binding {}",
                binding.metadata.name
            );
        }
    }

    #[test]
    fn writes_kubernetes_json() {
        let (roles, _) = default_policy();
        let selfnodeserver = roles
            .iter()
            .find(|r| r.metadata.name.ends_with(":selfnodeserver"));
        let json = serde_json::to_value(selfnodeserver).unwrap();
        assert_eq!(
            json["rules"],
            serde_json::json!([{
                "verbs": ["create"],
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests/selfnodeserver"]
            }])
        );
        assert_eq!(
            json["metadata"]["labels"]["kubernetes.io/bootstrapping"],
            "rbac-defaults"
        );
    }

    #[test]
    fn namespaced_defaults_are_the_client_ca_reader_and_its_binding() {
        let (roles, bindings) = namespaced_policy();
        let [role] = roles.as_slice() else {
            panic!("one default Role: {roles:?}");
        };
        let [binding] = bindings.as_slice() else {
            panic!("one default RoleBinding: {bindings:?}");
        };
        assert_eq!(role.metadata.namespace, "kube-system");
        assert_eq!(role.metadata.name, EXTENSION_AUTHENTICATION_READER_ROLE);
        assert_eq!(binding.metadata.namespace, "kube-system");
        assert_eq!(
            binding.metadata.name,
            EXTENSION_AUTHENTICATION_READER_BINDING
        );
        // A Role (not a ClusterRole) of the binding's own namespace.
        assert_eq!(binding.role_ref, RoleRef::role(&role.metadata.name));
        assert_eq!(
            binding.subjects,
            vec![
                Subject::user("system:kube-controller-manager"),
                Subject::user("system:kube-scheduler"),
            ]
        );
    }

    #[test]
    fn namespaced_defaults_write_kubernetes_json() {
        let (roles, bindings) = namespaced_policy();
        let metadata = |name: &str| {
            serde_json::json!({
                "name": name,
                "namespace": "kube-system",
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}
            })
        };
        assert_eq!(
            serde_json::to_value(&roles[0]).unwrap(),
            serde_json::json!({
                "kind": "Role",
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": metadata("extension-apiserver-authentication-reader"),
                "rules": [{
                    "verbs": ["get", "list", "watch"],
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["extension-apiserver-authentication"]
                }]
            })
        );
        let user = |name: &str| serde_json::json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name});
        assert_eq!(
            serde_json::to_value(&bindings[0]).unwrap(),
            serde_json::json!({
                "kind": "RoleBinding",
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": metadata("system::extension-apiserver-authentication-reader"),
                "subjects": [
                    user("system:kube-controller-manager"),
                    user("system:kube-scheduler")
                ],
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "extension-apiserver-authentication-reader"
                }
            })
        );
    }

    #[test]
    fn the_scheduler_may_read_the_published_client_ca_and_nothing_else() {
        use crate::{Attributes, Decision, Policy, UserInfo};

        let (cluster_roles, cluster_bindings) = default_policy();
        let (roles, bindings) = namespaced_policy();
        let policy = Policy::new(&cluster_roles, &cluster_bindings, &roles, &bindings);
        let scheduler = UserInfo::new("system:kube-scheduler", ["system:authenticated"]);
        let get = |namespace: &str, name: &str| {
            let request = Attributes::resource(scheduler.clone(), "get", "", "configmaps")
                .with_namespace(namespace)
                .with_name(name);
            policy.evaluate(&request).0
        };
        assert_eq!(
            get("kube-system", "extension-apiserver-authentication"),
            Decision::Allow
        );
        assert_eq!(get("kube-system", "other"), Decision::NoOpinion);
        assert_eq!(
            get("default", "extension-apiserver-authentication"),
            Decision::NoOpinion
        );
    }
}
