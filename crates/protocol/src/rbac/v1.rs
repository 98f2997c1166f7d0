//! `rbac.authorization.k8s.io/v1`: roles, bindings and their rules (`rbac/v1/generated.proto`).

use serde::{Deserialize, Serialize};

use crate::meta::{LabelSelector, ObjectMeta};
use crate::resource::{list_type, resource};
use crate::serde_helpers::null_as_default;

pub const GROUP: &str = "rbac.authorization.k8s.io";
pub const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// One grant: verbs on resources (or on non-resource URLs).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Always written, even when empty (no omitempty upstream).
    #[prost(string, repeated, tag = "1")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub verbs: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    #[serde(
        default,
        rename = "nonResourceURLs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// Who a binding grants to: `User`, `Group` or `ServiceAccount`.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups, empty for service accounts.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[prost(string, tag = "3")]
    #[serde(default)]
    pub name: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding points at.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub api_group: String,
    /// `ClusterRole` or `Role`.
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub kind: String,
    #[prost(string, tag = "3")]
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    #[prost(message, repeated, tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct ClusterRole {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, repeated, tag = "2")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<PolicyRule>,
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<AggregationRule>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct ClusterRoleBinding {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subjects: Vec<Subject>,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub role_ref: RoleRef,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Role {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, repeated, tag = "2")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<PolicyRule>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct RoleBinding {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subjects: Vec<Subject>,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub role_ref: RoleRef,
}

list_type!(ClusterRoleList, ClusterRole);
list_type!(ClusterRoleBindingList, ClusterRoleBinding);
list_type!(RoleList, Role);
list_type!(RoleBindingList, RoleBinding);

resource!(
    ClusterRole,
    ClusterRoleList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "ClusterRole",
    list_kind = "ClusterRoleList",
    plural = "clusterroles",
    namespaced = false
);
resource!(
    ClusterRoleBinding,
    ClusterRoleBindingList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "ClusterRoleBinding",
    list_kind = "ClusterRoleBindingList",
    plural = "clusterrolebindings",
    namespaced = false
);
resource!(
    Role,
    RoleList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Role",
    list_kind = "RoleList",
    plural = "roles",
    namespaced = true
);
resource!(
    RoleBinding,
    RoleBindingList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "RoleBinding",
    list_kind = "RoleBindingList",
    plural = "rolebindings",
    namespaced = true
);

impl PolicyRule {
    /// A resource rule: `verbs` on `resources` in `api_groups`.
    pub fn resource(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(api_groups),
            resources: strings(resources),
            ..Default::default()
        }
    }

    /// A non-resource rule: `verbs` on URL paths (`/healthz`, `/api/*`).
    pub fn non_resource(urls: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            non_resource_urls: strings(urls),
            ..Default::default()
        }
    }
}

impl Subject {
    pub fn user(name: &str) -> Subject {
        Subject {
            kind: "User".into(),
            api_group: GROUP.into(),
            name: name.into(),
            namespace: String::new(),
        }
    }

    pub fn group(name: &str) -> Subject {
        Subject {
            kind: "Group".into(),
            api_group: GROUP.into(),
            name: name.into(),
            namespace: String::new(),
        }
    }

    pub fn service_account(namespace: &str, name: &str) -> Subject {
        Subject {
            kind: "ServiceAccount".into(),
            api_group: String::new(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }
}

impl RoleRef {
    pub fn cluster_role(name: &str) -> RoleRef {
        RoleRef {
            api_group: GROUP.into(),
            kind: "ClusterRole".into(),
            name: name.into(),
        }
    }

    pub fn role(name: &str) -> RoleRef {
        RoleRef {
            api_group: GROUP.into(),
            kind: "Role".into(),
            name: name.into(),
        }
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_role_binding_json_shape() {
        let binding = ClusterRoleBinding {
            metadata: ObjectMeta::named("create-csrs-for-bootstrapping"),
            subjects: vec![Subject::group("system:bootstrappers")],
            role_ref: RoleRef::cluster_role("system:node-bootstrapper"),
        };
        let json = serde_json::to_value(&binding).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "ClusterRoleBinding",
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": "create-csrs-for-bootstrapping"},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:bootstrappers"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-bootstrapper"}
            })
        );
        let back: ClusterRoleBinding = serde_json::from_value(json).unwrap();
        assert_eq!(back, binding);
    }

    #[test]
    fn non_resource_urls_spelling() {
        let rule = PolicyRule::non_resource(&["/healthz"], &["get"]);
        let json = serde_json::to_string(&rule).unwrap();
        assert_eq!(json, r#"{"verbs":["get"],"nonResourceURLs":["/healthz"]}"#);
    }
}
