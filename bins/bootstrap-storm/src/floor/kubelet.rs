//! The floor's kubelets: the storm's connections and requests, without files or kubeconfig.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use protocol::certificates::v1::CertificateSigningRequest;

use super::transport::{Pki, call, call_whole, client_config, connect};
use crate::signing::{kubelet_csr, pending_csr};

/// A Node as a kubelet first creates it (labels, addresses, capacity, conditions, nodeInfo):
/// ~2 KB of JSON, the size the storm's kubelets send.
fn node_json(node: &str) -> Bytes {
    let condition = |type_: &str, status: &str, reason: &str| {
        serde_json::json!({"type": type_, "status": status, "reason": reason,
            "message": "kubelet has sufficient resources available",
            "lastHeartbeatTime": "2026-12-08T00:00:00Z",
            "lastTransitionTime": "2026-12-08T00:00:00Z"})
    };
    let value = serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {
            "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "2", "memory": "24576Mi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "2", "memory": "24476Mi", "pods": "110", "ephemeral-storage": "92Gi"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "0123456789abcdef0123456789abcdef",
                "systemUUID": "01234567-89ab-cdef-0123-456789abcdef",
                "bootID": "01234567-89ab-cdef-0123-456789abcdef",
                "kernelVersion": "6.1.0-41-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "none://0.0.0", "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}
        }
    });
    serde_json::to_vec(&value).unwrap_or_default().into()
}

fn lease_json(node: &str) -> Bytes {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node,
                "uid": "01234567-89ab-cdef-0123-456789abcdef"}]},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
            "renewTime": "2026-12-08T00:00:00.000000Z"}
    }))
    .unwrap_or_default()
    .into()
}

/// The handshakes of one kubelet and nothing else: TLS verifying the server, then mutual TLS
/// with `identity` in a client configuration of its own, as each kubelet builds one.
pub(super) async fn handshakes(
    address: SocketAddr,
    pki: &Pki,
    identity: &(String, String),
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    drop(connect(address, pki.bootstrap.clone()).await?);
    let config = client_config(
        &pki.roots,
        Some((&identity.0, &identity.1)),
        pki.kubelet_alpn,
    )?;
    drop(connect(address, config).await?);
    Ok(started.elapsed())
}

/// One kubelet's bootstrap, registration and first Lease, as the storm's kubelets do them.
pub(super) async fn kubelet(
    address: SocketAddr,
    pki: Arc<Pki>,
    node: String,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (key, request) = kubelet_csr(&node)?;
    let name = format!("node-csr-{node}");
    let mut bootstrap = connect(address, pki.bootstrap.clone()).await?;
    let body: Bytes = serde_json::to_vec(&pending_csr(&name, &request))?.into();
    call_whole(
        &mut bootstrap,
        http::Method::POST,
        &format!("/csr?{name}"),
        body,
    )
    .await?;
    let listed = call_whole(
        &mut bootstrap,
        http::Method::GET,
        &format!("/csr?{name}"),
        Bytes::new(),
    )
    .await?;
    let _: CertificateSigningRequest = serde_json::from_slice(&listed)?;
    let mut watch = call(
        &mut bootstrap,
        http::Method::GET,
        &format!("/csr-watch?{name}"),
        Bytes::new(),
    )
    .await?;
    let mut event = Vec::new();
    while !event.ends_with(b"\n") {
        let Some(frame) = watch.frame().await else {
            bail!("the watch of {name} ended");
        };
        if let Ok(data) = frame?.into_data() {
            event.extend_from_slice(&data);
        }
    }
    drop(watch);
    drop(bootstrap);
    let event: serde_json::Value = serde_json::from_slice(&event)?;
    let issued: CertificateSigningRequest = serde_json::from_value(event["object"].clone())?;
    let certificate = String::from_utf8(issued.status.certificate)?;
    let config = client_config(
        &pki.roots,
        Some((&certificate, &key.to_pem())),
        pki.kubelet_alpn,
    )?;
    let mut mutual = connect(address, config).await?;
    call_whole(&mut mutual, http::Method::POST, "/node", node_json(&node)).await?;
    call_whole(&mut mutual, http::Method::POST, "/lease", lease_json(&node)).await?;
    Ok(started.elapsed())
}
