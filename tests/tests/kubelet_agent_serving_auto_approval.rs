//! A node's own serving CSR approved automatically, the way the 1.8-1.10 guides set it up
//! (their ClusterRole on `certificatesigningrequests/selfnodeserver`, bound to system:nodes,
//! and `RotateKubeletServerCertificate` on the controller-manager), but only for names the
//! node's own Node object reports: a request for an IP that is not the node's, or that another
//! Node reports, waits with a Warning event saying so. Several nodes on one host share
//! 127.0.0.1 (loopback is every machine's own), as the lab's do.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, wait};
use serde_json::{Value, json};

/// As the guides write it (`kubectl apply -f tls-instructs-csr.yaml`).
const SELFNODESERVER_ROLE: &str = "\
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  name: system:certificates.k8s.io:certificatesigningrequests:selfnodeserver
rules:
- apiGroups: [\"certificates.k8s.io\"]
  resources: [\"certificatesigningrequests/selfnodeserver\"]
  verbs: [\"create\"]
";

/// A kubelet-serving CSR for `node` asking for `dns` and `ips`, as the kubelet's would be.
fn serving_csr(name: &str, node: &str, dns: &[&str], ips: &[&str]) -> anyhow::Result<Value> {
    let key = pki::PrivateKey::generate_p256()?;
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: format!("system:node:{node}"),
            organizations: vec!["system:nodes".into()],
        },
        &pki::SubjectAltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
        },
    )?;
    Ok(e2e::csr::manifest(
        name,
        &pem,
        "kubernetes.io/kubelet-serving",
        &["digital signature", "server auth"],
    ))
}

fn csr_json(cluster: &Cluster, name: &str) -> anyhow::Result<Value> {
    let (status, csr) = cluster.admin()?.get_json(&format!(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"
    ))?;
    anyhow::ensure!(status == 200, "get csr {name}: {status} {csr}");
    Ok(csr)
}

fn wait_for_event(cluster: &Cluster, csr: &str, reason: &str) -> anyhow::Result<Value> {
    e2e::events::wait_for_reason(cluster, csr, reason, Duration::from_secs(20))
}

/// A Node `name` reporting `ip` (its status written through the status subresource).
fn create_node(cluster: &Cluster, name: &str, ip: &str) -> anyhow::Result<()> {
    let admin = cluster.admin()?;
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    let (status, created) = admin.send_json("POST", "/api/v1/nodes", &node)?;
    anyhow::ensure!(status == 201, "create node {name}: {status} {created}");
    let mut with_status = created.clone();
    with_status["status"] = json!({"addresses": [
        {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]});
    let (status, body) =
        admin.send_json("PUT", &format!("/api/v1/nodes/{name}/status"), &with_status)?;
    anyhow::ensure!(status == 200, "node {name} status: {status} {body}");
    Ok(())
}

/// kubectl as node `name` (a client certificate `system:node:<name>` from the cluster CA).
fn node_kubectl_for(
    cluster: &Cluster,
    kubectl: &e2e::kubectl::Kubectl,
    name: &str,
) -> anyhow::Result<e2e::kubectl::Kubectl> {
    let path = cluster.node_kubeconfig(name)?;
    Ok(kubectl.with_kubeconfig(&path, &cluster.dir().join(format!("{name}-cache"))))
}

/// The guides' binding of the selfnodeserver role to every node.
fn bind_selfnodeserver(kubectl: &e2e::kubectl::Kubectl) -> anyhow::Result<()> {
    kubectl.ok([
        "create",
        "clusterrolebinding",
        "node-server-auto-renew-crt",
        "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeserver",
        "--group=system:nodes",
    ])?;
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

#[test]
fn a_node_s_own_serving_csr_is_approved_only_for_its_own_addresses() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let kubectl = cluster.kubectl()?;
    let role = write(cluster.dir(), "tls-instructs-csr.yaml", SELFNODESERVER_ROLE)?;
    kubectl.ok(["apply", "-f", &role.to_string_lossy()])?;
    bind_selfnodeserver(&kubectl)?;

    // The kubelet's serving CSR (its name and --node-ip) is approved and issued unattended.
    let mut setup = AgentSetup::new(&cluster, "node-s")?;
    setup.extra_args = vec!["--rotate-server-certificates".into()];
    let mut agent = setup.start(&cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(30))?;
    let csrs = node_agent::list_csrs(&cluster)?;
    let serving: Vec<&Value> = csrs
        .iter()
        .filter(|c| c["spec"]["signerName"] == "kubernetes.io/kubelet-serving")
        .collect();
    anyhow::ensure!(serving.len() == 1, "{serving:?}");
    let approved = &serving[0]["status"]["conditions"][0];
    anyhow::ensure!(
        approved["type"] == "Approved"
            && approved["reason"] == "AutoApproved"
            && approved["message"]
                == "Auto approving self kubelet server certificate after SubjectAccessReview.",
        "{approved}"
    );
    let leaf = &pki::parse_certificates(&std::fs::read(
        setup.cert_dir.join("kubelet-server-current.pem"),
    )?)?[0];
    anyhow::ensure!(leaf.common_name() == Some("system:node:node-s"));

    // The same node asking for an IP its Node does not report: left Pending, and said why.
    let node_kubectl =
        kubectl.with_kubeconfig(&setup.kubeconfig, &cluster.dir().join("node-s-cache"));
    let foreign = serving_csr("node-s-foreign-ip", "node-s", &["node-s"], &["10.9.9.9"])?;
    let file = write(cluster.dir(), "foreign.json", &foreign.to_string())?;
    node_kubectl.ok(["create", "-f", &file.to_string_lossy()])?;
    let event = wait_for_event(&cluster, "node-s-foreign-ip", "AddressesNotVerified")?;
    anyhow::ensure!(
        event["type"] == "Warning"
            && event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(
                    "Not approved automatically: IP address 10.9.9.9 is not an address of node \"node-s\"."
                )),
        "{event}"
    );
    let describe = kubectl.ok(["describe", "csr", "node-s-foreign-ip"])?;
    anyhow::ensure!(describe.contains("AddressesNotVerified"), "{describe}");

    // Two Nodes reporting one (non-loopback) IP: node-x may not have it in its certificate
    // until node-y is gone.
    for (name, ip) in [("node-x", "10.255.0.7"), ("node-y", "10.255.0.7")] {
        create_node(&cluster, name, ip)?;
    }
    let node_x = node_kubectl_for(&cluster, &kubectl, "node-x")?;
    let shared = serving_csr("node-x-shared-ip", "node-x", &["node-x"], &["10.255.0.7"])?;
    let file = write(cluster.dir(), "shared.json", &shared.to_string())?;
    node_x.ok(["create", "-f", &file.to_string_lossy()])?;
    let event = wait_for_event(&cluster, "node-x-shared-ip", "AddressesNotVerified")?;
    anyhow::ensure!(
        event["message"].as_str().is_some_and(
            |m| m.contains("IP address 10.255.0.7 is also an address of node \"node-y\"")
        ),
        "{event}"
    );
    for name in ["node-s-foreign-ip", "node-x-shared-ip"] {
        let csr = csr_json(&cluster, name)?;
        anyhow::ensure!(
            csr["status"]["conditions"]
                .as_array()
                .is_none_or(|c| c.is_empty()),
            "{csr}"
        );
    }
    kubectl.ok(["delete", "node", "node-y"])?;
    wait::until(
        "node-x-shared-ip to be approved once node-y is gone",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let csr = csr_json(&cluster, "node-x-shared-ip").map_err(|e| format!("{e:#}"))?;
            Ok((csr["status"]["conditions"][0]["type"] == "Approved").then_some(()))
        },
    )?;
    anyhow::ensure!(
        csr_json(&cluster, "node-s-foreign-ip")?["status"]["conditions"]
            .as_array()
            .is_none_or(|c| c.is_empty())
    );
    Ok(())
}

#[test]
fn without_the_role_the_gate_or_the_approver_role_serving_csrs_wait() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let kubectl = cluster.kubectl()?;
    let role = write(cluster.dir(), "tls-instructs-csr.yaml", SELFNODESERVER_ROLE)?;
    kubectl.ok(["apply", "-f", &role.to_string_lossy()])?;
    let mut setup = AgentSetup::new(&cluster, "node-w")?;
    setup.extra_args = vec!["--rotate-server-certificates".into()];

    // No binding yet: the event says which permission and role would do it.
    let cm = node_agent::start_controller_manager(&cluster, "8760h")?;
    let _agent = setup.start(&cluster)?;
    let pending = wait::until(
        "a Pending kubelet-serving CSR",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let csrs = node_agent::list_csrs(&cluster).map_err(|e| format!("{e:#}"))?;
            Ok(csrs
                .iter()
                .find(|c| c["spec"]["signerName"] == "kubernetes.io/kubelet-serving")
                .and_then(|c| c["metadata"]["name"].as_str().map(str::to_string)))
        },
    )?;
    let event = wait_for_event(&cluster, &pending, "NotAutoApproved")?;
    anyhow::ensure!(
        event["message"].as_str().is_some_and(|m| m.contains(
            "may not create certificatesigningrequests/selfnodeserver"
        )),
        "{event}"
    );
    drop(cm);

    // With the binding but the gate off, as kube-controller-manager today: still Pending.
    bind_selfnodeserver(&kubectl)?;
    let port = node_agent::free_port()?;
    let args = vec![
        format!("--kubeconfig={}", cluster.admin_kubeconfig.display()),
        "--leader-elect=false".to_string(),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
        "--feature-gates=RotateKubeletServerCertificate=false".to_string(),
    ];
    let gate_off = e2e::spawn_controller_manager(&cluster, "cm-gate-off.log", &args)?;
    let event = wait_for_event(&cluster, &pending, "NoAutoApprover")?;
    anyhow::ensure!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.contains("with the RotateKubeletServerCertificate feature gate on")),
        "{event}"
    );
    let csr = csr_json(&cluster, &pending)?;
    anyhow::ensure!(
        csr["status"]["conditions"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "{csr}"
    );
    drop(gate_off);

    // The gate on, running as system:kube-controller-manager (upstream's default roles let it
    // approve kubelet client CSRs only): the event says which approver role to bind.
    let kubeconfig = e2e::controller_manager_kubeconfig(&cluster, "cm-own.kubeconfig")?;
    let port = node_agent::free_port()?;
    let args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".to_string(),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
    ];
    let _cm = e2e::spawn_controller_manager(&cluster, "cm-own.log", &args)?;
    let event = wait_for_event(&cluster, &pending, "ApprovalForbidden")?;
    anyhow::ensure!(
        event["type"] == "Warning"
            && event["message"].as_str().is_some_and(|m| m.contains(
                "Bind the ClusterRole system:certificates.k8s.io:kubelet-serving-approver"
            )),
        "{event}"
    );
    kubectl.ok([
        "create",
        "clusterrolebinding",
        "controller-manager-kubelet-serving-approver",
        "--clusterrole=system:certificates.k8s.io:kubelet-serving-approver",
        "--user=system:kube-controller-manager",
    ])?;
    wait::until(
        "the serving CSR approved once the controller-manager may approve it",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let csr = csr_json(&cluster, &pending).map_err(|e| format!("{e:#}"))?;
            Ok((csr["status"]["conditions"][0]["type"] == "Approved").then_some(()))
        },
    )?;
    Ok(())
}
