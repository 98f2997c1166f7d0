//! kubelet-agent serving certificate (`--rotate-server-certificates`): the kubelet port stays
//! closed while the `kubernetes.io/kubelet-serving` CSR is Pending (a restart meanwhile waits
//! for the same CSR), and after `kubectl certificate approve` it serves a certificate that
//! `curl --cacert ca.pem` accepts.

use std::process::Command;
use std::time::Duration;

use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, wait};

#[test]
fn serving_certificate_is_issued_after_approval_and_verifies_against_the_ca() -> anyhow::Result<()>
{
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let mut setup = AgentSetup::new(&cluster, "node-s")?;
    setup.extra_args = vec!["--rotate-server-certificates".into()];
    let agent = setup.start(&cluster)?;

    // The serving CSR is never auto-approved: it waits, and the port stays closed.
    let kubectl = cluster.kubectl()?;
    let name = wait::until(
        "a Pending kubelet-serving CSR",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let out = kubectl.ok(["get", "csr"]).map_err(|e| format!("{e:#}"))?;
            Ok(out
                .lines()
                .find(|l| l.contains("kubernetes.io/kubelet-serving"))
                .filter(|l| l.contains("system:node:node-s") && l.trim_end().ends_with("Pending"))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_string))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(name.starts_with("csr-"), "{name}");
    let expected = format!(
        "waiting for a serving certificate: {name} is Pending; approve it with kubectl certificate approve {name}"
    );
    wait::until(
        "the agent to say why the port is closed",
        Duration::from_secs(5),
        Duration::from_millis(50),
        || Ok(setup.log().contains(&expected).then_some(())),
    )
    .map_err(|e| e.context(setup.log()))?;
    anyhow::ensure!(
        !node_agent::port_open(setup.port),
        "port open before approval"
    );
    anyhow::ensure!(
        !setup.cert_dir.join("kubelet.crt").exists(),
        "no self-signed fallback"
    );

    // The CSR asks for the node's name and IP as SANs, with server auth.
    let (_, csr) = cluster.admin()?.get_json(&format!(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"
    ))?;
    let usages = csr["spec"]["usages"].clone();
    anyhow::ensure!(
        usages == serde_json::json!(["digital signature", "server auth"]),
        "{usages}"
    );

    // Restarted while its request waits, the agent waits for the same request: no second CSR.
    drop(agent);
    let mut agent = setup.start(&cluster)?;
    let csr_field = format!("csr={name}");
    wait::until(
        "the restarted agent to wait for its earlier request",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let log = setup.log();
            let resumed = log.lines().any(|l| {
                l.contains("waiting again for the certificate request sent before a restart")
                    && l.contains(&csr_field)
            });
            Ok(resumed.then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))?;
    let serving = node_agent::list_csrs(&cluster)?
        .into_iter()
        .filter(|c| c["spec"]["signerName"] == "kubernetes.io/kubelet-serving")
        .count();
    anyhow::ensure!(serving == 1, "{serving} serving CSRs after a restart");

    kubectl.ok(["certificate", "approve", &name])?;
    setup.wait_port_open(&mut agent, Duration::from_secs(20))?;
    anyhow::ensure!(
        !setup.cert_dir.join("kubelet-server.csr.tmp").exists()
            && !setup.cert_dir.join("kubelet-server.key.tmp").exists(),
        "the pending request files outlived the answer"
    );

    let current = setup.cert_dir.join("kubelet-server-current.pem");
    let leaf = &pki::parse_certificates(&std::fs::read(&current)?)?[0];
    anyhow::ensure!(leaf.common_name() == Some("system:node:node-s"));
    anyhow::ensure!(leaf.dns_names() == ["node-s"], "{:?}", leaf.dns_names());
    anyhow::ensure!(
        leaf.ip_addresses() == ["127.0.0.1".parse::<std::net::IpAddr>()?],
        "{:?}",
        leaf.ip_addresses()
    );
    let target = std::fs::read_link(&current)?;
    anyhow::ensure!(
        target
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kubelet-server-2")),
        "{target:?}"
    );

    // curl verifies the served certificate against the cluster CA.
    let ca = cluster.dir().join("ca.pem");
    let curl = |path: &str| -> anyhow::Result<String> {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--cacert"])
            .arg(&ca)
            .arg(format!("https://127.0.0.1:{}{path}", setup.port))
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "curl {path}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    anyhow::ensure!(curl("/healthz")? == "ok");
    let pods: serde_json::Value = serde_json::from_str(&curl("/pods")?)?;
    anyhow::ensure!(
        pods["kind"] == "PodList" && pods["items"] == serde_json::json!([]),
        "{pods}"
    );
    let metrics = curl("/metrics")?;
    let ttl = node_agent::metric(&metrics, "kubelet_certificate_manager_server_ttl_seconds");
    anyhow::ensure!(ttl.is_some_and(|t| t > 3600.0), "{metrics}");
    anyhow::ensure!(
        node_agent::metric(&metrics, "kubelet_certificate_manager_client_ttl_seconds")
            .is_some_and(|t| t > 3600.0),
        "{metrics}"
    );

    // openssl agrees (the way the seeds check it).
    let output = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", setup.port))
        .arg("-CAfile")
        .arg(&ca)
        .args(["-verify_return_error", "-brief"])
        .stdin(std::process::Stdio::null())
        .output()?;
    let report = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success() && report.contains("Verification: OK"),
        "openssl s_client: {report}"
    );
    Ok(())
}
