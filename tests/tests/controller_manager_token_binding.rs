//! A bootstrap token bound to one node (`kubectl annotate secret bootstrap-token-<id>
//! kubelet-tls-bootstrap/node-name=<node>`): csrapproving approves its bootstrap CSRs only for
//! that node; a request for any other node waits with a Warning event saying why. The
//! controller-manager runs as system:kube-controller-manager with the default roles.

#[path = "controller_manager_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";

fn event(setup: &Setup, csr: &str, reason: &str) -> anyhow::Result<Value> {
    e2e::events::wait_for_reason(&setup.cluster, csr, reason, Duration::from_secs(15))
}

#[test]
fn a_token_bound_to_a_node_joins_only_that_node() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let out = setup.kubectl.ok([
        "annotate",
        "secret",
        "bootstrap-token-abcdef",
        "--namespace=kube-system",
        "kubelet-tls-bootstrap/node-name=worker-a",
    ])?;
    anyhow::ensure!(out.contains("annotated"), "{out}");
    let _cm = setup.start_cm("cm.log", &[])?;
    let bootstrap = setup.token_client()?;
    let usages = ["digital signature", "client auth"];

    // The token claiming another node: not approved, and the event says whose token it is.
    create(
        &bootstrap,
        &csr_manifest("node-csr-b", "system:node:worker-b", CLIENT, &usages, &[])?,
    )?;
    let said = event(&setup, "node-csr-b", "TokenBoundToOtherNode")?;
    anyhow::ensure!(
        said["type"] == "Warning"
            && said["message"].as_str().is_some_and(|m| m.starts_with(
                "Not approved automatically: bootstrap token abcdef may join only node \"worker-a\""
            )),
        "{said}"
    );
    setup.assert_stays_unsigned("node-csr-b", &[], Duration::from_secs(1))?;

    // The node it is bound to: approved and issued as usual.
    create(
        &bootstrap,
        &csr_manifest("node-csr-a", "system:node:worker-a", CLIENT, &usages, &[])?,
    )?;
    setup.wait_issued("node-csr-a", Duration::from_secs(10))?;
    let described = setup.kubectl.ok(["describe", "csr", "node-csr-b"])?;
    anyhow::ensure!(
        described.contains("TokenBoundToOtherNode") && described.contains("Pending"),
        "{described}"
    );
    Ok(())
}
