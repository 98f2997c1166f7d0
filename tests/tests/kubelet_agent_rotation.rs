//! kubelet-agent certificate rotation without restart, and reconnection after the apiserver
//! was away. Short certificates (`--cluster-signing-duration=10m`: 15 min of validity with
//! the 5 min backdate) and the test-only `--testing-rotation-deadline-scale` bring the
//! 70-90 % deadline down to about two seconds.

use std::time::Duration;

use e2e::https::Identity;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, Https, Stop, wait};

/// `/metrics` of the agent's kubelet port, trusting the CA in its self-signed `kubelet.crt`.
fn agent_metrics(setup: &AgentSetup) -> anyhow::Result<String> {
    let chain = std::fs::read(setup.cert_dir.join("kubelet.crt"))?;
    let ca = pki::parse_certificates(&chain)?
        .get(1)
        .map(pki::Certificate::to_pem)
        .ok_or_else(|| anyhow::anyhow!("kubelet.crt has no CA certificate"))?;
    let response =
        Https::new(setup.port, &ca, Identity::Anonymous)?.request("GET", "/metrics", None, b"")?;
    anyhow::ensure!(response.status == 200, "metrics: {}", response.status);
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

fn dated_client_files(setup: &AgentSetup) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(&setup.cert_dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kubelet-client-2"))
        .collect();
    names.sort();
    Ok(names)
}

/// An agent that rotates its client certificate about every two seconds (with the
/// controller-manager's 10m signing duration) and renews its Lease every 0.1 s.
fn fast_rotating_agent(cluster: &Cluster, node: &str) -> anyhow::Result<AgentSetup> {
    let mut setup = AgentSetup::new(cluster, node)?;
    setup.extra_args = vec![
        "--testing-rotation-deadline-scale=0.005".into(),
        "--testing-lease-renew-seconds=0.1".into(),
    ];
    Ok(setup)
}

#[test]
fn client_certificate_rotates_in_place_without_failed_requests() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "10m")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let setup = fast_rotating_agent(&cluster, "node-r")?;
    let mut agent = setup.start(&cluster)?;
    let first = wait::until(
        "the first client certificate",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || Ok(setup.client_serial().ok()),
    )
    .map_err(|e| e.context(setup.log()))?;
    let first_file = std::fs::read_link(setup.client_current())?;

    // Two rotations: three different serials in turn.
    let mut serials = vec![first.clone()];
    wait::until(
        "two client certificate rotations",
        Duration::from_secs(40),
        Duration::from_millis(20),
        || {
            if let Some(status) = agent.exited() {
                return Err(format!("agent exited with {status}"));
            }
            // The symlink is always valid while it is swapped.
            let serial = setup
                .client_serial()
                .map_err(|e| format!("current pem unreadable: {e:#}"))?;
            if serials.last() != Some(&serial) {
                serials.push(serial);
            }
            Ok((serials.len() >= 3).then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(agent.exited().is_none(), "the agent restarted or stopped");

    // Old files are pruned: only the current one and its predecessor remain. The prune follows
    // the symlink swap the loop above saw, so give it a moment.
    wait::until(
        "old client certificate files pruned",
        Duration::from_secs(2),
        Duration::from_millis(20),
        || {
            let files = dated_client_files(&setup).map_err(|e| format!("{e:#}"))?;
            Ok((files.len() <= 2).then_some(()))
        },
    )
    .map_err(|e| e.context(format!("{:?}", dated_client_files(&setup))))?;
    anyhow::ensure!(
        !first_file.exists(),
        "the first certificate file was not replaced"
    );

    // The apiserver accepted each new certificate: every rotation CSR after the first was
    // sent by the node itself (selfnodeclient), authenticated with the previous rotation's
    // certificate, and the issued serials are the ones the agent installed.
    let csrs = node_agent::list_csrs(&cluster)?;
    let mut rotation_serials = Vec::new();
    for csr in &csrs {
        let name = csr["metadata"]["name"].as_str().unwrap_or_default();
        if !name.starts_with("csr-") {
            continue;
        }
        anyhow::ensure!(csr["spec"]["username"] == "system:node:node-r", "{csr}");
        if let Some(cert) = csr["status"]["certificate"].as_str() {
            use base64::Engine as _;
            let pem = base64::engine::general_purpose::STANDARD.decode(cert)?;
            rotation_serials.push(pki::parse_certificates(&pem)?[0].serial_hex());
        }
    }
    for serial in &serials[1..] {
        anyhow::ensure!(
            rotation_serials.contains(serial),
            "{serial} not issued by a rotation CSR: {rotation_serials:?}"
        );
    }
    let renewed = node_agent::lease_renew_time(&cluster, "node-r")?;
    node_agent::wait_for_lease_renewal(
        &cluster,
        "node-r",
        renewed.as_deref(),
        Duration::from_secs(5),
    )?;

    // No request failed during the swaps.
    let metrics = agent_metrics(&setup)?;
    let value = |name: &str| node_agent::metric(&metrics, name);
    anyhow::ensure!(
        value("kubelet_agent_heartbeat_errors_total") == Some(0.0),
        "{metrics}"
    );
    anyhow::ensure!(
        value("kubelet_certificate_manager_client_expiration_renew_errors") == Some(0.0),
        "{metrics}"
    );
    anyhow::ensure!(
        value("kubelet_agent_certificate_rotations_total").unwrap_or(0.0) >= 2.0,
        "{metrics}"
    );
    anyhow::ensure!(
        value("kubelet_certificate_manager_client_ttl_seconds").unwrap_or(0.0) > 0.0,
        "{metrics}"
    );
    Ok(())
}

/// With `--supersede-rotated-client-certificates-after`, each renewal revokes the node's older
/// client certificates once the grace has passed: a copy of the first certificate is refused,
/// while the agent goes on heartbeating with its current one.
#[test]
fn a_renewal_supersedes_the_older_client_certificates() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager_with(
        &cluster,
        "10m",
        &["--supersede-rotated-client-certificates-after=1s"],
    )?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let setup = fast_rotating_agent(&cluster, "node-s")?;
    let mut agent = setup.start(&cluster)?;
    // The first certificate and its key, as a thief would have copied them.
    let first = wait::until(
        "the first client certificate",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || Ok(std::fs::read_to_string(setup.client_current()).ok()),
    )
    .map_err(|e| e.context(setup.log()))?;
    let first_certificate = &pki::parse_certificates(first.as_bytes())?[0];
    let stolen = Https::new(
        cluster.port,
        &cluster.ca_pem,
        Identity::Certificate {
            cert_pem: first.clone(),
            key_pem: first.clone(),
        },
    )?;
    let whoami = |client: &Https| -> anyhow::Result<u16> {
        Ok(client
            .request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                Some("application/json"),
                br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
            )?
            .status)
    };
    anyhow::ensure!(
        whoami(&stolen)? == 201,
        "the first certificate works at first"
    );

    // Renewed, and a second later the first certificate is refused.
    let admin = cluster.admin()?;
    let revocation = wait::until(
        "the first certificate to be superseded",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            if let Some(status) = agent.exited() {
                return Err(format!("agent exited with {status}"));
            }
            let (status, body) = admin
                .get_json("/apis/revocation.kubelet-tls-bootstrap.io/v1alpha1/certificaterevocations/node-s-superseded")
                .map_err(|e| format!("{e:#}"))?;
            Ok((status == 200
                && body["spec"]["issuedBefore"]
                    .as_str()
                    .and_then(|t| protocol::meta::Time::parse(t).ok())
                    .is_some_and(|t| t.to_system_time() >= first_certificate.not_before()))
            .then_some(body))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(
        revocation["spec"]["user"] == "system:node:node-s"
            && revocation["spec"]["reason"].as_str().is_some_and(
                |r| r.starts_with("superseded: the node renewed its client certificate")
            ),
        "{revocation}"
    );
    wait::until(
        "the stolen certificate to be refused",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || Ok((whoami(&stolen).map_err(|e| format!("{e:#}"))? == 401).then_some(())),
    )?;

    // The node itself goes on: its current certificate is newer than the revocation.
    let renewed = node_agent::lease_renew_time(&cluster, "node-s")?;
    node_agent::wait_for_lease_renewal(
        &cluster,
        "node-s",
        renewed.as_deref(),
        Duration::from_secs(5),
    )
    .map_err(|e| e.context(setup.log()))?;
    let current = std::fs::read_to_string(setup.client_current())?;
    let current_client = Https::new(
        cluster.port,
        &cluster.ca_pem,
        Identity::Certificate {
            cert_pem: current.clone(),
            key_pem: current,
        },
    )?;
    anyhow::ensure!(
        whoami(&current_client)? == 201,
        "the current certificate works"
    );
    anyhow::ensure!(agent.exited().is_none(), "the agent stopped");
    Ok(())
}

/// The pid of this cluster's apiserver (found by its data folder, which is unique).
fn apiserver_pid(cluster: &Cluster) -> anyhow::Result<u32> {
    let data_dir = cluster.dir().join("data").display().to_string();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_apiserver = args.first().is_some_and(|a| a.ends_with(b"/apiserver"));
        if is_apiserver && args.contains(&data_dir.as_bytes()) {
            return Ok(pid);
        }
    }
    anyhow::bail!("no apiserver process with --data-dir {data_dir}")
}

#[test]
fn agent_reconnects_by_itself_after_the_apiserver_was_away() -> anyhow::Result<()> {
    let mut cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let mut setup = AgentSetup::new(&cluster, "node-c")?;
    setup.extra_args = vec!["--testing-lease-renew-seconds=0.2".into()];
    let mut agent = setup.start(&cluster)?;
    let before =
        node_agent::wait_for_lease_renewal(&cluster, "node-c", None, Duration::from_secs(20))
            .map_err(|e| e.context(setup.log()))?;
    // A renewal after the creation: the heartbeat loop is running.
    let before = node_agent::wait_for_lease_renewal(
        &cluster,
        "node-c",
        Some(&before),
        Duration::from_secs(5),
    )?;

    // Away for three seconds (kill -9 of the server this test started), then back.
    let pid = apiserver_pid(&cluster)?;
    std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()?;
    std::thread::sleep(Duration::from_secs(3));
    anyhow::ensure!(
        agent.exited().is_none(),
        "agent died while the apiserver was away"
    );
    let metrics = agent_metrics(&setup)?;
    let errors =
        node_agent::metric(&metrics, "kubelet_agent_heartbeat_errors_total").unwrap_or(0.0);
    anyhow::ensure!(errors > 0.0, "the outage went unnoticed:\n{metrics}");
    cluster.restart(Stop::Kill)?;

    node_agent::wait_for_lease_renewal(&cluster, "node-c", Some(&before), Duration::from_secs(20))
        .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(agent.exited().is_none(), "agent stopped: {}", setup.log());
    let nodes = cluster.kubectl()?.ok(["get", "nodes"])?;
    anyhow::ensure!(
        nodes
            .lines()
            .any(|l| l.starts_with("node-c ") && l.contains(" Ready ")),
        "{nodes}"
    );
    Ok(())
}
