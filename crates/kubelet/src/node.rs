//! The node's presence in the cluster: register the Node (create, or adopt an existing one),
//! renew its Lease in `kube-node-lease`, and keep the Ready condition fresh through
//! `nodes/status`. Every failure is retried with a capped backoff; nothing here is fatal.
//!
//! The Node also records which client certificate the agent runs with (the annotation
//! [`NODE_CLIENT_CERTIFICATE_ANNOTATION`], decision 0027): the apiserver renews an expired
//! client certificate only if it is that one, the newest of the node's lineage. And it
//! records the CA bundle the agent trusts for the apiserver
//! ([`NODE_ROOT_CA_BUNDLE_ANNOTATION`], decision 0029), which a CA rotation waits for. Both
//! are written in the create, and after a change by one update of the Node at the next
//! heartbeat.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use client::{Client, ClientError, RetryPolicy};
use protocol::coordination::v1::{Lease, LeaseSpec};
use protocol::core::v1::{
    DaemonEndpoint, NODE_CLIENT_CERTIFICATE_ANNOTATION, NODE_ROOT_CA_BUNDLE_ANNOTATION, Node,
    NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo, Quantity,
};
use protocol::meta::{MicroTime, ObjectMeta, OwnerReference, Time};
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::state::AgentState;

/// The kubelet version we report (`nodeInfo.kubeletVersion`).
pub const KUBELET_VERSION: &str = "v1.32.0-tlsboot";
/// Namespace of node heartbeats.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The kubelet's `nodeLeaseDurationSeconds`.
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// How often the Ready heartbeat is written even when nothing changed.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(40);

/// Who this node is.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub labels: BTreeMap<String, String>,
    pub port: u16,
}

impl NodeIdentity {
    /// `--node-labels` plus the labels every kubelet sets.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), self.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), go_arch().into());
        labels.insert("beta.kubernetes.io/os".into(), "linux".into());
        labels.insert("beta.kubernetes.io/arch".into(), go_arch().into());
        labels
    }

    /// InternalIP for each `--node-ip`, then Hostname.
    pub fn addresses(&self) -> Vec<NodeAddress> {
        let mut addresses: Vec<NodeAddress> = self
            .ips
            .iter()
            .map(|ip| NodeAddress {
                type_: "InternalIP".into(),
                address: ip.to_string(),
            })
            .collect();
        addresses.push(NodeAddress {
            type_: "Hostname".into(),
            address: self.name.clone(),
        });
        addresses
    }

    /// The status the agent reports; `previous` keeps the Ready transition time.
    pub fn status(&self, previous: Option<&NodeStatus>) -> NodeStatus {
        let now = Time::now();
        let transition = previous
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .filter(|c| c.status == "True")
            .and_then(|c| c.last_transition_time)
            .unwrap_or(now);
        let machine = machine();
        NodeStatus {
            allocatable: machine.capacity.clone(),
            capacity: machine.capacity.clone(),
            conditions: vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_heartbeat_time: Some(now),
                last_transition_time: Some(transition),
                reason: "KubeletReady".into(),
                message: "kubelet is posting ready status".into(),
            }],
            addresses: self.addresses(),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: i32::from(self.port),
                }),
            }),
            node_info: Some(NodeSystemInfo {
                machine_id: machine.machine_id.clone(),
                boot_id: machine.boot_id.clone(),
                kernel_version: machine.kernel_version.clone(),
                os_image: machine.os_image.clone(),
                kubelet_version: KUBELET_VERSION.into(),
                operating_system: "linux".into(),
                architecture: go_arch().into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The Node to register; `client_certificate` is the credential ID of the client
    /// certificate in use and `root_ca_bundle` the bundle ID of the CA bundle trusted,
    /// recorded in the create itself (no extra request).
    pub fn node(&self, client_certificate: Option<&str>, root_ca_bundle: Option<&str>) -> Node {
        let mut metadata = ObjectMeta::named(self.name.clone());
        metadata.labels = self.labels();
        for (key, value) in [
            (NODE_CLIENT_CERTIFICATE_ANNOTATION, client_certificate),
            (NODE_ROOT_CA_BUNDLE_ANNOTATION, root_ca_bundle),
        ] {
            if let Some(value) = value {
                metadata
                    .annotations
                    .insert(key.to_owned(), value.to_owned());
            }
        }
        Node {
            metadata,
            status: self.status(None),
            ..Default::default()
        }
    }
}

/// Registers the node, then renews the Lease and the status until `shutdown` turns true.
pub async fn run(
    client: Client,
    identity: NodeIdentity,
    renew_interval: Duration,
    state: Arc<AgentState>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Fail fast and let this loop's own backoff retry, so an outage is counted and logged
    // (the client's default retries would hide it for 30 s); identity stays shared.
    let client = client
        .with_retry(RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(1),
        })
        .with_timeout(Duration::from_secs(10));
    let mut heartbeat = Heartbeat::new(client, identity, state);
    let mut backoff = Backoff::heartbeat();
    loop {
        match heartbeat.register().await {
            Ok(()) => {
                heartbeat.state.note_client_accepted();
                break;
            }
            Err(e) => {
                heartbeat.failed("register the node", &e);
                if sleep_or_shutdown(backoff.next_delay(), &mut shutdown).await {
                    return;
                }
            }
        }
    }
    let mut next_status = tokio::time::Instant::now() + STATUS_INTERVAL;
    loop {
        let delay = match heartbeat.renew_lease().await {
            Ok(()) => {
                heartbeat.state.note_client_accepted();
                backoff.reset();
                renew_interval
            }
            Err(e) => {
                heartbeat.failed("renew the node lease", &e);
                backoff.next_delay().min(renew_interval)
            }
        };
        // A rotated client certificate goes on the Node at once, not at the next status
        // interval: until then an expired-certificate renewal would not be approved for it.
        // A new trusted CA bundle too: a CA rotation waits for it.
        if heartbeat.annotations_unrecorded() {
            next_status = tokio::time::Instant::now();
        }
        if tokio::time::Instant::now() >= next_status {
            let updated = match heartbeat.update_status().await {
                // Deleted behind our back: register again, as the kubelet does.
                Err(e) if e.is_not_found() => heartbeat.register().await,
                other => other,
            };
            match updated {
                Ok(()) => next_status = tokio::time::Instant::now() + STATUS_INTERVAL,
                Err(e) => heartbeat.failed("update the node status", &e),
            }
        }
        if sleep_or_shutdown(delay, &mut shutdown).await {
            return;
        }
    }
}

/// True when shutdown was requested.
pub async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = shutdown.changed() => true,
    }
}

/// One node's registration and heartbeat calls, each one API round trip or a few; [`run`]
/// loops over them, and the bootstrap-storm benchmark times them one by one.
pub struct Heartbeat {
    client: Client,
    identity: NodeIdentity,
    state: Arc<AgentState>,
    /// The last Lease we wrote (its resourceVersion makes the next update a compare-and-swap).
    lease: Option<Lease>,
    /// The Node as we last wrote or read it: the next status update starts from it instead
    /// of a GET (its resourceVersion makes the update a compare-and-swap; on a conflict the
    /// Node is read again).
    node: Option<Node>,
    /// `register` created the Node just now, so its Lease is almost surely absent: the first
    /// renewal creates it without looking first (AlreadyExists falls back to reading it).
    node_is_new: bool,
    node_uid: Option<String>,
    /// A credential ID the apiserver refused to record on the Node (403): not asked again
    /// until the certificate changes, so heartbeats go on without a failing request each.
    refused_credential_id: Option<String>,
    /// The same for the trusted CA bundle's ID.
    refused_root_ca_bundle: Option<String>,
}

impl Heartbeat {
    pub fn new(client: Client, identity: NodeIdentity, state: Arc<AgentState>) -> Heartbeat {
        Heartbeat {
            client,
            identity,
            state,
            lease: None,
            node: None,
            node_is_new: false,
            node_uid: None,
            refused_credential_id: None,
            refused_root_ca_bundle: None,
        }
    }

    fn failed(&self, what: &str, error: &ClientError) {
        self.state.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
        if error.is_unauthorized() {
            self.state.note_client_refused(std::time::SystemTime::now());
        }
        tracing::warn!(node = %self.identity.name, error = %error, "failed to {what}; retrying");
    }

    /// Create the Node with its status and its client certificate and CA bundle annotations
    /// (one request for a new node; upstream's kubelet registers the same way), or take over
    /// the existing one: labels merged, annotations and status reported.
    pub async fn register(&mut self) -> Result<(), ClientError> {
        let client_certificate = self
            .state
            .client_credential_id()
            .filter(|id| self.refused_credential_id.as_ref() != Some(id));
        let root_ca_bundle = self
            .state
            .root_ca_bundle()
            .filter(|id| self.refused_root_ca_bundle.as_ref() != Some(id));
        let wanted = self
            .identity
            .node(client_certificate.as_deref(), root_ca_bundle.as_deref());
        // The annotations must not keep the node out. Only the client certificate's is
        // restricted (NodeRestriction), so a refusal is put on it first, then on the bundle,
        // each dropped in turn.
        let mut created = self.client.create::<Node>(None, &wanted).await;
        if let (Err(e), Some(id)) = (&created, &client_certificate)
            && e.is_forbidden()
        {
            self.annotation_refused(id.clone(), e);
            let without = self.identity.node(None, root_ca_bundle.as_deref());
            created = self.client.create::<Node>(None, &without).await;
        }
        if let (Err(e), Some(bundle)) = (&created, &root_ca_bundle)
            && e.is_forbidden()
        {
            self.bundle_refused(bundle.clone(), e);
            let plain = self.identity.node(None, None);
            created = self.client.create::<Node>(None, &plain).await;
        }
        match created {
            Ok(node) => {
                tracing::info!(node = %self.identity.name, "successfully registered node");
                self.node_is_new = true;
                self.remember(node);
                Ok(())
            }
            Err(e) if e.is_already_exists() => {
                let mut existing = self.client.get::<Node>(None, &self.identity.name).await?;
                let missing_labels = wanted
                    .metadata
                    .labels
                    .iter()
                    .any(|(k, v)| existing.metadata.labels.get(k) != Some(v));
                if missing_labels {
                    existing
                        .metadata
                        .labels
                        .extend(wanted.metadata.labels.clone());
                    existing = self.client.update::<Node>(None, &existing).await?;
                }
                tracing::info!(node = %self.identity.name, "node already registered; taking it over");
                // The annotation, if it names another certificate, goes with the status
                // update, where a refusal of it does not stop the takeover.
                self.node_is_new = false;
                self.remember(existing);
                self.update_status().await
            }
            Err(e) => Err(e),
        }
    }

    /// Reports the node's status, starting from the Node we last saw; when someone else
    /// changed it since (a conflict), from a fresh read. When the Node names another client
    /// certificate than ours, the Node itself is updated first: a status subresource need not
    /// keep metadata changes.
    pub async fn update_status(&mut self) -> Result<(), ClientError> {
        let known = self.node.take();
        let from_known = known.is_some();
        let node = match known {
            Some(node) => node,
            None => self.client.get::<Node>(None, &self.identity.name).await?,
        };
        let updated = match self.write_node(node).await {
            Err(e) if from_known && e.is_conflict() => {
                let fresh = self.client.get::<Node>(None, &self.identity.name).await?;
                self.write_node(fresh).await?
            }
            other => other?,
        };
        self.remember(updated);
        Ok(())
    }

    /// Whether the Node we last saw names another client certificate than the one in use
    /// (after a rotation).
    pub fn client_certificate_unrecorded(&self) -> bool {
        self.node
            .as_ref()
            .is_some_and(|node| self.credential_id_to_record(node).is_some())
    }

    /// Whether the Node we last saw names another CA bundle than the one trusted (after the
    /// agent took a new one).
    pub fn root_ca_bundle_unrecorded(&self) -> bool {
        self.node
            .as_ref()
            .is_some_and(|node| self.bundle_to_record(node).is_some())
    }

    /// Either of the above: [`run`] then updates the Node without waiting for the status
    /// interval, both annotations in one update.
    pub fn annotations_unrecorded(&self) -> bool {
        self.client_certificate_unrecorded() || self.root_ca_bundle_unrecorded()
    }

    /// The bundle ID to write on `node`, if the state knows one the Node lacks and the
    /// apiserver has not refused it already.
    fn bundle_to_record(&self, node: &Node) -> Option<String> {
        let current = self.state.root_ca_bundle();
        recorded_update(node, NODE_ROOT_CA_BUNDLE_ANNOTATION, current.as_deref())
            .filter(|id| self.refused_root_ca_bundle.as_deref() != Some(*id))
            .map(str::to_owned)
    }

    /// The credential ID to write on `node`, if the state knows one the Node lacks and the
    /// apiserver has not refused it already.
    fn credential_id_to_record(&self, node: &Node) -> Option<String> {
        let current = self.state.client_credential_id();
        recorded_update(node, NODE_CLIENT_CERTIFICATE_ANNOTATION, current.as_deref())
            .filter(|id| self.refused_credential_id.as_deref() != Some(*id))
            .map(str::to_owned)
    }

    async fn write_node(&mut self, node: Node) -> Result<Node, ClientError> {
        let node = self.record_annotations(node).await?;
        self.put_status(node).await
    }

    /// Writes the annotations that changed (client certificate, trusted CA bundle) with one
    /// update of the Node. A refusal (403) does not stop the heartbeat. Only the client
    /// certificate's annotation is restricted (NodeRestriction: the ID must be the certificate
    /// we authenticate with), so a refusal is put on it first and the bundle tried alone.
    async fn record_annotations(&mut self, node: Node) -> Result<Node, ClientError> {
        let credential_id = self.credential_id_to_record(&node);
        let bundle = self.bundle_to_record(&node);
        if credential_id.is_none() && bundle.is_none() {
            return Ok(node);
        }
        let mut updated = self
            .update_annotations(&node, credential_id.as_deref(), bundle.as_deref())
            .await;
        if let (Err(e), Some(id)) = (&updated, &credential_id)
            && e.is_forbidden()
        {
            self.annotation_refused(id.clone(), e);
            if bundle.is_none() {
                return Ok(node);
            }
            updated = self
                .update_annotations(&node, None, bundle.as_deref())
                .await;
        }
        if let (Err(e), Some(refused)) = (&updated, &bundle)
            && e.is_forbidden()
        {
            self.bundle_refused(refused.clone(), e);
            return Ok(node);
        }
        updated
    }

    async fn update_annotations(
        &self,
        node: &Node,
        credential_id: Option<&str>,
        bundle: Option<&str>,
    ) -> Result<Node, ClientError> {
        let annotated = annotated(node, credential_id, bundle);
        let updated = self.client.update::<Node>(None, &annotated).await?;
        if let Some(id) = credential_id {
            tracing::info!(node = %self.identity.name, credential_id = %id, "recorded the client certificate on the Node");
        }
        if let Some(bundle) = bundle {
            tracing::info!(node = %self.identity.name, bundle = %bundle, "recorded the trusted CA bundle on the Node");
        }
        Ok(updated)
    }

    fn bundle_refused(&mut self, bundle: String, error: &ClientError) {
        self.state.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            node = %self.identity.name,
            bundle = %bundle,
            error = %error,
            "the apiserver refused to record the trusted CA bundle on the Node; a CA rotation will count this node as behind"
        );
        self.refused_root_ca_bundle = Some(bundle);
    }

    fn annotation_refused(&mut self, credential_id: String, error: &ClientError) {
        self.state.heartbeat_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            node = %self.identity.name,
            credential_id = %credential_id,
            error = %error,
            "the apiserver refused to record the client certificate on the Node; once it expires it may not be renewed without a bootstrap token"
        );
        self.refused_credential_id = Some(credential_id);
    }

    async fn put_status(&self, mut node: Node) -> Result<Node, ClientError> {
        node.status = self.identity.status(Some(&node.status));
        self.client
            .update_subresource::<Node>(None, &self.identity.name, "status", &node)
            .await
    }

    fn remember(&mut self, node: Node) {
        self.node_uid = Some(node.metadata.uid.clone());
        self.node = Some(node);
    }

    pub async fn renew_lease(&mut self) -> Result<(), ClientError> {
        let name = self.identity.name.clone();
        let now = MicroTime::now();
        if self.lease.is_none() && std::mem::take(&mut self.node_is_new) {
            match self
                .client
                .create::<Lease>(Some(LEASE_NAMESPACE), &self.new_lease(now))
                .await
            {
                Ok(created) => {
                    self.lease = Some(created);
                    self.state.lease_renewals.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                // Left behind by an earlier Node of this name: renew it below.
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
        }
        let lease = match self.lease.take() {
            Some(lease) => lease,
            None => match self.client.get::<Lease>(Some(LEASE_NAMESPACE), &name).await {
                Ok(lease) => lease,
                Err(e) if e.is_not_found() => {
                    let created = self
                        .client
                        .create::<Lease>(Some(LEASE_NAMESPACE), &self.new_lease(now))
                        .await?;
                    self.lease = Some(created);
                    self.state.lease_renewals.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => return Err(e),
            },
        };
        let mut renewed = lease;
        renewed.spec.holder_identity = Some(name.clone());
        renewed.spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
        renewed.spec.renew_time = Some(now);
        match self
            .client
            .update::<Lease>(Some(LEASE_NAMESPACE), &renewed)
            .await
        {
            Ok(lease) => {
                self.lease = Some(lease);
                self.state.lease_renewals.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            // Someone else wrote it (or it was recreated): fetch it again next time.
            Err(e) => Err(e),
        }
    }

    fn new_lease(&self, now: MicroTime) -> Lease {
        node_lease(&self.identity.name, self.node_uid.as_deref(), now)
    }
}

/// The node's Lease as the kubelet writes it: held by the node, owned by its Node once the
/// Node's uid is known (so the Lease goes when the Node is deleted).
pub fn node_lease(node: &str, node_uid: Option<&str>, now: MicroTime) -> Lease {
    let mut metadata = ObjectMeta::namespaced(LEASE_NAMESPACE, node.to_owned());
    if let Some(uid) = node_uid {
        metadata.owner_references = vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node.to_owned(),
            uid: uid.to_owned(),
            ..Default::default()
        }];
    }
    Lease {
        metadata,
        spec: LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(now),
            ..Default::default()
        },
    }
}

/// `node` with the given annotations set (the others kept).
fn annotated(node: &Node, credential_id: Option<&str>, bundle: Option<&str>) -> Node {
    let mut annotated = node.clone();
    for (key, value) in [
        (NODE_CLIENT_CERTIFICATE_ANNOTATION, credential_id),
        (NODE_ROOT_CA_BUNDLE_ANNOTATION, bundle),
    ] {
        if let Some(value) = value {
            annotated
                .metadata
                .annotations
                .insert(key.to_owned(), value.to_owned());
        }
    }
    annotated
}

/// The value to record on `node` under `annotation` (the client certificate's credential
/// ID, the trusted bundle's ID): `current` when it is known and the Node says otherwise (or
/// nothing).
fn recorded_update<'a>(node: &Node, annotation: &str, current: Option<&'a str>) -> Option<&'a str> {
    let current = current?;
    let recorded = node.metadata.annotations.get(annotation);
    (recorded.map(String::as_str) != Some(current)).then_some(current)
}

/// `runtime.GOARCH` spelling of the build target.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What the node reports about its machine. Read once per process, as the kubelet reads its
/// machine info once at start (cAdvisor): re-reading `/proc`, `/etc` and the cgroup files
/// behind `available_parallelism` on every status update cost ~8 % of the benchmark's
/// load generator.
struct MachineInfo {
    capacity: BTreeMap<String, Quantity>,
    machine_id: String,
    boot_id: String,
    kernel_version: String,
    os_image: String,
}

fn machine() -> &'static MachineInfo {
    static MACHINE: OnceLock<MachineInfo> = OnceLock::new();
    MACHINE.get_or_init(|| MachineInfo {
        capacity: capacity(),
        machine_id: read_trimmed("/etc/machine-id"),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
        os_image: os_image(),
    })
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// `PRETTY_NAME` of `/etc/os-release`, as the kubelet reports it.
fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned())
}

/// CPUs, memory and the kubelet's default pod capacity.
fn capacity() -> BTreeMap<String, Quantity> {
    let mut capacity = BTreeMap::new();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    capacity.insert("cpu".to_owned(), Quantity::from(cpus.to_string().as_str()));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")
            .and_then(|v| v.trim().strip_suffix("kB"))
            .map(|v| v.trim().to_owned())
    }) {
        capacity.insert(
            "memory".to_owned(),
            Quantity::from(format!("{kib}Ki").as_str()),
        );
    }
    capacity.insert("pods".to_owned(), Quantity::from("110"));
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> NodeIdentity {
        NodeIdentity {
            name: "worker-1".into(),
            ips: vec!["10.0.0.7".parse().unwrap()],
            labels: BTreeMap::from([("role".to_owned(), "edge".to_owned())]),
            port: 10250,
        }
    }

    #[test]
    fn node_carries_labels_addresses_version_and_ready() {
        let node = identity().node(None, None);
        assert!(node.metadata.annotations.is_empty());
        assert_eq!(node.metadata.name, "worker-1");
        let labels = &node.metadata.labels;
        assert_eq!(labels["role"], "edge");
        assert_eq!(labels["kubernetes.io/hostname"], "worker-1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert!(!labels["kubernetes.io/arch"].is_empty());
        let addresses: Vec<(String, String)> = node
            .status
            .addresses
            .iter()
            .map(|a| (a.type_.clone(), a.address.clone()))
            .collect();
        assert_eq!(
            addresses,
            [
                ("InternalIP".to_owned(), "10.0.0.7".to_owned()),
                ("Hostname".to_owned(), "worker-1".to_owned())
            ]
        );
        let ready = node.condition("Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "KubeletReady")
        );
        assert_eq!(
            node.status.node_info.as_ref().unwrap().kubelet_version,
            "v1.32.0-tlsboot"
        );
        let json = serde_json::to_value(&node).unwrap();
        assert_eq!(
            json["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            10250
        );
    }

    #[test]
    fn the_registered_node_names_the_client_certificate_in_use() {
        let node = identity().node(Some("X509SHA256=ab12"), None);
        assert_eq!(
            node.metadata.annotations[NODE_CLIENT_CERTIFICATE_ANNOTATION],
            "X509SHA256=ab12"
        );
        let json = serde_json::to_value(&node).unwrap();
        assert_eq!(
            json["metadata"]["annotations"]["kubelet-tls-bootstrap/client-certificate"],
            "X509SHA256=ab12"
        );
    }

    #[test]
    fn the_annotation_is_written_only_when_it_names_another_certificate() {
        let mut node = identity().node(None, None);
        // Nothing known (the benchmark, a test): the Node is left alone.
        assert_eq!(
            recorded_update(&node, NODE_CLIENT_CERTIFICATE_ANNOTATION, None),
            None
        );
        assert_eq!(
            recorded_update(
                &node,
                NODE_CLIENT_CERTIFICATE_ANNOTATION,
                Some("X509SHA256=01")
            ),
            Some("X509SHA256=01")
        );
        node.metadata.annotations.insert(
            NODE_CLIENT_CERTIFICATE_ANNOTATION.to_owned(),
            "X509SHA256=01".to_owned(),
        );
        assert_eq!(
            recorded_update(
                &node,
                NODE_CLIENT_CERTIFICATE_ANNOTATION,
                Some("X509SHA256=01")
            ),
            None
        );
        // After a rotation.
        assert_eq!(
            recorded_update(
                &node,
                NODE_CLIENT_CERTIFICATE_ANNOTATION,
                Some("X509SHA256=02")
            ),
            Some("X509SHA256=02")
        );
        assert_eq!(
            recorded_update(&node, NODE_CLIENT_CERTIFICATE_ANNOTATION, None),
            None
        );
    }

    #[test]
    fn a_rotation_is_noticed_and_a_refused_id_is_not_asked_again() {
        let state = Arc::new(AgentState::default());
        let config = client::ClientConfig {
            insecure_skip_tls_verify: true,
            ..client::ClientConfig::new(
                "https://127.0.0.1:1".parse().unwrap(),
                None,
                client::Identity::None,
                "test",
            )
        };
        let client = Client::new(config).unwrap();
        let mut heartbeat = Heartbeat::new(client, identity(), state.clone());
        let lifetime = crate::state::Lifetime {
            not_before: std::time::SystemTime::now(),
            not_after: std::time::SystemTime::now() + Duration::from_secs(60),
        };
        state.set_client_cert(lifetime, "X509SHA256=01".to_owned());
        // Not registered yet: nothing to compare with.
        assert!(!heartbeat.client_certificate_unrecorded());
        heartbeat.remember(identity().node(Some("X509SHA256=01"), None));
        assert!(!heartbeat.client_certificate_unrecorded());
        state.set_client_cert(lifetime, "X509SHA256=02".to_owned());
        assert!(heartbeat.client_certificate_unrecorded());
        heartbeat.refused_credential_id = Some("X509SHA256=02".to_owned());
        assert!(!heartbeat.client_certificate_unrecorded());
        state.set_client_cert(lifetime, "X509SHA256=03".to_owned());
        assert!(heartbeat.client_certificate_unrecorded());
    }

    #[test]
    fn the_registered_node_names_the_trusted_ca_bundle() {
        let node = identity().node(Some("X509SHA256=ab12"), Some("SHA256=cd34"));
        let json = serde_json::to_value(&node).unwrap();
        let annotations = &json["metadata"]["annotations"];
        assert_eq!(
            annotations["kubelet-tls-bootstrap/client-certificate"],
            "X509SHA256=ab12"
        );
        assert_eq!(
            annotations["kubelet-tls-bootstrap/root-ca-bundle"],
            "SHA256=cd34"
        );
        let node = identity().node(None, Some("SHA256=cd34"));
        assert_eq!(node.metadata.annotations.len(), 1);
        assert_eq!(
            node.metadata.annotations[NODE_ROOT_CA_BUNDLE_ANNOTATION],
            "SHA256=cd34"
        );
    }

    fn offline_heartbeat(state: &Arc<AgentState>) -> Heartbeat {
        let config = client::ClientConfig {
            insecure_skip_tls_verify: true,
            ..client::ClientConfig::new(
                "https://127.0.0.1:1".parse().unwrap(),
                None,
                client::Identity::None,
                "test",
            )
        };
        Heartbeat::new(Client::new(config).unwrap(), identity(), state.clone())
    }

    #[test]
    fn a_new_trusted_bundle_is_noticed_and_goes_with_a_new_certificate_in_one_update() {
        let state = Arc::new(AgentState::default());
        let mut heartbeat = offline_heartbeat(&state);
        let lifetime = crate::state::Lifetime {
            not_before: std::time::SystemTime::now(),
            not_after: std::time::SystemTime::now() + Duration::from_secs(60),
        };
        state.set_client_cert(lifetime, "X509SHA256=01".to_owned());
        state.set_root_ca_bundle("SHA256=aa".to_owned());
        let registered = identity().node(Some("X509SHA256=01"), Some("SHA256=aa"));
        heartbeat.remember(registered.clone());
        assert!(!heartbeat.annotations_unrecorded());

        // The agent took a new bundle: noticed, the certificate is not.
        state.set_root_ca_bundle("SHA256=bb".to_owned());
        assert!(heartbeat.root_ca_bundle_unrecorded());
        assert!(!heartbeat.client_certificate_unrecorded());
        assert!(heartbeat.annotations_unrecorded());
        assert_eq!(
            heartbeat.bundle_to_record(&registered).as_deref(),
            Some("SHA256=bb")
        );
        assert_eq!(heartbeat.credential_id_to_record(&registered), None);

        // And a rotation too: both in the one update, the other annotations kept.
        state.set_client_cert(lifetime, "X509SHA256=02".to_owned());
        let mut node = registered.clone();
        node.metadata
            .annotations
            .insert("example.com/other".to_owned(), "x".to_owned());
        let update = annotated(
            &node,
            heartbeat.credential_id_to_record(&node).as_deref(),
            heartbeat.bundle_to_record(&node).as_deref(),
        );
        let annotations = &update.metadata.annotations;
        assert_eq!(
            annotations[NODE_CLIENT_CERTIFICATE_ANNOTATION],
            "X509SHA256=02"
        );
        assert_eq!(annotations[NODE_ROOT_CA_BUNDLE_ANNOTATION], "SHA256=bb");
        assert_eq!(annotations["example.com/other"], "x");
        assert_eq!(update.metadata.labels, node.metadata.labels);

        // Recorded: nothing more to write.
        heartbeat.remember(update);
        assert!(!heartbeat.annotations_unrecorded());

        // A refused bundle is not asked again; the next one is.
        state.set_root_ca_bundle("SHA256=cc".to_owned());
        assert!(heartbeat.root_ca_bundle_unrecorded());
        heartbeat.refused_root_ca_bundle = Some("SHA256=cc".to_owned());
        assert!(!heartbeat.annotations_unrecorded());
        state.set_root_ca_bundle("SHA256=dd".to_owned());
        assert!(heartbeat.annotations_unrecorded());
    }

    #[test]
    fn without_a_known_bundle_the_annotation_is_left_alone() {
        let state = Arc::new(AgentState::default());
        let mut heartbeat = offline_heartbeat(&state);
        let mut node = identity().node(None, None);
        node.metadata.annotations.insert(
            NODE_ROOT_CA_BUNDLE_ANNOTATION.to_owned(),
            "SHA256=set-by-someone".to_owned(),
        );
        heartbeat.remember(node);
        assert!(!heartbeat.root_ca_bundle_unrecorded());
    }

    #[test]
    fn ready_transition_time_survives_heartbeats() {
        let id = identity();
        let mut first = id.status(None);
        let earlier = Time::parse("2024-05-01T10:00:00Z").unwrap();
        first.conditions[0].last_transition_time = Some(earlier);
        let next = id.status(Some(&first));
        assert_eq!(next.conditions[0].last_transition_time, Some(earlier));
    }
}
