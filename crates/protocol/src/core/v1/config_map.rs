//! `ConfigMap`: the controller-manager publishes the cluster's CA bundle in `kube-root-ca.crt`
//! (upstream's root-ca-cert-publisher), which kubelet-agents read to follow a CA rotation
//! (decision 0029).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{API_VERSION, GROUP};
use crate::meta::ObjectMeta;
use crate::resource::{list_type, resource};
use crate::serde_helpers::{base64_map, null_as_default};

/// The ConfigMap upstream's root-ca-cert-publisher writes into every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its one key: the PEM bundle of the CAs clients should trust for the apiserver.
pub const ROOT_CA_CONFIG_MAP_KEY: &str = "ca.crt";
/// The namespace kubelet-agents read it from (readable by `system:nodes`).
pub const ROOT_CA_NAMESPACE_FOR_NODES: &str = "kube-public";
/// Ours, on `kube-root-ca.crt`: the credential ID form (`X509SHA256=<hex>`) of the CA
/// certificate the controller-manager signs `kubernetes.io/kube-apiserver-client-kubelet`
/// certificates with now. A kubelet-agent whose client certificate has another issuer
/// renews it at once.
pub const KUBELET_CLIENT_SIGNER_CA_ANNOTATION: &str =
    "kubelet-tls-bootstrap/kube-apiserver-client-kubelet-ca";
/// The same for `kubernetes.io/kubelet-serving`.
pub const KUBELET_SERVING_SIGNER_CA_ANNOTATION: &str = "kubelet-tls-bootstrap/kubelet-serving-ca";

/// Where kube-apiserver publishes its `--client-ca-file` for components with delegated
/// authentication (kube-controller-manager's secure port without `--client-ca-file`).
pub const AUTHENTICATION_CONFIG_MAP_NAMESPACE: &str = "kube-system";
pub const AUTHENTICATION_CONFIG_MAP: &str = "extension-apiserver-authentication";
/// Its key holding the client CA bundle (PEM).
pub const AUTHENTICATION_CONFIG_MAP_CLIENT_CA_KEY: &str = "client-ca-file";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct ConfigMap {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(btree_map = "string, string", tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, String>,
    /// Values are raw bytes; base64 in JSON.
    #[prost(btree_map = "string, bytes", tag = "3")]
    #[serde(
        default,
        with = "base64_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub binary_data: BTreeMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

list_type!(ConfigMapList, ConfigMap);

resource!(
    ConfigMap,
    ConfigMapList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "ConfigMap",
    list_kind = "ConfigMapList",
    plural = "configmaps",
    namespaced = true
);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn json_and_protobuf_round_trip() {
        let json = r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"kube-root-ca.crt","namespace":"kube-public"},
            "data":{"ca.crt":"-----BEGIN CERTIFICATE-----\n"},"binaryData":{"raw":"AAE="}}"#;
        let config_map: ConfigMap = serde_json::from_str(json).unwrap();
        assert_eq!(config_map.data["ca.crt"], "-----BEGIN CERTIFICATE-----\n");
        assert_eq!(config_map.binary_data["raw"], vec![0, 1]);
        let back = serde_json::to_value(&config_map).unwrap();
        assert_eq!(back["binaryData"]["raw"], "AAE=");
        let decoded = ConfigMap::decode(config_map.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, config_map);
    }
}
