//! Certificate revocation with the real kubectl, controller-manager and kubelet-agent: an
//! operator revokes a node's client certificates with one CertificateRevocation; the node is
//! refused at once; reinstalled, the node joins again with the bootstrap token within the
//! 5-minute backdate window, because csrsigning starts the new certificate after the revocation.

use std::time::{Duration, SystemTime};

use e2e::kubectl::Kubectl;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, paths};
use protocol::meta::Time;
use serde_json::json;

const NODE: &str = "node-r";

/// Waits until the node's own kubectl gets `node-r` (`true`) or is refused as unauthenticated
/// (`false`).
fn wait_node_access(node: &Kubectl, allowed: bool, log: &dyn Fn() -> String) -> anyhow::Result<()> {
    node.wait_credentials(&["get", "node", NODE, "-o", "name"], allowed, log)
}

#[test]
fn a_revoked_node_is_refused_and_joins_again_once_reinstalled() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let admin = cluster.admin_kubectl(&paths::kubectl()?);

    let setup = AgentSetup::new(&cluster, NODE)?;
    let mut agent = setup.start(&cluster)?;
    setup.wait_kubeconfig(&mut agent, Duration::from_secs(20))?;
    let node = admin.with_kubeconfig(&setup.kubeconfig, &cluster.dir().join("home/cache-node"));
    let log = || setup.log();
    wait_node_access(&node, true, &log)?;
    let first_serial = node_agent::serial_of(&setup.client_current())?;

    // The operator revokes every certificate the node holds.
    let manifest = cluster.write_manifest(
        "revocation.json",
        &json!({"apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
            "kind": "CertificateRevocation",
            "metadata": {"name": "node-r-compromised"},
            "spec": {"user": format!("system:node:{NODE}"), "reason": "keyCompromise"}}),
    )?;
    let out = admin.ok(["apply", "-f", &manifest])?;
    anyhow::ensure!(
        out.contains(
            "certificaterevocation.revocation.kubelet-tls-bootstrap.io/node-r-compromised created"
        ),
        "{out}"
    );
    wait_node_access(&node, false, &log)?;
    let table = admin.ok(["get", "certrev"])?;
    let rows = e2e::kubectl::table(&table);
    anyhow::ensure!(
        rows[0][..4] == ["NAME", "USER", "ISSUED-BEFORE", "SERIALS"]
            && rows[1][..2] == ["node-r-compromised", "system:node:node-r"],
        "{table}"
    );
    let issued_before = admin.ok([
        "get",
        "certificaterevocation",
        "node-r-compromised",
        "-o",
        "jsonpath={.spec.issuedBefore}",
    ])?;
    let issued_before = Time::parse(issued_before.trim())?.to_system_time();

    // Reinstalled: the old credentials are gone, the bootstrap token joins it again at once.
    agent.kill();
    std::fs::remove_dir_all(&setup.cert_dir)?;
    std::fs::remove_file(&setup.kubeconfig)?;
    let mut agent = setup.start(&cluster)?;
    setup.wait_kubeconfig(&mut agent, Duration::from_secs(20))?;
    wait_node_access(&node, true, &log)?;
    let certificate = &pki::parse_certificates(&std::fs::read(setup.client_current())?)?[0];
    anyhow::ensure!(certificate.serial_hex() != first_serial);
    // Issued seconds after the revocation: without the floor NotBefore would be 5 minutes back.
    anyhow::ensure!(
        certificate.not_before() == issued_before + Duration::from_secs(1),
        "NotBefore {:?}, revocation {:?}",
        certificate.not_before(),
        issued_before
    );
    anyhow::ensure!(certificate.not_before() <= SystemTime::now());

    // A revocation by serial, as `openssl x509 -serial` prints it.
    let serial = certificate.serial_hex().to_uppercase();
    let out = admin.ok([
        "get",
        "--raw",
        "/apis/revocation.kubelet-tls-bootstrap.io/v1alpha1",
    ])?;
    anyhow::ensure!(out.contains("\"certificaterevocations\""), "{out}");
    let by_serial = cluster.write_manifest(
        "by-serial.json",
        &json!({"apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
            "kind": "CertificateRevocation", "metadata": {"name": "node-r-again"},
            "spec": {"serialNumbers": [serial]}}),
    )?;
    admin.ok(["create", "-f", &by_serial])?;
    wait_node_access(&node, false, &log)?;
    let stored = admin.ok([
        "get",
        "certrev",
        "node-r-again",
        "-o",
        "jsonpath={.spec.serialNumbers[0]}",
    ])?;
    anyhow::ensure!(stored == certificate.serial_hex(), "{stored}");

    // Deleting it lets the certificate in again; a revocation of nothing is refused.
    admin.ok(["delete", "certrev", "node-r-again"])?;
    wait_node_access(&node, true, &log)?;
    let empty = cluster.write_manifest(
        "empty.json",
        &json!({"apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
            "kind": "CertificateRevocation", "metadata": {"name": "nothing"}, "spec": {}}),
    )?;
    let output = admin.run(["create", "-f", &empty])?;
    let stderr = &output.stderr;
    anyhow::ensure!(
        !output.success
            && stderr.contains(
                "The CertificateRevocation \"nothing\" is invalid: spec: Required value: at least one of spec.serialNumbers and spec.user must be set"
            ),
        "{stderr}"
    );
    let explained = admin.ok(["explain", "certificaterevocation.spec"])?;
    anyhow::ensure!(
        explained.contains("serialNumbers") && explained.contains("issuedBefore"),
        "{explained}"
    );
    drop(agent);
    Ok(())
}
