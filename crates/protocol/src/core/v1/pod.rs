//! `Pod` (`core/v1/generated.proto`): the fields `kubectl run`, `kubectl describe node` and
//! `kubectl describe pod` use; others are dropped (field validation reports them).
//!
//! Nothing in this system runs containers: pods are stored, listed and watched, so that the
//! tools that ask "what runs on this node" get a true answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::node::Quantity;
use super::{API_VERSION, GROUP};
use crate::meta::{ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::{is_false, is_zero_i32, null_as_default};

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Pod {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: PodSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[prost(message, repeated, tag = "2")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[prost(message, repeated, tag = "20")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_containers: Vec<Container>,
    /// `Always`, `OnFailure` or `Never`.
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restart_policy: String,
    #[prost(int64, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[prost(int64, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_policy: String,
    #[prost(btree_map = "string, string", tag = "7")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_selector: BTreeMap<String, String>,
    #[prost(string, tag = "8")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// The node the pod is bound to.
    #[prost(string, tag = "10")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    #[prost(bool, tag = "11")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub host_network: bool,
    #[prost(string, tag = "16")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[prost(string, tag = "17")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    #[prost(string, tag = "19")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scheduler_name: String,
    #[prost(message, repeated, tag = "22")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tolerations: Vec<Toleration>,
    #[prost(string, tag = "24")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub priority_class_name: String,
    #[prost(int32, optional, tag = "25")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[prost(bool, optional, tag = "30")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    #[prost(string, optional, tag = "31")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[prost(string, repeated, tag = "3")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<String>,
    #[prost(string, tag = "5")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[prost(message, repeated, tag = "6")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ContainerPort>,
    #[prost(message, repeated, tag = "7")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<EnvVar>,
    /// Always written, as upstream's `{}` for none.
    #[prost(message, required, tag = "8")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceRequirements,
    #[prost(string, tag = "13")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    #[prost(string, tag = "14")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    #[prost(bool, tag = "16")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin: bool,
    #[prost(bool, tag = "17")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_once: bool,
    #[prost(bool, tag = "18")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[prost(string, tag = "20")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_policy: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[prost(int32, tag = "2")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub host_port: i32,
    #[prost(int32, tag = "3")]
    #[serde(default)]
    pub container_port: i32,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[prost(string, tag = "5")]
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// An environment variable with a literal value (`valueFrom` is not kept).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[prost(btree_map = "string, message", tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: BTreeMap<String, Quantity>,
    #[prost(btree_map = "string, message", tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: BTreeMap<String, Quantity>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// `Exists` or `Equal` (the default).
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub effect: String,
    #[prost(int64, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[prost(message, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<PodCondition>,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "5")]
    #[serde(default, rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    #[prost(string, tag = "6")]
    #[serde(default, rename = "podIP", skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    #[prost(message, optional, tag = "7")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[prost(message, repeated, tag = "8")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub container_statuses: Vec<ContainerStatus>,
    /// `Guaranteed`, `Burstable` or `BestEffort`, set on create.
    #[prost(string, tag = "9")]
    #[serde(default, rename = "qosClass", skip_serializing_if = "String::is_empty")]
    pub qos_class: String,
    #[prost(message, repeated, tag = "10")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[prost(string, tag = "11")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nominated_node_name: String,
    #[prost(message, repeated, tag = "12")]
    #[serde(
        default,
        rename = "podIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_ips: Vec<PodIp>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    /// `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ...
    #[prost(string, tag = "1")]
    #[serde(default, rename = "type")]
    pub type_: String,
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub status: String,
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
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
pub struct PodIp {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub ip: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    #[prost(message, required, tag = "2")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: ContainerState,
    #[prost(message, required, tag = "3")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_state: ContainerState,
    #[prost(bool, tag = "4")]
    #[serde(default)]
    pub ready: bool,
    #[prost(int32, tag = "5")]
    #[serde(default)]
    pub restart_count: i32,
    #[prost(string, tag = "6")]
    #[serde(default)]
    pub image: String,
    #[prost(string, tag = "7")]
    #[serde(default, rename = "imageID")]
    pub image_id: String,
    #[prost(string, tag = "8")]
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
    #[prost(bool, optional, tag = "9")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

/// At most one of the three is set.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateWaiting {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateRunning {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    #[prost(int32, tag = "1")]
    #[serde(default)]
    pub exit_code: i32,
    #[prost(int32, tag = "2")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub signal: i32,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[prost(message, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[prost(message, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[prost(string, tag = "7")]
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
}

list_type!(PodList, Pod);

resource!(
    Pod,
    PodList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Pod",
    list_kind = "PodList",
    plural = "pods",
    namespaced = true
);

/// The resources `kubectl describe node` sums: cpu and memory.
pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";

impl Pod {
    /// Whether the pod has finished for good (`Succeeded` or `Failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.phase.as_str(), "Succeeded" | "Failed")
    }

    /// The QoS class upstream's `GetPodQOS` computes from the containers' requests and limits
    /// (init containers included), on cpu and memory only.
    pub fn qos_class(&self) -> &'static str {
        let containers = || {
            self.spec
                .containers
                .iter()
                .chain(&self.spec.init_containers)
        };
        let mut any_set = false;
        let mut guaranteed = true;
        for container in containers() {
            let resources = &container.resources;
            for name in [CPU, MEMORY] {
                let request = resources.requests.get(name).filter(|q| !is_zero(q));
                let limit = resources.limits.get(name).filter(|q| !is_zero(q));
                any_set |= request.is_some() || limit.is_some();
                // Guaranteed needs a limit on both, and any request equal to it (a request left
                // out is defaulted to the limit).
                match (request, limit) {
                    (_, None) => guaranteed = false,
                    (Some(r), Some(l)) if nano_value(r) != nano_value(l) => guaranteed = false,
                    _ => {}
                }
            }
        }
        if !any_set {
            "BestEffort"
        } else if guaranteed {
            "Guaranteed"
        } else {
            "Burstable"
        }
    }
}

fn is_zero(quantity: &Quantity) -> bool {
    nano_value(quantity) == Some(0)
}

/// A quantity in billionths (`"1"`, `"1000m"` and `"1e0"` are all 10^9), or `None` if it does
/// not parse or does not fit: a decimal number, then a binary (`Ki`..`Ei`), decimal (`n`, `u`,
/// `m`, `k`..`E`) or exponent (`e3`) suffix, as apimachinery's `resource.Quantity` reads it.
pub fn nano_value(quantity: &Quantity) -> Option<i128> {
    let text = quantity.string.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !(whole.chars().chain(fraction.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let (binary, exponent): (u32, i32) = match suffix {
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "" => (0, 0),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        other => (0, other.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    // value = mantissa * 2^binary * 10^(exponent - fraction digits), in units of 10^-9.
    let mut value = mantissa.checked_mul(1i128.checked_shl(binary)?)?;
    let power = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)? + 9;
    if power >= 0 {
        value = value.checked_mul(10i128.checked_pow(power.unsigned_abs())?)?;
    } else {
        value /= 10i128
            .checked_pow(power.unsigned_abs())
            .unwrap_or(i128::MAX);
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = r#"{
      "kind": "Pod", "apiVersion": "v1",
      "metadata": {"name": "web", "namespace": "default", "labels": {"run": "web"},
                   "creationTimestamp": "2024-05-01T10:00:00Z"},
      "spec": {
        "containers": [{"name": "web", "image": "nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"],
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "A", "value": "1"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "imagePullPolicy": "IfNotPresent"}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "default", "nodeName": "node-1",
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
      },
      "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:05Z"}],
        "hostIP": "10.0.0.1", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}],
        "startTime": "2024-05-01T10:00:00Z",
        "containerStatuses": [{"name": "web", "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}},
                               "lastState": {}, "ready": true, "restartCount": 0, "image": "nginx:1.27",
                               "imageID": "docker.io/library/nginx@sha256:ab", "containerID": "containerd://cd", "started": true}],
        "qosClass": "Burstable"
      }
    }"#;

    #[test]
    fn upstream_pod_round_trips_json_and_protobuf() {
        use prost::Message;
        let pod: Pod = serde_json::from_str(UPSTREAM).unwrap();
        assert_eq!(pod.spec.node_name, "node-1");
        assert_eq!(
            pod.spec.containers[0].resources.requests["cpu"].string,
            "250m"
        );
        assert_eq!(pod.status.container_statuses[0].restart_count, 0);
        let json = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            json,
            serde_json::from_str::<serde_json::Value>(UPSTREAM).unwrap()
        );
        let back = Pod::decode(pod.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, pod);
    }

    /// Resource name and quantity pairs.
    type Quantities<'a> = &'a [(&'a str, &'a str)];

    /// A pod with one container per (name, requests, limits).
    fn pod_with(resources: &[(&str, Quantities<'_>, Quantities<'_>)]) -> Pod {
        let quantities = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity::from(*v)))
                .collect()
        };
        let containers = resources
            .iter()
            .map(|(name, requests, limits)| Container {
                name: name.to_string(),
                resources: ResourceRequirements {
                    requests: quantities(requests),
                    limits: quantities(limits),
                },
                ..Default::default()
            })
            .collect();
        Pod {
            spec: PodSpec {
                containers,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        let nanos = |text: &str| nano_value(&Quantity::from(text));
        assert_eq!(nanos("1"), Some(1_000_000_000));
        assert_eq!(nanos("1000m"), nanos("1"));
        assert_eq!(nanos("1e3"), nanos("1k"));
        assert_eq!(nanos("1E-3"), nanos("1m"));
        assert_eq!(nanos("0.5"), nanos("500m"));
        assert_eq!(nanos("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(nanos("1G"), nanos("1000M"));
        assert_eq!(nanos("1n"), Some(1));
        assert_eq!(nanos("-2"), Some(-2_000_000_000));
        assert_eq!(nanos("0"), Some(0));
        assert_eq!(nanos("1Zi"), None);
        assert_eq!(nanos("abc"), None);
        assert_eq!(nanos(""), None);
        assert_eq!(nanos("99999999999999999999999999Ei"), None);
    }

    #[test]
    fn qos_class_follows_requests_and_limits() {
        assert_eq!(pod_with(&[("a", &[], &[])]).qos_class(), "BestEffort");
        assert_eq!(
            pod_with(&[("a", &[("cpu", "0")], &[])]).qos_class(),
            "BestEffort"
        );
        let both = &[("cpu", "1"), ("memory", "1Gi")];
        assert_eq!(pod_with(&[("a", both, both)]).qos_class(), "Guaranteed");
        assert_eq!(pod_with(&[("a", &[], both)]).qos_class(), "Guaranteed");
        assert_eq!(
            pod_with(&[("a", &[("cpu", "1")], &[("cpu", "1")])]).qos_class(),
            "Burstable"
        );
        assert_eq!(
            pod_with(&[("a", both, both), ("b", &[], &[])]).qos_class(),
            "Burstable"
        );
        assert_eq!(
            pod_with(&[("a", &[("cpu", "500m")], both)]).qos_class(),
            "Burstable"
        );
        let thousandths = &[("cpu", "1000m"), ("memory", "1Gi")];
        assert_eq!(
            pod_with(&[("a", thousandths, both)]).qos_class(),
            "Guaranteed"
        );
    }
}
