//! kubelet-agent without auto-approval (seed 003's flow): the node waits with its CSR
//! Pending until `kubectl certificate approve`; a restart during the wait reuses the same key
//! and CSR; a denied CSR stops the agent with the reason.

use std::time::Duration;

use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, wait};

/// Waits for exactly one Pending `node-csr-` CSR and returns its name.
fn pending_csr(cluster: &Cluster, setup: &AgentSetup) -> anyhow::Result<String> {
    let kubectl = cluster.kubectl()?;
    wait::until(
        "the node's CSR to be listed Pending",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let out = kubectl.ok(["get", "csr"]).map_err(|e| format!("{e:#}"))?;
            let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("node-csr-")).collect();
            match rows.as_slice() {
                [] => Ok(None),
                [row] if row.trim_end().ends_with("Pending") => {
                    Ok(row.split_whitespace().next().map(str::to_string))
                }
                _ => Err(format!("unexpected CSR list:\n{out}")),
            }
        },
    )
    .map_err(|e| e.context(setup.log()))
}

fn wait_for_log(
    setup: &AgentSetup,
    what: &str,
    needle: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait::until(what, timeout, Duration::from_millis(50), || {
        Ok(setup.log().contains(needle).then_some(()))
    })
    .map_err(|e| e.context(setup.log()))
}

#[test]
fn node_waits_for_manual_approval_and_survives_a_restart_during_the_wait() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, false)?;

    let setup = AgentSetup::new(&cluster, "node-m")?;
    let mut agent = setup.start(&cluster)?;
    let name = pending_csr(&cluster, &setup)?;
    wait_for_log(
        &setup,
        "the wait to be logged",
        &format!("waiting for approval of csr {name} (Pending)"),
        Duration::from_secs(5),
    )?;
    anyhow::ensure!(
        !setup.kubeconfig.exists(),
        "kubeconfig written before approval"
    );
    let key_path = setup.cert_dir.join("kubelet-client.key.tmp");
    let key_before = std::fs::read(&key_path)?;

    // kill -9 during the wait, then start again: same key, same CSR, no second request.
    agent.kill();
    let mut agent = setup.start(&cluster)?;
    wait_for_log(
        &setup,
        "the restarted agent to reuse its CSR",
        "reusing the certificate signing request sent before a restart",
        Duration::from_secs(10),
    )?;
    anyhow::ensure!(
        std::fs::read(&key_path)? == key_before,
        "the pending key changed"
    );
    let csrs = node_agent::list_csrs(&cluster)?;
    anyhow::ensure!(
        csrs.len() == 1 && csrs[0]["metadata"]["name"] == name.as_str(),
        "expected only {name}: {csrs:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    anyhow::ensure!(agent.exited().is_none(), "agent stopped: {}", setup.log());
    anyhow::ensure!(!setup.kubeconfig.exists());

    let out = cluster.kubectl()?.ok(["certificate", "approve", &name])?;
    anyhow::ensure!(
        out.trim() == format!("certificatesigningrequest.certificates.k8s.io/{name} approved"),
        "{out}"
    );
    wait::until(
        "the node to register after approval",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let (status, _) = cluster
                .admin()
                .and_then(|a| a.get_json("/api/v1/nodes/node-m"))
                .map_err(|e| format!("{e:#}"))?;
            Ok((status == 200 && setup.kubeconfig.exists()).then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(
        !key_path.exists(),
        "the pending key must be removed once issued"
    );
    let csrs = cluster.kubectl()?.ok(["get", "csr", &name])?;
    anyhow::ensure!(csrs.contains("Approved,Issued"), "{csrs}");
    anyhow::ensure!(node_agent::list_csrs(&cluster)?.len() == 1);
    Ok(())
}

#[test]
fn a_denied_csr_stops_the_agent_with_the_reason() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    node_agent::bind_bootstrap_roles(&cluster, false)?;
    let setup = AgentSetup::new(&cluster, "node-d")?;
    let mut agent = setup.start(&cluster)?;
    let name = pending_csr(&cluster, &setup)?;
    cluster.kubectl()?.ok(["certificate", "deny", &name])?;
    let status = wait::until(
        "the agent to exit",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(agent.exited()),
    )?;
    anyhow::ensure!(status.code() == Some(1), "{status}");
    let log = setup.log();
    anyhow::ensure!(
        log.contains(&format!(
            "kubelet-agent: certificate signing request {name} is denied, reason: KubectlDeny, message: This CSR was denied by kubectl certificate deny."
        )),
        "{log}"
    );
    anyhow::ensure!(!setup.kubeconfig.exists());
    Ok(())
}
