//! Discovery: the resources this apiserver serves and the legacy discovery documents
//! (`/api` APIVersions, `/apis` APIGroupList, `/apis/<g>/<v>` and `/api/v1` APIResourceList).

mod served;
mod types;

pub use served::{SERVED, ServedResource, Subresource, find, find_by_name};
pub use types::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};

/// `GET /api`: the core group's versions.
pub fn api_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: vec!["v1".to_string()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".to_string(),
            server_address: server_address.to_string(),
        }],
    }
}

/// The named groups in serving order (first appearance in [`SERVED`]).
fn group_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in SERVED {
        if !r.group.is_empty() && !names.contains(&r.group) {
            names.push(r.group);
        }
    }
    names
}

/// `GET /apis/<group>`: one group with its (single, preferred) version.
pub fn api_group(name: &str) -> Option<APIGroup> {
    let version = SERVED
        .iter()
        .find(|r| r.group == name && !name.is_empty())?
        .version;
    let gv = GroupVersionForDiscovery {
        group_version: format!("{name}/{version}"),
        version: version.to_string(),
    };
    Some(APIGroup {
        name: name.to_string(),
        versions: vec![gv.clone()],
        preferred_version: Some(gv),
    })
}

/// `GET /apis`.
pub fn api_group_list() -> APIGroupList {
    APIGroupList {
        groups: group_names().into_iter().filter_map(api_group).collect(),
    }
}

/// `GET /api/v1` (group `""`) or `GET /apis/<group>/<version>`; `None` if not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    let mut resources = Vec::new();
    for r in SERVED
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(r.api_resource());
        for sub in r.subresources {
            resources.push(APIResource {
                name: format!("{}/{}", r.plural, sub.name),
                singular_name: String::new(),
                namespaced: r.namespaced,
                kind: r.kind.to_string(),
                verbs: sub.verbs.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            });
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(APIResourceList {
        group_version,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_resource_list_has_subresources() {
        let list = api_resource_list("certificates.k8s.io", "v1").unwrap();
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(json["kind"], "APIResourceList");
        assert_eq!(json["groupVersion"], "certificates.k8s.io/v1");
        let names: Vec<&str> = list.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "certificatesigningrequests",
                "certificatesigningrequests/approval",
                "certificatesigningrequests/status"
            ]
        );
        assert_eq!(
            json["resources"][0]["shortNames"],
            serde_json::json!(["csr"])
        );
        assert_eq!(
            json["resources"][0]["singularName"],
            "certificatesigningrequest"
        );
        assert_eq!(
            json["resources"][1]["verbs"],
            serde_json::json!(["get", "patch", "update"])
        );
    }

    #[test]
    fn group_list_and_core() {
        let groups: Vec<String> = api_group_list()
            .groups
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(
            groups,
            [
                "certificates.k8s.io",
                "rbac.authorization.k8s.io",
                "coordination.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io",
                "revocation.kubelet-tls-bootstrap.io"
            ]
        );
        let core = api_resource_list("", "v1").unwrap();
        assert_eq!(core.group_version, "v1");
        assert!(core.resources.iter().any(|r| r.name == "nodes/status"));
        assert!(api_resource_list("apps", "v1").is_none());
        let json = serde_json::to_value(api_versions("10.0.0.1:6443")).unwrap();
        assert_eq!(json["versions"], serde_json::json!(["v1"]));
        assert_eq!(
            json["serverAddressByClientCIDRs"][0]["clientCIDR"],
            "0.0.0.0/0"
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(find("", "ev").unwrap().plural, "events");
        assert_eq!(
            find("certificates.k8s.io", "csr").unwrap().kind,
            "CertificateSigningRequest"
        );
        assert!(
            find_by_name("authorization.k8s.io", "selfsubjectaccessreviews")
                .unwrap()
                .verbs
                == ["create"]
        );
    }
}
