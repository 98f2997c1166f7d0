//! A CSR csrapproving leaves Pending because a CertificateRevocation dated in the future blocks
//! its node is looked at again as soon as the revocation goes, not after the controller's
//! backoff (which had grown past 12 s here, and grows to 1000 s).

#[path = "controller_manager_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";

#[test]
fn a_blocked_request_is_approved_once_its_block_is_lifted() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let block = setup.cluster.dir().join("block.json");
    std::fs::write(
        &block,
        serde_json::to_vec(&json!({
            "apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
            "kind": "CertificateRevocation",
            "metadata": {"name": "worker-a-blocked"},
            "spec": {"user": "system:node:worker-a", "issuedBefore": "9999-12-31T23:59:59Z"},
        }))?,
    )?;
    setup
        .kubectl
        .ok(["apply", "-f", &block.display().to_string()])?;
    let cm = setup.start_cm("cm.log", &[])?;
    create(
        &setup.token_client()?,
        &csr_manifest(
            "node-csr-a",
            "system:node:worker-a",
            CLIENT,
            &["digital signature", "client auth"],
            &[],
        )?,
    )?;
    e2e::events::wait_for_reason(
        &setup.cluster,
        "node-csr-a",
        "SubjectRevoked",
        Duration::from_secs(15),
    )?;
    // Retries at 0.2, 0.4, 0.8, 1.6, 3.2 and 6.4 s: after 13 s the next is ~12.8 s away.
    setup.assert_stays_unsigned("node-csr-a", &[], Duration::from_secs(13))?;

    setup
        .kubectl
        .ok(["delete", "certificaterevocation", "worker-a-blocked"])?;
    setup
        .wait_issued("node-csr-a", Duration::from_secs(4))
        .map_err(|e| anyhow::anyhow!("{e:#}; log:\n{}", cm.process.log_tail(3000)))?;
    Ok(())
}
