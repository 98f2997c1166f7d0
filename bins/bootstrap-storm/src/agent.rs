//! One real `kubelet-agent` process bootstrapping against the cluster, for its memory figure.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use protocol::coordination::v1::Lease;

use crate::cluster::{Cluster, Process};
use crate::procstat::{self, Memory};

const NODE: &str = "storm-real-agent";

/// Starts the agent, waits until its Lease exists plus `settle`, reads its memory, stops it.
pub async fn measure(cluster: &Cluster, settle: Duration) -> anyhow::Result<Memory> {
    let Some(launch) = &cluster.launch else {
        bail!("needs the binaries folder (not with --server)");
    };
    let dir = cluster.dir.join(NODE);
    std::fs::create_dir_all(&dir)?;
    let port = |_: ()| -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port())
    };
    let mut command = Command::new(launch.bin_dir.join("kubelet-agent"));
    command
        .arg("--bootstrap-kubeconfig")
        .arg(&cluster.bootstrap_kubeconfig)
        .arg("--kubeconfig")
        .arg(dir.join("kubelet.kubeconfig"))
        .arg("--cert-dir")
        .arg(dir.join("pki"))
        .arg(format!("--hostname-override={NODE}"))
        .arg("--node-ip=127.0.0.1")
        .arg("--address=127.0.0.1")
        .arg(format!("--port={}", port(())?))
        .arg(format!("--healthz-port={}", port(())?));
    let mut agent = Process::spawn("kubelet-agent", command, &dir.join("agent.log"))?;
    let started = Instant::now();
    loop {
        if let Some(status) = agent.exited() {
            bail!("kubelet-agent exited with {status}");
        }
        if cluster
            .admin
            .get::<Lease>(Some(kubelet::node::LEASE_NAMESPACE), NODE)
            .await
            .is_ok()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("kubelet-agent did not create its Lease within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(settle).await;
    let memory = procstat::memory(agent.pid());
    agent.stop();
    memory.ok_or_else(|| anyhow::anyhow!("cannot read the agent's /proc status"))
}
