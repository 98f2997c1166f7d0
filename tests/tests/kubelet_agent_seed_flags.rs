//! The kubelet flags of the older guides among the seeds: `--experimental-bootstrap-kubeconfig`
//! and `--feature-gates=RotateKubeletClientCertificate=true,RotateKubeletServerCertificate=true`
//! still bootstrap a node (with upstream's deprecation warnings), the serving gate decides
//! whether `--rotate-server-certificates` asks for a serving certificate, and an unknown gate
//! is a one-line start-up error.

use std::process::Command;
use std::time::Duration;

use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, paths, wait};

const SEED_GATES: &str =
    "--feature-gates=RotateKubeletClientCertificate=true,RotateKubeletServerCertificate=true";

/// The name of a kubelet-serving CSR of `node`, once one exists.
fn serving_csr(cluster: &Cluster, node: &str) -> anyhow::Result<Option<String>> {
    let user = format!("system:node:{node}");
    Ok(node_agent::list_csrs(cluster)?
        .into_iter()
        .find(|csr| {
            csr["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                && csr["spec"]["username"] == user.as_str()
        })
        .and_then(|csr| csr["metadata"]["name"].as_str().map(str::to_string)))
}

#[test]
fn the_old_guides_flags_bootstrap_a_node_and_the_serving_gate_is_obeyed() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;

    // The seeds' kubelet line, plus today's flag for the serving certificate.
    let mut old = AgentSetup::new(&cluster, "node-old")?;
    old.bootstrap_flag = "--experimental-bootstrap-kubeconfig";
    old.extra_args = vec![SEED_GATES.into(), "--rotate-server-certificates".into()];
    let _old_agent = old.start(&cluster)?;
    wait::until(
        "node-old's client certificate and its serving CSR",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let csr = serving_csr(&cluster, "node-old").map_err(|e| format!("{e:#}"))?;
            Ok((old.client_current().exists() && csr.is_some()).then_some(()))
        },
    )
    .map_err(|e| e.context(old.log()))?;
    let log = old.log();
    for warning in [
        "Flag --experimental-bootstrap-kubeconfig has been deprecated, Use --bootstrap-kubeconfig",
        "Setting GA feature gate RotateKubeletClientCertificate=true. It will be removed in a future release.",
    ] {
        anyhow::ensure!(log.contains(warning), "no {warning:?} in:\n{log}");
    }
    anyhow::ensure!(
        std::fs::read_to_string(&old.kubeconfig)?.contains("kubelet-client-current.pem"),
        "the kubeconfig was not written"
    );

    // With the gate off the flag is ignored: a self-signed kubelet.crt, no serving CSR.
    let mut off = AgentSetup::new(&cluster, "node-off")?;
    off.extra_args = vec![
        "--feature-gates=RotateKubeletServerCertificate=false".into(),
        "--rotate-server-certificates".into(),
    ];
    let mut off_agent = off.start(&cluster)?;
    off.wait_port_open(&mut off_agent, Duration::from_secs(20))?;
    anyhow::ensure!(off.cert_dir.join("kubelet.crt").exists(), "{}", off.log());
    anyhow::ensure!(
        off.log()
            .contains("--rotate-server-certificates is ignored"),
        "{}",
        off.log()
    );
    // A serving CSR would follow the client certificate at once; give it a second.
    wait::until(
        "node-off's client certificate",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(off.client_current().exists().then_some(())),
    )
    .map_err(|e| e.context(off.log()))?;
    std::thread::sleep(Duration::from_secs(1));
    anyhow::ensure!(serving_csr(&cluster, "node-off")?.is_none());

    // An unknown gate stops the agent before it does anything.
    let out = Command::new(paths::workspace_binary("kubelet-agent")?)
        .args([
            "--kubeconfig=/nonexistent",
            "--hostname-override=x",
            "--feature-gates=RotateKubeletServerCertificate=true,NoSuchGate=true",
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.code() == Some(64), "{:?} {stderr}", out.status);
    anyhow::ensure!(
        stderr.lines().count() == 1 && stderr.contains("unrecognized feature gate: NoSuchGate"),
        "{stderr:?}"
    );
    Ok(())
}
