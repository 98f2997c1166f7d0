//! The resources this apiserver serves.

use super::APIResource;

/// A subresource (`/status`, `/approval`) and its verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub verbs: &'static [&'static str],
}

/// One served resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedResource {
    /// Empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Groupings kubectl expands (`kubectl get all`).
    pub categories: &'static [&'static str],
}

impl ServedResource {
    /// `group/version` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store's resource key: `"<group>/<plural>"`, `core` for the core group.
    pub fn store_key(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("{group}/{}", self.plural)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    pub fn api_resource(&self) -> APIResource {
        APIResource {
            name: self.plural.to_string(),
            singular_name: self.singular.to_string(),
            namespaced: self.namespaced,
            kind: self.kind.to_string(),
            verbs: self.verbs.iter().map(|v| v.to_string()).collect(),
            short_names: self.short_names.iter().map(|v| v.to_string()).collect(),
            categories: self.categories.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }
    }
}

const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
const STATUS: Subresource = Subresource {
    name: "status",
    verbs: STATUS_VERBS,
};

/// Every served resource, in discovery order.
pub static SERVED: &[ServedResource] = &[
    ServedResource {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        verbs: ALL,
        short_names: &["ev"],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        short_names: &["ns"],
        subresources: &[STATUS],
        categories: &[],
    },
    ServedResource {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        verbs: ALL,
        short_names: &["no"],
        subresources: &[STATUS],
        categories: &[],
    },
    ServedResource {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        verbs: ALL,
        short_names: &["po"],
        subresources: &[STATUS],
        categories: &["all"],
    },
    ServedResource {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        verbs: ALL,
        short_names: &["cm"],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "certificates.k8s.io",
        version: "v1",
        plural: "certificatesigningrequests",
        singular: "certificatesigningrequest",
        kind: "CertificateSigningRequest",
        namespaced: false,
        verbs: ALL,
        short_names: &["csr"],
        subresources: &[
            Subresource {
                name: "approval",
                verbs: STATUS_VERBS,
            },
            STATUS,
        ],
        categories: &[],
    },
    ServedResource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        verbs: ALL,
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "tokenreviews",
        singular: "tokenreview",
        kind: "TokenReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        kind: "SubjectAccessReview",
        namespaced: false,
        verbs: &["create"],
        short_names: &[],
        subresources: &[],
        categories: &[],
    },
    ServedResource {
        group: "revocation.kubelet-tls-bootstrap.io",
        version: "v1alpha1",
        plural: "certificaterevocations",
        singular: "certificaterevocation",
        kind: "CertificateRevocation",
        namespaced: false,
        verbs: ALL,
        short_names: &["certrev"],
        subresources: &[],
        categories: &[],
    },
];

/// Finds a resource of `group` by plural (the URL form).
pub fn find_by_name(group: &str, plural: &str) -> Option<&'static ServedResource> {
    SERVED
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Finds a resource of `group` by plural, singular, short name or kind (case-insensitive kind).
pub fn find(group: &str, name: &str) -> Option<&'static ServedResource> {
    SERVED.iter().find(|r| {
        r.group == group
            && (r.plural == name
                || r.singular == name
                || r.short_names.contains(&name)
                || r.kind.eq_ignore_ascii_case(name))
    })
}
