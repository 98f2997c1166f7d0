//! The served resources: what each one is called, where it is stored, how its bodies decode, and
//! which [`Strategy`] shapes its writes. Discovery and routing both read this one table.

use std::sync::Arc;

use prost::Message;
use protocol::Resource;
use protocol::meta::Status;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Strategy;
use super::names::NameRule;
use super::strategies::{
    ConfigMapStrategy, DefaultStrategy, LeaseStrategy, NamespaceStrategy, NodeStrategy,
    SecretStrategy,
};

/// Turns a request body of one media type into the object's JSON form (typed on the way, so
/// wrong field types are rejected as upstream's decoder does).
type Decoder = fn(&[u8]) -> Result<Value, String>;

/// How the handlers serve one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Stored objects with the full CRUD and watch verbs.
    Stored,
    /// Create-only questions answered on the spot (access reviews): nothing stored.
    Review,
}

/// One served resource (`/apis/<group>/<version>/<plural>`).
pub struct ResourceDef {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub backing: Backing,
    pub name_rule: NameRule,
    pub strategy: Arc<dyn Strategy>,
    decode_json: Decoder,
    decode_protobuf: Decoder,
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceDef")
            .field("group", &self.group)
            .field("plural", &self.plural)
            .finish_non_exhaustive()
    }
}

impl ResourceDef {
    fn of<T>(
        singular: &'static str,
        short_names: &'static [&'static str],
        name_rule: NameRule,
        strategy: Arc<dyn Strategy>,
    ) -> ResourceDef
    where
        T: Resource + Message + Default + Serialize + DeserializeOwned,
    {
        ResourceDef {
            group: <T as Resource>::GROUP,
            version: <T as Resource>::VERSION,
            plural: <T as Resource>::PLURAL,
            singular,
            kind: <T as Resource>::KIND,
            list_kind: "",
            namespaced: <T as Resource>::NAMESPACED,
            short_names,
            backing: Backing::Stored,
            name_rule,
            strategy,
            decode_json: decode_json::<T>,
            decode_protobuf: decode_protobuf::<T>,
        }
    }

    fn with_list_kind(mut self, list_kind: &'static str) -> ResourceDef {
        self.list_kind = list_kind;
        self
    }

    fn review(mut self) -> ResourceDef {
        self.backing = Backing::Review;
        self
    }

    /// `group/version`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store's resource key: `"<group>/<plural>"`, `core` for the core group.
    pub fn store_resource(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("{group}/{}", self.plural)
    }

    /// Whether `subresource` (`""` for the main resource) is served.
    pub fn serves_subresource(&self, subresource: &str) -> bool {
        subresource.is_empty() || self.strategy.subresources().contains(&subresource)
    }

    /// Decodes a JSON body into the object's canonical JSON form.
    pub fn decode_json(&self, body: &[u8]) -> Result<Value, Status> {
        (self.decode_json)(body).map_err(Status::bad_request)
    }

    /// Decodes a protobuf envelope body into the object's JSON form.
    pub fn decode_protobuf(&self, body: &[u8]) -> Result<Value, Status> {
        (self.decode_protobuf)(body).map_err(Status::bad_request)
    }

    /// Re-reads an already-JSON object through the typed form (after a patch), so its shape is
    /// checked exactly like a body's.
    pub fn normalize(&self, object: &Value) -> Result<Value, Status> {
        let bytes = serde_json::to_vec(object).map_err(Status::internal_error)?;
        self.decode_json(&bytes)
    }
}

fn decode_json<T: Serialize + DeserializeOwned>(body: &[u8]) -> Result<Value, String> {
    let typed: T = serde_json::from_slice(body)
        .map_err(|e| format!("the body of the request could not be decoded: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| format!("failed to encode the object: {e}"))
}

fn decode_protobuf<T>(body: &[u8]) -> Result<Value, String>
where
    T: Message + Default + protocol::Typed + Serialize + DeserializeOwned,
{
    let typed: T = protocol::envelope::decode(body).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| format!("failed to encode the object: {e}"))
}

/// Every served resource.
#[derive(Debug)]
pub struct Registry {
    resources: Vec<ResourceDef>,
}

impl Registry {
    /// The resources this apiserver serves, with their strategies.
    pub fn served() -> Registry {
        use protocol::authentication::v1 as authn;
        use protocol::authorization::v1 as authz;
        use protocol::certificates::v1 as certs;
        use protocol::coordination::v1 as coord;
        use protocol::core::v1 as core;
        use protocol::rbac::v1 as rbac;
        use protocol::revocation::v1alpha1 as revocation;

        let plain: Arc<dyn Strategy> = Arc::new(DefaultStrategy);
        let resources = vec![
            ResourceDef::of::<certs::CertificateSigningRequest>(
                "certificatesigningrequest",
                &["csr"],
                NameRule::PathSegment,
                Arc::new(super::csr::CsrStrategy),
            )
            .with_list_kind("CertificateSigningRequestList"),
            ResourceDef::of::<rbac::ClusterRole>(
                "clusterrole",
                &[],
                NameRule::PathSegment,
                Arc::new(super::rbac_writes::RoleStrategy { cluster: true }),
            )
            .with_list_kind("ClusterRoleList"),
            ResourceDef::of::<rbac::ClusterRoleBinding>(
                "clusterrolebinding",
                &[],
                NameRule::PathSegment,
                Arc::new(super::rbac_writes::BindingStrategy { cluster: true }),
            )
            .with_list_kind("ClusterRoleBindingList"),
            ResourceDef::of::<rbac::Role>(
                "role",
                &[],
                NameRule::PathSegment,
                Arc::new(super::rbac_writes::RoleStrategy { cluster: false }),
            )
            .with_list_kind("RoleList"),
            ResourceDef::of::<rbac::RoleBinding>(
                "rolebinding",
                &[],
                NameRule::PathSegment,
                Arc::new(super::rbac_writes::BindingStrategy { cluster: false }),
            )
            .with_list_kind("RoleBindingList"),
            ResourceDef::of::<core::Node>(
                "node",
                &["no"],
                NameRule::Dns1123Subdomain,
                Arc::new(NodeStrategy),
            )
            .with_list_kind("NodeList"),
            ResourceDef::of::<core::Pod>(
                "pod",
                &["po"],
                NameRule::Dns1123Subdomain,
                Arc::new(super::pods::PodStrategy),
            )
            .with_list_kind("PodList"),
            ResourceDef::of::<core::Secret>(
                "secret",
                &[],
                NameRule::Dns1123Subdomain,
                Arc::new(SecretStrategy),
            )
            .with_list_kind("SecretList"),
            ResourceDef::of::<core::ConfigMap>(
                "configmap",
                &["cm"],
                NameRule::Dns1123Subdomain,
                Arc::new(ConfigMapStrategy),
            )
            .with_list_kind("ConfigMapList"),
            ResourceDef::of::<core::Namespace>(
                "namespace",
                &["ns"],
                NameRule::Dns1123Label,
                Arc::new(NamespaceStrategy),
            )
            .with_list_kind("NamespaceList"),
            ResourceDef::of::<core::Event>(
                "event",
                &["ev"],
                NameRule::Dns1123Subdomain,
                plain.clone(),
            )
            .with_list_kind("EventList"),
            ResourceDef::of::<coord::Lease>(
                "lease",
                &[],
                NameRule::Dns1123Subdomain,
                Arc::new(LeaseStrategy),
            )
            .with_list_kind("LeaseList"),
            ResourceDef::of::<authn::SelfSubjectReview>(
                "selfsubjectreview",
                &[],
                NameRule::Any,
                plain.clone(),
            )
            .review(),
            ResourceDef::of::<authn::TokenReview>("tokenreview", &[], NameRule::Any, plain.clone())
                .review(),
            ResourceDef::of::<authz::SelfSubjectRulesReview>(
                "selfsubjectrulesreview",
                &[],
                NameRule::Any,
                plain.clone(),
            )
            .review(),
            ResourceDef::of::<authz::SubjectAccessReview>(
                "subjectaccessreview",
                &[],
                NameRule::Any,
                plain.clone(),
            )
            .review(),
            ResourceDef::of::<authz::SelfSubjectAccessReview>(
                "selfsubjectaccessreview",
                &[],
                NameRule::Any,
                plain,
            )
            .review(),
            ResourceDef::of::<revocation::CertificateRevocation>(
                "certificaterevocation",
                &["certrev"],
                NameRule::Dns1123Subdomain,
                Arc::new(super::revocations::RevocationStrategy),
            )
            .with_list_kind("CertificateRevocationList"),
        ];
        Registry { resources }
    }

    /// All resources, in discovery order.
    pub fn all(&self) -> &[ResourceDef] {
        &self.resources
    }

    /// The resource at `/<group>/<version>/<plural>`, if served.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Whether any resource is served under `group/version`.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.group == group && r.version == version)
    }

    /// The served groups (not the core group) with their versions, in first-seen order.
    pub fn groups(&self) -> Vec<(&'static str, &'static str)> {
        let mut groups: Vec<(&'static str, &'static str)> = Vec::new();
        for r in &self.resources {
            if !r.group.is_empty() && !groups.contains(&(r.group, r.version)) {
                groups.push((r.group, r.version));
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keys_use_core_for_the_core_group() {
        let registry = Registry::served();
        let nodes = registry.find("", "v1", "nodes").unwrap();
        assert_eq!(nodes.store_resource(), "core/nodes");
        assert_eq!(nodes.api_version(), "v1");
        let csrs = registry
            .find("certificates.k8s.io", "v1", "certificatesigningrequests")
            .unwrap();
        assert_eq!(
            csrs.store_resource(),
            "certificates.k8s.io/certificatesigningrequests"
        );
        assert!(csrs.serves_subresource("approval"));
        assert!(!csrs.serves_subresource("scale"));
    }

    #[test]
    fn served_resources_match_discovery() {
        let registry = Registry::served();
        let served = protocol::discovery::SERVED;
        assert_eq!(registry.all().len(), served.len());
        for def in registry.all() {
            let doc = protocol::discovery::find_by_name(def.group, def.plural)
                .unwrap_or_else(|| panic!("{} is not in discovery", def.plural));
            assert_eq!(
                (doc.version, doc.kind, doc.namespaced),
                (def.version, def.kind, def.namespaced)
            );
            assert_eq!(doc.short_names, def.short_names, "{}", def.plural);
            let subresources: Vec<&str> = doc.subresources.iter().map(|s| s.name).collect();
            let mut ours: Vec<&str> = def.strategy.subresources().to_vec();
            ours.sort_unstable();
            let mut theirs = subresources.clone();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{}", def.plural);
        }
    }

    #[test]
    fn wrong_field_types_are_bad_requests() {
        let registry = Registry::served();
        let nodes = registry.find("", "v1", "nodes").unwrap();
        let err = nodes
            .decode_json(br#"{"metadata": {"name": 5}}"#)
            .unwrap_err();
        assert_eq!(err.http_code(), 400);
        let err = nodes.decode_json(b"{not json").unwrap_err();
        assert_eq!(err.reason, "BadRequest");
        let err = nodes.decode_protobuf(b"k8s\0\xff\xff").unwrap_err();
        assert_eq!(err.http_code(), 400);
    }
}
