//! `Node` (`core/v1/generated.proto`); the fields a kubelet reports, others are dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{API_VERSION, GROUP};
use crate::meta::{ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::{is_false, null_as_default};

/// Ours (decision 0027): the credential ID (`X509SHA256=...`) of the client certificate the
/// node's kubelet-agent runs with. The agent writes it; the apiserver lets a node write only
/// the ID of the certificate it authenticates with, so the value is the newest certificate of
/// the node's lineage that has talked to the cluster. csrapproving renews an expired client
/// certificate only if it is this one.
pub const NODE_CLIENT_CERTIFICATE_ANNOTATION: &str = "kubelet-tls-bootstrap/client-certificate";

/// Ours (decision 0029): the credential ID form (`X509SHA256=...`) of the CA certificate that
/// issued the client certificate named by [`NODE_CLIENT_CERTIFICATE_ANNOTATION`]. Only the
/// apiserver writes it: when a node names the certificate it authenticates with, the apiserver
/// sets this to the CA that verified it (a value sent by the node is replaced). A CA rotation
/// counts the nodes on the new issuer with it.
pub const NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION: &str =
    "kubelet-tls-bootstrap/client-certificate-issuer";

/// Ours (decision 0029): the bundle ID (`SHA256=<hex>` over the DER of its
/// certificates, in order) of the CA bundle the node's kubelet-agent trusts for the apiserver.
/// The node reports it itself; a CA rotation waits for every node to trust the new bundle
/// before the apiserver's serving certificate moves to the new CA.
pub const NODE_ROOT_CA_BUNDLE_ANNOTATION: &str = "kubelet-tls-bootstrap/root-ca-bundle";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Node {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: NodeSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[prost(string, tag = "1")]
    #[serde(default, rename = "podCIDR", skip_serializing_if = "String::is_empty")]
    pub pod_cidr: String,
    #[prost(string, repeated, tag = "7")]
    #[serde(
        default,
        rename = "podCIDRs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_cidrs: Vec<String>,
    #[prost(string, tag = "3")]
    #[serde(
        default,
        rename = "providerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// Cordoned (`kubectl cordon`): printed as `,SchedulingDisabled`.
    #[prost(bool, tag = "4")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    #[prost(message, repeated, tag = "5")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub taints: Vec<Taint>,
    #[prost(string, tag = "2")]
    #[serde(
        default,
        rename = "externalID",
        skip_serializing_if = "String::is_empty"
    )]
    pub external_id: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub key: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[prost(string, tag = "3")]
    #[serde(default)]
    pub effect: String,
    #[prost(message, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[prost(btree_map = "string, message", tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub capacity: BTreeMap<String, Quantity>,
    #[prost(btree_map = "string, message", tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocatable: BTreeMap<String, Quantity>,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[prost(message, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<NodeCondition>,
    #[prost(message, repeated, tag = "5")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub addresses: Vec<NodeAddress>,
    #[prost(message, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_endpoints: Option<NodeDaemonEndpoints>,
    #[prost(message, optional, tag = "7")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    #[prost(message, repeated, tag = "8")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<ContainerImage>,
    #[prost(string, repeated, tag = "9")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes_in_use: Vec<String>,
}

/// A resource quantity (`"4"`, `"8Gi"`); a message in protobuf, a plain string in JSON.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity {
    #[prost(string, tag = "1")]
    pub string: String,
}

impl From<&str> for Quantity {
    fn from(value: &str) -> Self {
        Quantity {
            string: value.to_string(),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    #[prost(string, tag = "1")]
    #[serde(default, rename = "type")]
    pub type_: String,
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub status: String,
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    #[prost(message, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[prost(string, tag = "5")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    /// `Hostname`, `InternalIP`, `ExternalIP`, `InternalDNS`, `ExternalDNS`.
    #[prost(string, tag = "1")]
    #[serde(default, rename = "type")]
    pub type_: String,
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub address: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDaemonEndpoints {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_endpoint: Option<DaemonEndpoint>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
pub struct DaemonEndpoint {
    /// Upstream spells this JSON field with a capital P.
    #[prost(int32, tag = "1")]
    #[serde(default, rename = "Port")]
    pub port: i32,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    #[prost(string, tag = "1")]
    #[serde(default, rename = "machineID")]
    pub machine_id: String,
    #[prost(string, tag = "2")]
    #[serde(default, rename = "systemUUID")]
    pub system_uuid: String,
    #[prost(string, tag = "3")]
    #[serde(default, rename = "bootID")]
    pub boot_id: String,
    #[prost(string, tag = "4")]
    #[serde(default)]
    pub kernel_version: String,
    #[prost(string, tag = "5")]
    #[serde(default)]
    pub os_image: String,
    #[prost(string, tag = "6")]
    #[serde(default)]
    pub container_runtime_version: String,
    /// Printed in the VERSION column of `kubectl get nodes`.
    #[prost(string, tag = "7")]
    #[serde(default)]
    pub kubelet_version: String,
    #[prost(string, tag = "8")]
    #[serde(default)]
    pub kube_proxy_version: String,
    #[prost(string, tag = "9")]
    #[serde(default)]
    pub operating_system: String,
    #[prost(string, tag = "10")]
    #[serde(default)]
    pub architecture: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    #[prost(string, repeated, tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    #[prost(int64, tag = "2")]
    #[serde(default, skip_serializing_if = "crate::serde_helpers::is_zero_i64")]
    pub size_bytes: i64,
}

list_type!(NodeList, Node);

resource!(
    Node,
    NodeList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Node",
    list_kind = "NodeList",
    plural = "nodes",
    namespaced = false
);

impl Node {
    pub fn condition(&self, type_: &str) -> Option<&NodeCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = r#"{
      "kind": "Node", "apiVersion": "v1",
      "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/worker": ""},
                   "creationTimestamp": "2024-05-01T10:00:00Z"},
      "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"], "unschedulable": true,
               "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": "2024-05-01T10:00:00Z"}]},
      "status": {
        "capacity": {"cpu": "4", "memory": "8Gi"},
        "allocatable": {"cpu": "4", "memory": "7Gi"},
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-05-01T10:01:00Z",
                        "lastTransitionTime": "2024-05-01T10:00:00Z", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": "10.1.2.3"}, {"type": "Hostname", "address": "n1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                     "osImage": "Debian", "containerRuntimeVersion": "containerd://1.7",
                     "kubeletVersion": "v1.32.0", "kubeProxyVersion": "", "operatingSystem": "linux",
                     "architecture": "amd64"}
      }
    }"#;

    #[test]
    fn upstream_node_round_trips_json_and_protobuf() {
        use prost::Message;
        let node: Node = serde_json::from_str(UPSTREAM).unwrap();
        assert_eq!(node.status.capacity["memory"].string, "8Gi");
        assert_eq!(
            node.status.node_info.as_ref().unwrap().kubelet_version,
            "v1.32.0"
        );
        assert_eq!(node.condition("Ready").unwrap().status, "True");
        let json = serde_json::to_value(&node).unwrap();
        assert_eq!(
            json,
            serde_json::from_str::<serde_json::Value>(UPSTREAM).unwrap()
        );
        let back = Node::decode(node.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, node);
    }
}
