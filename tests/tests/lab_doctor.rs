//! `lab doctor`: run from a node, it says what stops the join and what to change. A bootstrap
//! identity without RBAC, one that works, a kubeconfig with the wrong CA, an unknown token and
//! a clock three days behind each get their line; exit 1 when a check fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::node_agent;
use e2e::{Cluster, paths};

/// `lab doctor <args>` (optionally under `faketime -f <offset>`): exit success and stdout.
fn doctor(args: &[&str], skew: Option<&str>) -> anyhow::Result<(bool, String)> {
    let lab = paths::workspace_binary("lab")?;
    let mut command = match skew {
        Some(offset) => {
            let mut c = Command::new("faketime");
            c.args(["-f", offset]).arg(lab);
            c
        }
        None => Command::new(lab),
    };
    let output = command.arg("doctor").args(args).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success() || stderr.contains("lab: at least one check failed"),
        "lab doctor: {stderr}\n{stdout}"
    );
    Ok((output.status.success(), stdout))
}

fn has_line(report: &str, mark: &str, text: &str) -> bool {
    report
        .lines()
        .any(|l| l.trim_start().starts_with(mark) && l.contains(text))
}

fn arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn lab_doctor_names_what_stops_a_join() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let bootstrap = arg(&cluster.bootstrap_kubeconfig);

    // No bindings yet: the token user may not even create its CSR.
    let (ok, report) = doctor(&["--bootstrap-kubeconfig", &bootstrap], None)?;
    anyhow::ensure!(!ok, "{report}");
    for (mark, text) in [
        ("ok", "presents a certificate the kubeconfig's CA verifies"),
        ("ok", "clock: agrees with the apiserver's"),
        (
            "ok",
            "identity: the apiserver accepts these credentials as kubelet-bootstrap",
        ),
        (
            "FAIL",
            "may not create certificatesigningrequests, so it cannot create its certificate signing request: bind the ClusterRole system:node-bootstrapper to kubelet-bootstrap",
        ),
        (
            "warn",
            "may not create certificatesigningrequests/nodeclient",
        ),
    ] {
        anyhow::ensure!(
            has_line(&report, mark, text),
            "no {mark} {text:?} in:\n{report}"
        );
    }

    // With the seed's bindings, and for the node's own certificate, everything passes.
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let node = arg(&cluster.node_kubeconfig("node-d")?);
    let (ok, report) = doctor(
        &["--bootstrap-kubeconfig", &bootstrap, "--kubeconfig", &node],
        None,
    )?;
    anyhow::ensure!(ok, "{report}");
    anyhow::ensure!(
        !report.contains("FAIL") && !report.contains("warn"),
        "{report}"
    );
    anyhow::ensure!(
        has_line(&report, "ok", "certificate: system:node:node-d, ")
            && has_line(
                &report,
                "ok",
                "may create certificatesigningrequests/selfnodeclient"
            ),
        "{report}"
    );

    // The same token behind another CA's certificate-authority.
    let other_ca = pki::CertificateAuthority::generate(
        "not-the-cluster-ca",
        pki::KeyAlgorithm::EcdsaP256,
        Duration::from_secs(3600),
    )?;
    let other_ca_file = cluster.dir().join("other-ca.pem");
    std::fs::write(&other_ca_file, other_ca.cert_pem())?;
    let wrong_ca = cluster.dir().join("wrong-ca.kubeconfig");
    std::fs::copy(&cluster.bootstrap_kubeconfig, &wrong_ca)?;
    let status = Command::new(paths::kubectl()?)
        .args(["config", "set-cluster", "e2e", "--embed-certs=true"])
        .arg(format!(
            "--certificate-authority={}",
            other_ca_file.display()
        ))
        .arg(format!("--kubeconfig={}", wrong_ca.display()))
        .status()?;
    anyhow::ensure!(status.success());
    let (ok, report) = doctor(&["--bootstrap-kubeconfig", &arg(&wrong_ca)], None)?;
    anyhow::ensure!(
        !ok && has_line(
            &report,
            "FAIL",
            "The kubeconfig's certificate-authority must be the CA that signed the apiserver's serving certificate"
        ),
        "{report}"
    );

    // A token the apiserver does not know.
    let unknown =
        cluster.token_kubeconfig("unknown.kubeconfig", "nobody", "abcdef.0000000000000000")?;
    let (ok, report) = doctor(&["--bootstrap-kubeconfig", &arg(&unknown)], None)?;
    anyhow::ensure!(
        !ok && has_line(
            &report,
            "FAIL",
            "identity: the apiserver refuses these credentials"
        ),
        "{report}"
    );

    // A node whose clock is three days behind: the TLS failure names the clock.
    let (ok, report) = doctor(&["--bootstrap-kubeconfig", &bootstrap], Some("-3d"))?;
    anyhow::ensure!(
        !ok && has_line(&report, "FAIL", "behind the apiserver's ("),
        "{report}"
    );
    Ok(())
}

/// Decision 0027: an expired node certificate the apiserver still accepts, within its offline
/// window, is a warning, and the renewal's RBAC is checked instead of `selfnodeclient`.
#[test]
fn lab_doctor_on_an_expired_certificate_within_the_offline_window() -> anyhow::Result<()> {
    let cluster = Cluster::start_with(&["--client-certificate-max-offline-window=1h"])?;
    let (cert_pem, key_pem) = cluster.ca.issue_leaf(&pki::LeafParams {
        common_name: "system:node:node-e".to_string(),
        organizations: vec!["system:nodes".to_string()],
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        validity: Duration::from_secs(1),
    })?;
    let cert = cluster.dir().join("node-e.pem");
    let key = cluster.dir().join("node-e-key.pem");
    std::fs::write(&cert, cert_pem)?;
    std::fs::write(&key, key_pem)?;
    let node = cluster.certificate_kubeconfig("node-e.kubeconfig", "node-e", &cert, &key)?;
    std::thread::sleep(Duration::from_secs(2));

    // Nothing bound to the expired certificates' group: it may not even ask.
    let (ok, report) = doctor(&["--kubeconfig", &arg(&node)], None)?;
    anyhow::ensure!(!ok, "{report}");
    for (mark, text) in [
        (
            "warn",
            "certificate: has expired, but the apiserver still accepts it",
        ),
        (
            "ok",
            "identity: the apiserver accepts these credentials as kubelet-tls-bootstrap:expired:system:node:node-e",
        ),
        ("FAIL", "may not create certificatesigningrequests, so"),
        (
            "warn",
            "may not create certificatesigningrequests/expirednodeclient, so its requests wait for `kubectl certificate approve`; to approve them automatically bind the ClusterRole kubelet-tls-bootstrap:certificatesigningrequests:expirednodeclient",
        ),
    ] {
        anyhow::ensure!(
            has_line(&report, mark, text),
            "no {mark} {text:?} in:\n{report}"
        );
    }

    // The lab's binding: only the expiry is left to say.
    node_agent::bind_expired_renewal(&cluster)?;
    let report = e2e::wait::until(
        "RBAC to allow the renewal",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let (ok, report) =
                doctor(&["--kubeconfig", &arg(&node)], None).map_err(|e| format!("{e:#}"))?;
            Ok(ok.then_some(report))
        },
    )?;
    anyhow::ensure!(
        has_line(
            &report,
            "ok",
            "may create certificatesigningrequests/expirednodeclient"
        ) && !report.contains("FAIL"),
        "{report}"
    );
    Ok(())
}
