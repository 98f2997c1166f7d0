//! The per-kind printers (columns and cells as upstream prints them).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Printable, column, human_duration, since, since_micro};
use crate::certificates::v1::CertificateSigningRequest;
use crate::coordination::v1::Lease;
use crate::core::v1::{ConfigMap, Event, EventSource, Namespace, Node, Pod, Secret};
use crate::meta::{ObjectMeta, TableColumnDefinition, Time};
use crate::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject};
use crate::revocation::v1alpha1::CertificateRevocation;

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn name_column() -> TableColumnDefinition {
    column("Name", "string", "name", 0, NAME_DOC)
}

fn age_column() -> TableColumnDefinition {
    column("Age", "string", "", 0, CREATED_DOC)
}

fn age(meta: &ObjectMeta, now: &Time) -> Value {
    Value::String(since(meta.creation_timestamp.as_ref(), now))
}

// === CertificateSigningRequest ===

impl Printable for CertificateSigningRequest {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            age_column(),
            column(
                "SignerName",
                "string",
                "",
                0,
                "Only one of SignerName should be specified.",
            ),
            column("Requestor", "string", "", 0, "Name of requestor"),
            column(
                "RequestedDuration",
                "string",
                "",
                0,
                "Requested duration of the certificate",
            ),
            column(
                "Condition",
                "string",
                "",
                0,
                "The status of the certificate signing request",
            ),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let signer = if self.spec.signer_name.is_empty() {
            "<none>".to_string()
        } else {
            self.spec.signer_name.clone()
        };
        let requested = match self.spec.expiration_seconds {
            Some(seconds) => human_duration(i64::from(seconds)),
            None => "<none>".to_string(),
        };
        vec![
            json!(self.metadata.name),
            age(&self.metadata, now),
            json!(signer),
            json!(self.spec.username),
            json!(requested),
            json!(self.condition_summary()),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === Node ===

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` value.
fn node_roles(node: &Node) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in &node.metadata.labels {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role" && !value.is_empty() {
            roles.insert(value.clone());
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_status(node: &Node) -> String {
    let mut status = match node.condition("Ready") {
        Some(c) if c.status == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if node.spec.unschedulable {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

fn node_address(node: &Node, type_: &str) -> String {
    node.status
        .addresses
        .iter()
        .find(|a| a.type_ == type_)
        .map(|a| a.address.clone())
        .unwrap_or_else(|| "<none>".to_string())
}

impl Printable for Node {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column("Status", "string", "", 0, "The status of the node"),
            column("Roles", "string", "", 0, "The roles of the node"),
            age_column(),
            column(
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            column(
                "Internal-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
            column(
                "External-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
            column(
                "OS-Image",
                "string",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            column(
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            column(
                "Container-Runtime",
                "string",
                "",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let info = self.status.node_info.clone().unwrap_or_default();
        let or_unknown = |s: &str| {
            if s.is_empty() {
                "<unknown>".to_string()
            } else {
                s.to_string()
            }
        };
        vec![
            json!(self.metadata.name),
            json!(node_status(self)),
            json!(node_roles(self)),
            age(&self.metadata, now),
            json!(info.kubelet_version),
            json!(node_address(self, "InternalIP")),
            json!(node_address(self, "ExternalIP")),
            json!(or_unknown(&info.os_image)),
            json!(or_unknown(&info.kernel_version)),
            json!(or_unknown(&info.container_runtime_version)),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === Pod ===

/// `printPod`'s STATUS: the phase, or the reason of the most telling container state.
fn pod_status(pod: &Pod) -> (String, usize) {
    let mut reason = if pod.status.reason.is_empty() {
        pod.status.phase.clone()
    } else {
        pod.status.reason.clone()
    };
    let mut initializing = false;
    for (i, status) in pod.status.init_container_statuses.iter().enumerate() {
        let state = &status.state;
        if matches!(&state.terminated, Some(t) if t.exit_code == 0) {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = &state.terminated {
            if !t.reason.is_empty() {
                format!("Init:{}", t.reason)
            } else if t.signal != 0 {
                format!("Init:Signal:{}", t.signal)
            } else {
                format!("Init:ExitCode:{}", t.exit_code)
            }
        } else if let Some(w) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
            if w.reason == "PodInitializing" {
                reason.clone()
            } else {
                format!("Init:{}", w.reason)
            }
        } else {
            format!("Init:{}/{}", i, pod.spec.init_containers.len())
        };
        break;
    }
    let mut ready = 0;
    if !initializing {
        let mut running = false;
        for status in pod.status.container_statuses.iter().rev() {
            let state = &status.state;
            if let Some(w) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
                reason = w.reason.clone();
            } else if let Some(t) = &state.terminated {
                reason = if !t.reason.is_empty() {
                    t.reason.clone()
                } else if t.signal != 0 {
                    format!("Signal:{}", t.signal)
                } else {
                    format!("ExitCode:{}", t.exit_code)
                };
            } else if state.running.is_some() && status.ready {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            let pod_ready = pod
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if pod.status.reason == "NodeLost" {
            "Unknown".to_string()
        } else {
            "Terminating".to_string()
        };
    }
    (reason, ready)
}

/// RESTARTS: the sum, and how long ago the last one was (`3 (5m ago)`).
fn pod_restarts(pod: &Pod, now: &Time) -> String {
    let statuses = || {
        pod.status
            .container_statuses
            .iter()
            .chain(&pod.status.init_container_statuses)
    };
    let restarts: i32 = statuses().map(|s| s.restart_count).sum();
    let last = statuses()
        .filter_map(|s| s.last_state.terminated.as_ref()?.finished_at.as_ref())
        .max_by_key(|t| t.unix_seconds());
    match last {
        Some(time) if restarts > 0 => format!("{restarts} ({} ago)", since(Some(time), now)),
        _ => restarts.to_string(),
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text.to_string()
    }
}

impl Printable for Pod {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            column(
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            column(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_column(),
            column("IP", "string", "", 1, "The IP address assigned to the pod"),
            column(
                "Node",
                "string",
                "",
                1,
                "The name of the node assigned to the pod",
            ),
            column(
                "Nominated Node",
                "string",
                "",
                1,
                "The name of the node that is nominated to run this pod when it is preempting other pods",
            ),
            column(
                "Readiness Gates",
                "string",
                "",
                1,
                "The pod's readiness gates, if any",
            ),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let (status, ready) = pod_status(self);
        let ip = self
            .status
            .pod_ips
            .first()
            .map(|ip| ip.ip.as_str())
            .unwrap_or(&self.status.pod_ip);
        vec![
            json!(self.metadata.name),
            json!(format!("{ready}/{}", self.spec.containers.len())),
            json!(status),
            json!(pod_restarts(self, now)),
            age(&self.metadata, now),
            json!(or_none(ip)),
            json!(or_none(&self.spec.node_name)),
            json!(or_none(&self.status.nominated_node_name)),
            json!("<none>"),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === RBAC ===

fn created_at(meta: &ObjectMeta) -> Value {
    meta.creation_timestamp
        .filter(|t| !t.is_zero())
        .map(|t| json!(t.to_string()))
        .unwrap_or(Value::Null)
}

macro_rules! role_printer {
    ($ty:ty) => {
        impl Printable for $ty {
            fn columns() -> Vec<TableColumnDefinition> {
                vec![
                    name_column(),
                    column("Created At", "date", "", 0, CREATED_DOC),
                ]
            }

            fn cells(&self, _now: &Time) -> Vec<Value> {
                vec![json!(self.metadata.name), created_at(&self.metadata)]
            }

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    };
}

role_printer!(ClusterRole);
role_printer!(Role);

fn binding_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(),
        column(
            "Role",
            "string",
            "",
            0,
            "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
        ),
        age_column(),
        column("Users", "string", "", 1, "Users in the binding"),
        column("Groups", "string", "", 1, "Groups in the binding"),
        column(
            "ServiceAccounts",
            "string",
            "",
            1,
            "ServiceAccounts in the binding",
        ),
    ]
}

fn binding_cells(
    meta: &ObjectMeta,
    role_ref: &RoleRef,
    subjects: &[Subject],
    now: &Time,
) -> Vec<Value> {
    let names = |kind: &str| -> String {
        subjects
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| {
                if kind == "ServiceAccount" {
                    format!("{}/{}", s.namespace, s.name)
                } else {
                    s.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        json!(meta.name),
        json!(format!("{}/{}", role_ref.kind, role_ref.name)),
        age(meta, now),
        json!(names("User")),
        json!(names("Group")),
        json!(names("ServiceAccount")),
    ]
}

impl Printable for ClusterRoleBinding {
    fn columns() -> Vec<TableColumnDefinition> {
        binding_columns()
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        binding_cells(&self.metadata, &self.role_ref, &self.subjects, now)
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for RoleBinding {
    fn columns() -> Vec<TableColumnDefinition> {
        binding_columns()
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        binding_cells(&self.metadata, &self.role_ref, &self.subjects, now)
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === Secret, Namespace, Lease ===

impl Printable for Secret {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column(
                "Type",
                "string",
                "",
                0,
                "Used to facilitate programmatic handling of secret data.",
            ),
            column("Data", "string", "", 0, "Data contains the secret data."),
            age_column(),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        // The stored object may still carry stringData (merged on write); count both like upstream's
        // internal object, whose Data already holds the merged keys.
        let mut keys: BTreeSet<&String> = self.data.keys().collect();
        keys.extend(self.string_data.keys());
        vec![
            json!(self.metadata.name),
            json!(self.type_),
            json!(keys.len()),
            age(&self.metadata, now),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for ConfigMap {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column(
                "Data",
                "string",
                "",
                0,
                "Data contains the configuration data.",
            ),
            age_column(),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        vec![
            json!(self.metadata.name),
            json!(self.data.len() + self.binary_data.len()),
            age(&self.metadata, now),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Namespace {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column("Status", "string", "", 0, "The status of the namespace"),
            age_column(),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        vec![
            json!(self.metadata.name),
            json!(self.status.phase),
            age(&self.metadata, now),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Printable for Lease {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column(
                "Holder",
                "string",
                "",
                0,
                "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
            ),
            age_column(),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let holder = self.spec.holder_identity.clone().unwrap_or_default();
        vec![
            json!(self.metadata.name),
            json!(holder),
            age(&self.metadata, now),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === Event ===

/// `formatEventSource`: `component, host`, falling back to the reporting fields.
fn event_source(
    source: &EventSource,
    reporting_component: &str,
    reporting_instance: &str,
) -> String {
    let (component, host) = if source.component.is_empty() {
        (reporting_component, reporting_instance)
    } else {
        (source.component.as_str(), source.host.as_str())
    };
    if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    }
}

impl Printable for Event {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            column(
                "Last Seen",
                "string",
                "",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            column(
                "Type",
                "string",
                "",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            column(
                "Reason",
                "string",
                "",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            column(
                "Object",
                "string",
                "",
                0,
                "The object that this event is about.",
            ),
            column(
                "Subobject",
                "string",
                "",
                1,
                "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
            ),
            column(
                "Source",
                "string",
                "",
                1,
                "The component reporting this event. Should be a short machine understandable string.",
            ),
            column(
                "Message",
                "string",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            column(
                "First Seen",
                "string",
                "",
                1,
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            ),
            column(
                "Count",
                "string",
                "",
                1,
                "The number of times this event has occurred.",
            ),
            column("Name", "string", "name", 1, NAME_DOC),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let first = match self.first_timestamp.filter(|t| !t.is_zero()) {
            Some(t) => since(Some(&t), now),
            None => since_micro(self.event_time.as_ref(), now),
        };
        let mut last = match self.last_timestamp.filter(|t| !t.is_zero()) {
            Some(t) => since(Some(&t), now),
            None => first.clone(),
        };
        let mut count = i64::from(self.count);
        if let Some(series) = &self.series {
            last = since_micro(series.last_observed_time.as_ref(), now);
            count = i64::from(series.count);
        } else if count == 0 {
            count = 1;
        }
        let kind = self.involved_object.kind.to_lowercase();
        let target = if self.involved_object.name.is_empty() {
            kind
        } else {
            format!("{kind}/{}", self.involved_object.name)
        };
        vec![
            json!(last),
            json!(self.type_),
            json!(self.reason),
            json!(target),
            json!(self.involved_object.field_path),
            json!(event_source(
                &self.source,
                &self.reporting_component,
                &self.reporting_instance
            )),
            json!(self.message.trim()),
            json!(first),
            json!(count),
            json!(self.metadata.name),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

// === CertificateRevocation (ours) ===

impl Printable for CertificateRevocation {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            name_column(),
            column(
                "User",
                "string",
                "",
                0,
                "Every client certificate of this user issued before IssuedBefore is revoked.",
            ),
            column(
                "Issued-Before",
                "string",
                "",
                0,
                "Certificates of User whose NotBefore is earlier are revoked.",
            ),
            column(
                "Serials",
                "string",
                "",
                0,
                "Serial numbers of revoked certificates (hex).",
            ),
            column(
                "Reason",
                "string",
                "",
                1,
                "Why the certificates were revoked.",
            ),
            age_column(),
        ]
    }

    fn cells(&self, now: &Time) -> Vec<Value> {
        let spec = &self.spec;
        let serials = match spec.serial_numbers.as_slice() {
            [] => "<none>".to_string(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} + {} more", rest.len()),
        };
        vec![
            json!(self.metadata.name),
            json!(or_none(spec.user.as_deref().unwrap_or(""))),
            json!(
                spec.issued_before
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "<none>".to_string())
            ),
            json!(serials),
            json!(or_none(spec.reason.as_deref().unwrap_or(""))),
            age(&self.metadata, now),
        ]
    }

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}
