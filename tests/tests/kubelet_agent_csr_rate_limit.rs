//! A kubelet-agent whose bootstrap request finds its allowance used up (decision 0030) waits
//! the time the apiserver names, once, and then joins: it neither gives up nor hammers.

use std::time::{Duration, Instant};

use e2e::csr::node_manifest;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, paths};

#[test]
fn an_agent_over_its_csr_allowance_waits_the_given_time_and_joins() -> anyhow::Result<()> {
    let cluster = Cluster::start_with(&[
        "--kubelet-csr-rate-limit-burst=1",
        "--kubelet-csr-rate-limit-period=3s",
    ])?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;

    // The bootstrap user's one request for node-r, as an earlier attempt of its machine.
    let bootstrap = cluster.bootstrap_kubectl(&paths::kubectl()?);
    let earlier = cluster.write_manifest("earlier.json", &node_manifest("earlier", "node-r")?)?;
    let used_up = Instant::now();
    bootstrap.ok(["create", "--validate=false", "-f", &earlier])?;

    let setup = AgentSetup::new(&cluster, "node-r")?;
    let mut agent = setup.start(&cluster)?;
    setup.wait_kubeconfig(&mut agent, Duration::from_secs(20))?;
    let joined_after = used_up.elapsed();
    anyhow::ensure!(
        joined_after >= Duration::from_millis(2500),
        "the next request was allowed 3 s after the first, yet the node joined after \
         {joined_after:?}; log:\n{}",
        setup.log()
    );

    // One refusal: the agent asked again when told, not on its own faster backoff.
    let metrics = cluster.kubectl()?.ok(["get", "--raw", "/metrics"])?;
    let series = "apiserver_certificatesigningrequest_rate_limited_total\
                  {signer=\"kubernetes.io/kube-apiserver-client-kubelet\"} ";
    let refusals = metrics
        .lines()
        .find_map(|line| line.strip_prefix(series))
        .unwrap_or("none");
    anyhow::ensure!(
        refusals == "1",
        "refusals: {refusals}; log:\n{}",
        setup.log()
    );
    Ok(())
}
