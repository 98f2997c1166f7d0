//! A client certificate made the way many user walkthroughs make one -- `openssl x509 -req`
//! without `-extfile`, i.e. an X.509 version 1 certificate -- authenticates with kubectl as
//! it does against kube-apiserver; the same kind of certificate from another CA gets 401.

use std::path::Path;
use std::process::Command;

use e2e::Cluster;
use e2e::Kubectl;

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `name.key` and a v1 `name.crt` for `subject`, signed by `ca.crt`/`ca.key` in `dir`.
fn v1_certificate(dir: &Path, ca: &str, name: &str, subject: &str) -> anyhow::Result<()> {
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    openssl(dir, &["genrsa", "-out", &key, "2048"])?;
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-out", &csr, "-subj", subject],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "1",
        ],
    )?;
    let text = openssl(dir, &["x509", "-in", &crt, "-noout", "-text"])?;
    anyhow::ensure!(
        text.contains("Version: 1 (0x0)"),
        "openssl did not make a v1 certificate:\n{text}"
    );
    Ok(())
}

fn kubectl_as(cluster: &Cluster, name: &str) -> anyhow::Result<Kubectl> {
    let dir = cluster.dir();
    let kubeconfig = cluster.certificate_kubeconfig(
        &format!("{name}.kubeconfig"),
        name,
        &dir.join(format!("{name}.crt")),
        &dir.join(format!("{name}.key")),
    )?;
    Ok(Kubectl::new(
        e2e::paths::kubectl()?,
        &kubeconfig,
        dir.join("home").join(format!("cache-{name}")),
    ))
}

#[test]
fn a_v1_client_certificate_from_the_client_ca_authenticates() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let dir = cluster.dir();
    std::fs::copy(dir.join("ca.pem"), dir.join("ca.crt"))?;
    std::fs::write(dir.join("ca.key"), cluster.ca.key_pem())?;

    v1_certificate(dir, "ca", "jean", "/CN=jean/O=dev")?;
    let jean = kubectl_as(&cluster, "jean")?;
    // Authenticated as jean (groups dev): RBAC answers, not the authenticator.
    let denied = jean.run(["get", "secrets", "-n", "kube-system"])?;
    anyhow::ensure!(
        !denied.success
            && denied
                .stderr
                .contains("User \"jean\" cannot list resource \"secrets\""),
        "expected jean to be forbidden, got {denied}"
    );
    let can_i = jean.run(["auth", "can-i", "create", "certificatesigningrequests"])?;
    anyhow::ensure!(can_i.stdout.trim() == "no", "jean: {can_i}");

    v1_certificate(dir, "ca", "root", "/CN=root/O=system:masters")?;
    let root = kubectl_as(&cluster, "root")?;
    let nodes = root.run(["get", "nodes"])?;
    anyhow::ensure!(
        nodes.success,
        "system:masters with a v1 certificate: {nodes}"
    );

    // Another CA's v1 certificate, even for system:masters: 401, as kube-apiserver answers.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-subj",
            "/CN=other-ca",
            "-days",
            "2",
        ],
    )?;
    v1_certificate(dir, "other", "mallory", "/CN=mallory/O=system:masters")?;
    let mallory = kubectl_as(&cluster, "mallory")?;
    let refused = mallory.run(["get", "--raw", "/api/v1/nodes"])?;
    anyhow::ensure!(
        !refused.success
            && refused.stderr.trim() == "error: You must be logged in to the server (Unauthorized)",
        "expected 401 for another CA's certificate, got {refused}"
    );
    Ok(())
}
