//! A node whose client certificate the apiserver refuses (revoked, or its CA retired) fails
//! its `/healthz` while it runs, and bootstraps again at its next start with its
//! `--bootstrap-kubeconfig`, although the certificate has not expired; a certificate the
//! apiserver accepts is kept at a restart, with no new CSR.

use std::time::Duration;

use e2e::kubectl::Kubectl;
use e2e::node_agent::{self, AgentSetup};
use e2e::process::ChildGuard;
use e2e::{Cluster, paths, wait};
use serde_json::{Value, json};

const NODE: &str = "node-back";
/// What the agent logs when the apiserver refuses its kubeconfig's certificate.
const REFUSED: &str = "the apiserver refuses the client certificate in the kubeconfig";

/// The CSRs made for the node (the CN of a kubelet client request is `system:node:<node>`,
/// and this cluster has no other node; the bootstrap user makes them first, the node later).
fn node_csrs(cluster: &Cluster) -> anyhow::Result<Vec<Value>> {
    Ok(node_agent::list_csrs(cluster)?
        .into_iter()
        .filter(|c| {
            c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
                && (c["spec"]["username"] == e2e::cluster::STATIC_BOOTSTRAP_USER
                    || c["spec"]["username"] == format!("system:node:{NODE}"))
        })
        .collect())
}

/// Starts the agent and waits until it runs with a certificate and has renewed its Lease.
fn start_and_wait_heartbeat(
    cluster: &Cluster,
    setup: &AgentSetup,
    node: &Kubectl,
) -> anyhow::Result<ChildGuard> {
    let before = node_agent::lease_renew_time(cluster, NODE)?;
    let mut agent = setup.start(cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(30))?;
    node_agent::wait_for_lease_renewal(cluster, NODE, before.as_deref(), Duration::from_secs(10))
        .map_err(|e| e.context(setup.log()))?;
    node.wait_credentials(&["get", "node", NODE, "-o", "name"], true, &|| setup.log())?;
    Ok(agent)
}

/// `kubectl get nodes` shows the node Ready.
fn ensure_ready(cluster: &Cluster) -> anyhow::Result<()> {
    let nodes = cluster.kubectl()?.ok(["get", "nodes"])?;
    let row = nodes
        .lines()
        .find(|l| l.starts_with(&format!("{NODE} ")))
        .ok_or_else(|| anyhow::anyhow!("no {NODE} in:\n{nodes}"))?;
    anyhow::ensure!(row.contains(" Ready "), "{row}");
    Ok(())
}

#[test]
fn a_node_whose_certificate_is_revoked_fails_its_health_check_and_bootstraps_again_at_start()
-> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let admin = cluster.admin_kubectl(&paths::kubectl()?);

    // The node joins with the bootstrap token, auto-approved.
    let mut setup = AgentSetup::new(&cluster, NODE)?;
    setup.extra_args = vec!["--testing-lease-renew-seconds=0.2".into()];
    let node = admin.with_kubeconfig(&setup.kubeconfig, &cluster.dir().join("home/cache-node"));
    let mut agent = start_and_wait_heartbeat(&cluster, &setup, &node)?;
    ensure_ready(&cluster)?;
    let first = pki::parse_certificates(&std::fs::read(setup.client_current())?)?.remove(0);
    let first_csrs = node_csrs(&cluster)?;
    anyhow::ensure!(first_csrs.len() == 1, "{first_csrs:?}");

    // Restarted with a certificate the apiserver accepts: it is kept, no new CSR.
    agent.terminate(Duration::from_secs(10))?;
    let mut agent = start_and_wait_heartbeat(&cluster, &setup, &node)?;
    let log = setup.log();
    anyhow::ensure!(
        log.contains("skipping bootstrap") && !log.contains(REFUSED),
        "{log}"
    );
    anyhow::ensure!(setup.client_serial()? == first.serial_hex());
    let csrs = node_csrs(&cluster)?;
    anyhow::ensure!(csrs.len() == 1, "a CSR was sent: {csrs:?}");

    // The operator revokes its certificate by serial while it runs: its heartbeats are
    // refused, and after a few its /healthz fails and says why.
    anyhow::ensure!(node_agent::http_get(setup.healthz_port, "/healthz")?.0 == 200);
    let revocation = cluster.write_manifest(
        "revocation.json",
        &json!({"apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
            "kind": "CertificateRevocation", "metadata": {"name": "node-back-serial"},
            "spec": {"serialNumbers": [first.serial_hex().to_uppercase()],
                     "reason": "keyCompromise"}}),
    )?;
    admin.ok(["create", "-f", &revocation])?;
    node.wait_credentials(&["get", "node", NODE, "-o", "name"], false, &|| setup.log())?;
    anyhow::ensure!(first.not_after() > std::time::SystemTime::now());
    let unhealthy = wait::until(
        "the agent's /healthz to fail on the refused certificate",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || match node_agent::http_get(setup.healthz_port, "/healthz") {
            Ok((500, body)) => Ok(Some(body)),
            Ok((status, body)) => Err(format!("{status}: {body}")),
            Err(e) => Err(format!("{e:#}")),
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(
        unhealthy.contains(
            "[-]client-certificate failed: the apiserver has refused the client certificate (401)"
        ) && unhealthy.contains("--bootstrap-kubeconfig"),
        "{unhealthy}"
    );
    // Off, and on again with the same flags.
    agent.terminate(Duration::from_secs(10))?;

    // Back on with the same flags: it says why, bootstraps with the still-valid token and
    // runs with the new certificate.
    let _agent = start_and_wait_heartbeat(&cluster, &setup, &node)?;
    let log = setup.log();
    let line = log
        .lines()
        .find(|l| l.contains(REFUSED))
        .ok_or_else(|| anyhow::anyhow!("no refusal logged:\n{log}"))?;
    anyhow::ensure!(
        line.contains("WARN")
            && line.contains(&first.serial_hex())
            && line.contains("revoked")
            && line.contains("--bootstrap-kubeconfig"),
        "{line}"
    );
    let second = pki::parse_certificates(&std::fs::read(setup.client_current())?)?.remove(0);
    anyhow::ensure!(second.serial_hex() != first.serial_hex());
    second.verify_issued_by(cluster.ca.certificate())?;

    // The kubeconfig names the cert dir's current pair, which is the new certificate.
    let kubeconfig = kubeconfig::Kubeconfig::load(&setup.kubeconfig)?.resolve(None)?;
    let kubeconfig::Identity::ClientCertificate { cert_pem, .. } = &kubeconfig.identity else {
        anyhow::bail!(
            "not a certificate kubeconfig: {}",
            setup.kubeconfig.display()
        );
    };
    let in_kubeconfig = pki::parse_certificates(cert_pem)?.remove(0);
    anyhow::ensure!(in_kubeconfig.serial_hex() == second.serial_hex());
    let text = std::fs::read_to_string(&setup.kubeconfig)?;
    let current = setup.client_current().display().to_string();
    anyhow::ensure!(
        text.contains(&format!("client-certificate: {current}")),
        "{text}"
    );

    // One new CSR, made with the bootstrap token and a new key (so another name).
    let csrs = node_csrs(&cluster)?;
    anyhow::ensure!(csrs.len() == 2, "{csrs:?}");
    let new = csrs
        .iter()
        .find(|c| c["metadata"]["name"] != first_csrs[0]["metadata"]["name"])
        .ok_or_else(|| anyhow::anyhow!("no new CSR: {csrs:?}"))?;
    anyhow::ensure!(
        new["spec"]["username"] == e2e::cluster::STATIC_BOOTSTRAP_USER
            && new["status"]["certificate"].is_string(),
        "{new}"
    );

    // The Node is Ready again and its Lease renewed by the new certificate.
    ensure_ready(&cluster)?;
    let renewed = node_agent::lease_renew_time(&cluster, NODE)?;
    node_agent::wait_for_lease_renewal(&cluster, NODE, renewed.as_deref(), Duration::from_secs(5))?;
    wait::until(
        "the Node to name the new client certificate",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let (_, node) = cluster
                .admin()
                .and_then(|a| a.get_json(&format!("/api/v1/nodes/{NODE}")))
                .map_err(|e| format!("{e:#}"))?;
            let named = &node["metadata"]["annotations"]
                [protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION];
            Ok((named == second.credential_id().as_str()).then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    Ok(())
}
