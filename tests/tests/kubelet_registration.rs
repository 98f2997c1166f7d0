//! The kubelet's registration and heartbeat calls (`kubelet::node::Heartbeat`) against a real
//! apiserver, counted by the apiserver's own request counter: a new node is one Node create
//! and one Lease create; an existing one is read, taken over and renewed; a status update
//! starts from the Node last seen and reads it again only after someone else changed it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use client::Client;
use e2e::Cluster;
use kubeconfig::Kubeconfig;
use kubelet::node::{Heartbeat, NodeIdentity};
use kubelet::state::AgentState;

#[test]
fn a_new_node_registers_with_two_requests_and_an_existing_one_is_taken_over() -> anyhow::Result<()>
{
    let cluster = Cluster::start()?;
    let admin = cluster.admin()?;
    let runtime = tokio::runtime::Runtime::new()?;

    // A new node: the Node goes in with its status, the Lease is created without a look.
    let before = requests(&admin)?;
    let mut heartbeat = runtime.block_on(async {
        let mut heartbeat = node_heartbeat(&cluster, "node-a")?;
        heartbeat.register().await?;
        heartbeat.renew_lease().await?;
        anyhow::Ok(heartbeat)
    })?;
    let sent = delta(&before, &requests(&admin)?);
    anyhow::ensure!(
        sent == counts(&[("POST", "nodes", 1), ("POST", "leases", 1)]),
        "a new node sent {sent:?}"
    );
    let (_, node) = admin.get_json("/api/v1/nodes/node-a")?;
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        ready["status"] == "True",
        "status not in the create: {node}"
    );

    // Status and Lease updates start from what this kubelet last wrote: no reads.
    let before = requests(&admin)?;
    runtime.block_on(async {
        heartbeat.update_status().await?;
        heartbeat.renew_lease().await?;
        anyhow::Ok(())
    })?;
    let sent = delta(&before, &requests(&admin)?);
    anyhow::ensure!(
        sent == counts(&[("PUT", "nodes", 1), ("PUT", "leases", 1)]),
        "a heartbeat sent {sent:?}"
    );

    // Someone else changes the Node (a label, as kubectl label does): the status update
    // conflicts, reads the Node again and succeeds, keeping the label.
    let patched = admin.request(
        "PATCH",
        "/api/v1/nodes/node-a",
        Some("application/merge-patch+json"),
        br#"{"metadata":{"labels":{"example.com/team":"blue"}}}"#,
    )?;
    anyhow::ensure!(patched.status == 200, "label patch: {}", patched.status);
    let before = requests(&admin)?;
    runtime.block_on(heartbeat.update_status())?;
    let sent = delta(&before, &requests(&admin)?);
    anyhow::ensure!(
        sent == counts(&[("PUT", "nodes", 2), ("GET", "nodes", 1)]),
        "a status update after a change sent {sent:?}"
    );
    let (_, node) = admin.get_json("/api/v1/nodes/node-a")?;
    anyhow::ensure!(
        node["metadata"]["labels"]["example.com/team"] == "blue",
        "label lost: {node}"
    );

    // A restarted kubelet (nothing remembered) finds its Node and Lease and takes them over.
    let before = requests(&admin)?;
    runtime.block_on(async {
        let mut restarted = node_heartbeat(&cluster, "node-a")?;
        restarted.register().await?;
        restarted.renew_lease().await?;
        anyhow::Ok(())
    })?;
    let sent = delta(&before, &requests(&admin)?);
    anyhow::ensure!(
        sent == counts(&[
            ("POST", "nodes", 1),
            ("GET", "nodes", 1),
            ("PUT", "nodes", 1),
            ("GET", "leases", 1),
            ("PUT", "leases", 1),
        ]),
        "a restarted node sent {sent:?}"
    );

    // A Node deleted and created again while its Lease stayed: the Lease create finds it
    // and the kubelet renews the existing one.
    let deleted = admin.request("DELETE", "/api/v1/nodes/node-a", None, b"")?;
    anyhow::ensure!(deleted.status == 200, "delete: {}", deleted.status);
    runtime.block_on(async {
        let mut again = node_heartbeat(&cluster, "node-a")?;
        again.register().await?;
        again.renew_lease().await?;
        anyhow::Ok(())
    })?;
    let (_, lease) =
        admin.get_json("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a")?;
    anyhow::ensure!(lease["spec"]["holderIdentity"] == "node-a", "{lease}");
    Ok(())
}

/// A Heartbeat for `name` with a client certificate `system:node:<name>` from the cluster CA.
fn node_heartbeat(cluster: &Cluster, name: &str) -> anyhow::Result<Heartbeat> {
    let path = cluster.node_kubeconfig(name)?;
    let resolved = Kubeconfig::load(&path)?.resolve(None)?;
    let client = Client::from_kubeconfig(&resolved, "kubelet-registration-test")?;
    let identity = NodeIdentity {
        name: name.to_string(),
        ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        labels: BTreeMap::new(),
        port: 10250,
    };
    Ok(Heartbeat::new(
        client,
        identity,
        Arc::new(AgentState::default()),
    ))
}

type Counts = BTreeMap<(String, String), u64>;

fn counts(entries: &[(&str, &str, u64)]) -> Counts {
    entries
        .iter()
        .map(|(verb, resource, n)| ((verb.to_string(), resource.to_string()), *n))
        .collect()
}

/// `apiserver_request_total` for nodes and leases, by verb.
fn requests(admin: &e2e::Https) -> anyhow::Result<Counts> {
    let response = admin.request("GET", "/metrics", None, b"")?;
    anyhow::ensure!(response.status == 200, "metrics: {}", response.status);
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let mut counts = Counts::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| {
                    v.trim_end_matches(['"', '}'])
                        .split('"')
                        .next()
                        .unwrap_or("")
                })
                .unwrap_or("")
                .to_string()
        };
        let resource = label("resource");
        if resource != "nodes" && resource != "leases" {
            continue;
        }
        let value: f64 = line.rsplit(' ').next().unwrap_or("0").parse()?;
        *counts.entry((label("verb"), resource)).or_default() += value as u64;
    }
    Ok(counts)
}

fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}
