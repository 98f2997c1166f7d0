//! The floor's kubelets: the storm's connections and requests, without files or kubeconfig.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use kubelet::node::{NodeIdentity, node_lease};
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::meta::MicroTime;

use super::transport::{Pki, call, call_whole, client_config, connect};
use crate::signing::{kubelet_csr, pending_csr};

/// What the Node create returns as its uid in a real cluster; the Lease's owner reference
/// carries it (the floor's server echoes bodies, so it returns none).
const NODE_UID: &str = "01234567-89ab-cdef-0123-456789abcdef";

/// The Node and Lease bodies a kubelet-agent creates, from the kubelet crate itself.
fn registration(node: &str, certificate_pem: &str) -> anyhow::Result<(Bytes, Bytes)> {
    let identity = NodeIdentity {
        name: node.to_owned(),
        ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        labels: BTreeMap::new(),
        port: 10250,
    };
    let credential = pki::Certificate::from_pem(certificate_pem.as_bytes())?.credential_id();
    let node_body = serde_json::to_vec(&identity.node(Some(&credential), None))?;
    let lease = node_lease(node, Some(NODE_UID), MicroTime::now());
    Ok((node_body.into(), serde_json::to_vec(&lease)?.into()))
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
    let (node_body, lease_body) = registration(&node, &certificate)?;
    let mut mutual = connect(address, config).await?;
    call_whole(&mut mutual, http::Method::POST, "/node", node_body).await?;
    call_whole(&mut mutual, http::Method::POST, "/lease", lease_body).await?;
    Ok(started.elapsed())
}
