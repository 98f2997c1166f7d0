//! The authenticated identity an authorization decision is made for.

use std::collections::BTreeMap;

/// Members of this group may do anything; the apiserver puts [`crate::PrivilegedGroups`]
/// for it first in the authorizer chain.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Added by the apiserver to every authenticated (non-anonymous) user.
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// The group of the anonymous user.
pub const SYSTEM_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group every node client certificate carries (`O=system:nodes`).
pub const SYSTEM_NODES: &str = "system:nodes";
/// Username prefix of node identities (`CN=system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group every bootstrap-token user is in.
pub const SYSTEM_BOOTSTRAPPERS: &str = "system:bootstrappers";
/// Username prefix of service accounts: `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The group of all service accounts.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";

/// Who is asking, as the authenticator established it (Kubernetes' `user.Info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups, no uid and no extra.
    pub fn new(
        name: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            groups: groups.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The identity a service account token authenticates as: the username
    /// `system:serviceaccount:<ns>:<name>` and the groups `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(
            service_account_username(namespace, name),
            [
                SERVICE_ACCOUNTS_GROUP.to_string(),
                format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
                SYSTEM_AUTHENTICATED.to_string(),
            ],
        )
    }

    /// True when `group` is one of the user's groups.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node name when this is a node identity (group `system:nodes` and username
    /// `system:node:<name>` with a non-empty name), as the Node authorizer decides it.
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(SYSTEM_NODES) {
            return None;
        }
        self.name
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|name| !name.is_empty())
    }
}

/// `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_name_needs_both_group_and_prefix() {
        let node = UserInfo::new("system:node:a", [SYSTEM_NODES]);
        assert_eq!(node.node_name(), Some("a"));
        let no_group = UserInfo::new("system:node:a", [SYSTEM_AUTHENTICATED]);
        assert_eq!(no_group.node_name(), None);
        let wrong_name = UserInfo::new("kubelet-a", [SYSTEM_NODES]);
        assert_eq!(wrong_name.node_name(), None);
        let empty_name = UserInfo::new("system:node:", [SYSTEM_NODES]);
        assert_eq!(empty_name.node_name(), None);
    }

    #[test]
    fn service_account_identity_carries_its_groups() {
        let sa = UserInfo::service_account("kube-system", "certificate-controller");
        assert_eq!(
            sa.name,
            "system:serviceaccount:kube-system:certificate-controller"
        );
        assert!(sa.in_group("system:serviceaccounts"));
        assert!(sa.in_group("system:serviceaccounts:kube-system"));
        assert!(sa.in_group(SYSTEM_AUTHENTICATED));
    }
}
