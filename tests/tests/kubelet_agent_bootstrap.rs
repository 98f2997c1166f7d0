//! kubelet-agent bootstrap against the real apiserver and controller-manager: a fresh node
//! under auto-approval, the on-disk layout it leaves, and its Node and Lease.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, wait};

#[test]
fn fresh_node_bootstraps_registers_and_heartbeats_under_auto_approval() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;

    let mut setup = AgentSetup::new(&cluster, "node-a")?;
    setup.extra_args = vec![
        "--node-labels=example.com/role=edge".into(),
        "--testing-lease-renew-seconds=0.2".into(),
    ];
    let started = Instant::now();
    let mut agent = setup.start(&cluster)?;
    let admin = cluster.admin()?;
    wait::until(
        "a kubeconfig, a Node and a Lease",
        Duration::from_secs(20),
        Duration::from_millis(10),
        || {
            if let Some(status) = agent.exited() {
                return Err(format!("agent exited with {status}"));
            }
            if !setup.kubeconfig.exists() {
                return Ok(None);
            }
            let (node, _) = admin
                .get_json("/api/v1/nodes/node-a")
                .map_err(|e| e.to_string())?;
            let lease =
                node_agent::lease_renew_time(&cluster, "node-a").map_err(|e| e.to_string())?;
            Ok((node == 200 && lease.is_some()).then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    let elapsed = started.elapsed();
    eprintln!("fresh node ready after {elapsed:?}");
    anyhow::ensure!(
        elapsed < Duration::from_secs(1),
        "bootstrap took {elapsed:?}; log:\n{}",
        setup.log()
    );

    // The files, as the kubelet lays them out.
    let current = setup.client_current();
    let target = std::fs::read_link(&current)?;
    let file_name = target
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    anyhow::ensure!(
        target.is_absolute()
            && file_name.starts_with("kubelet-client-")
            && file_name.len() == "kubelet-client-2024-05-01-10-00-00.pem".len(),
        "symlink target {target:?}"
    );
    let mode = std::fs::metadata(&target)?.permissions().mode() & 0o777;
    anyhow::ensure!(mode == 0o600, "mode {mode:o}");
    let pem = std::fs::read_to_string(&target)?;
    anyhow::ensure!(
        pem.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.trim_end().ends_with("-----END EC PRIVATE KEY-----"),
        "combined pem layout: {pem}"
    );
    let cert = &pki::parse_certificates(pem.as_bytes())?[0];
    anyhow::ensure!(cert.common_name() == Some("system:node:node-a"));
    anyhow::ensure!(cert.organizations() == ["system:nodes"]);
    cert.verify_issued_by(cluster.ca.certificate())?;
    anyhow::ensure!(
        !setup.cert_dir.join("kubelet-client.key.tmp").exists(),
        "the pending key must be removed once issued"
    );
    anyhow::ensure!(
        setup.cert_dir.join("kubelet.crt").exists(),
        "self-signed serving cert"
    );

    // The kubeconfig: default-cluster/default-auth/default-context, cert and key = current.pem.
    let kubeconfig = std::fs::read_to_string(&setup.kubeconfig)?;
    let current_text = current.display().to_string();
    for needle in [
        "name: default-cluster".to_string(),
        "name: default-auth".to_string(),
        "current-context: default-context".to_string(),
        format!("client-certificate: {current_text}"),
        format!("client-key: {current_text}"),
    ] {
        anyhow::ensure!(
            kubeconfig.contains(&needle),
            "{needle:?} not in:\n{kubeconfig}"
        );
    }

    // kubectl sees the node Ready, with our labels; the CSR is issued to the bootstrap user.
    let kubectl = cluster.kubectl()?;
    let nodes = kubectl.ok(["get", "nodes", "--show-labels"])?;
    let row = nodes
        .lines()
        .find(|l| l.starts_with("node-a "))
        .ok_or_else(|| anyhow::anyhow!("no node-a in:\n{nodes}"))?;
    anyhow::ensure!(row.contains(" Ready "), "{row}");
    anyhow::ensure!(row.contains("v1.32.0-tlsboot"), "{row}");
    for label in [
        "example.com/role=edge",
        "kubernetes.io/hostname=node-a",
        "kubernetes.io/os=linux",
        "kubernetes.io/arch=",
    ] {
        anyhow::ensure!(row.contains(label), "{label} missing: {row}");
    }
    let csrs = kubectl.ok(["get", "csr"])?;
    let csr_row = csrs
        .lines()
        .find(|l| l.starts_with("node-csr-"))
        .ok_or_else(|| anyhow::anyhow!("no node-csr in:\n{csrs}"))?;
    anyhow::ensure!(
        csr_row.contains("kubernetes.io/kube-apiserver-client-kubelet")
            && csr_row.contains("kubelet-bootstrap")
            && csr_row.contains("Approved,Issued"),
        "{csr_row}"
    );

    // The Lease is held by the node and keeps being renewed.
    let (_, lease) =
        admin.get_json("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a")?;
    anyhow::ensure!(lease["spec"]["holderIdentity"] == "node-a", "{lease}");
    anyhow::ensure!(lease["spec"]["leaseDurationSeconds"] == 40, "{lease}");
    let first = lease["spec"]["renewTime"].as_str().map(str::to_string);
    node_agent::wait_for_lease_renewal(
        &cluster,
        "node-a",
        first.as_deref(),
        Duration::from_secs(5),
    )?;

    // Resident memory of the running agent (the benchmark target is < 15 MB in release).
    if let Some(pid) = agent.id() {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        if let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS:")) {
            eprintln!("kubelet-agent (this build) {rss}");
        }
    }

    // The node's own healthz port.
    let (status, body) = node_agent::http_get(setup.healthz_port, "/healthz")?;
    anyhow::ensure!(status == 200 && body == "ok", "{status} {body}");

    // A restart with a valid kubeconfig skips the bootstrap: no second CSR.
    agent.terminate(Duration::from_secs(10))?;
    let serial = setup.client_serial()?;
    let _agent = setup.start(&cluster)?;
    wait::until(
        "the restarted agent to log that it skipped bootstrap",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || Ok(setup.log().contains("skipping bootstrap").then_some(())),
    )?;
    node_agent::wait_for_lease_renewal(&cluster, "node-a", None, Duration::from_secs(5))?;
    anyhow::ensure!(
        node_agent::list_csrs(&cluster)?.len() == 1,
        "a second CSR was sent"
    );
    anyhow::ensure!(setup.client_serial()? == serial);
    Ok(())
}

#[test]
fn bad_flags_are_one_line_and_a_non_zero_exit() -> anyhow::Result<()> {
    let binary = e2e::paths::workspace_binary("kubelet-agent")?;
    for (args, expected) in [
        (
            vec!["--kubeconfig=/x", "--node-ip=10.0.0.300"],
            "invalid --node-ip \"10.0.0.300\": not an IP address",
        ),
        (vec!["--kubeconfig=/x", "--port=notaport"], "--port"),
        (
            vec!["--kubeconfig=/x", "--node-labels=noequals"],
            "--node-labels",
        ),
    ] {
        let output = std::process::Command::new(&binary)
            .args(&args)
            .arg("--hostname-override=n1")
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::ensure!(!output.status.success(), "{args:?} succeeded");
        anyhow::ensure!(stderr.lines().count() == 1, "{args:?}: {stderr}");
        anyhow::ensure!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // No kubeconfig and no bootstrap kubeconfig: a clear error, not a hang.
    let dir = tempfile::tempdir()?;
    let output = std::process::Command::new(&binary)
        .arg("--kubeconfig")
        .arg(dir.path().join("missing.kubeconfig"))
        .arg("--cert-dir")
        .arg(dir.path().join("pki"))
        .args(["--hostname-override=n1", "--healthz-port=0"])
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.code() == Some(1), "{:?}", output.status);
    anyhow::ensure!(
        stderr.contains("no valid client certificate in --kubeconfig")
            && stderr.contains("no --bootstrap-kubeconfig"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn an_unknown_bootstrap_token_is_named_as_such_with_what_to_do() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    // A token the apiserver does not know: never made, expired and deleted, or used up.
    let bogus = cluster.token_kubeconfig(
        "bogus-bootstrap.kubeconfig",
        "kubelet-bootstrap",
        "zzzzzz.0123456789abcdef",
    )?;
    let setup = AgentSetup {
        bootstrap_kubeconfig: Some(bogus.clone()),
        ..AgentSetup::new(&cluster, "node-z")?
    };
    let mut agent = setup.start(&cluster)?;
    let status = wait::until(
        "the agent to exit",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(agent.exited()),
    )?;
    anyhow::ensure!(!status.success(), "{status}");
    let log = setup.log();
    anyhow::ensure!(
        log.contains(&format!(
            "the apiserver refused the bootstrap credentials in {}",
            bogus.display()
        )) && log.contains("their token is unknown, expired or used up")
            && log.contains("`lab node replace node-z`"),
        "{log}"
    );
    Ok(())
}
