//! A node whose clock is days behind (a VM resumed from an old snapshot, no NTP) cannot
//! verify the apiserver's certificate. Instead of only the x509 error, the kubelet-agent says
//! its clock is wrong, by how much, and what to do; it sends no credentials first. With the
//! clock right, the same node joins.

use std::process::Command;
use std::time::Duration;

use e2e::node_agent::{self, AgentSetup};
use e2e::process::ChildGuard;
use e2e::{Cluster, wait};

/// The kubelet-agent of `setup` under `faketime -f <offset>`.
fn start_skewed(cluster: &Cluster, setup: &AgentSetup, offset: &str) -> anyhow::Result<ChildGuard> {
    let agent = setup.command(cluster)?;
    let mut command = Command::new("faketime");
    command
        .args(["-f", offset])
        .arg(agent.get_program())
        .args(agent.get_args());
    ChildGuard::spawn(command, &setup.log_path())
}

#[test]
fn a_clock_days_behind_is_named_instead_of_only_an_x509_error() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let setup = AgentSetup::new(&cluster, "node-late")?;

    let mut agent = start_skewed(&cluster, &setup, "-3d")?;
    let status = wait::until(
        "the skewed agent to give up",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(agent.exited()),
    )
    .map_err(|e| e.context(setup.log()))?;
    let log = setup.log();
    anyhow::ensure!(!status.success(), "exit {status}:\n{log}");
    let last = log.lines().last().unwrap_or_default();
    anyhow::ensure!(
        last.starts_with("kubelet-agent: failed to create certificate signing request: ")
            && last.contains("certificate not valid yet")
            // 3 days, give or take the Date header's second (kubectl's format prints 3 days and
            // a few seconds as "3d").
            && (last.contains(" is 2d23h behind the apiserver's (")
                || last.contains(" is 3d behind the apiserver's ("))
            && last.ends_with(
                "set the time right (NTP, e.g. timedatectl set-ntp true) and start again"
            ),
        "{log}"
    );
    // Nothing reached the cluster: no CSR was created.
    anyhow::ensure!(node_agent::list_csrs(&cluster)?.is_empty());

    // Five minutes ahead is within the certificates' validity: the node joins.
    let mut agent = start_skewed(&cluster, &setup, "+5m")?;
    wait::until(
        "the node's client certificate",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            if let Some(status) = agent.exited() {
                return Err(format!("agent exited with {status}"));
            }
            Ok(setup.client_current().exists().then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    Ok(())
}
