//! Bad flags and unusable files: one clear line on stderr and a non-zero exit, before anything
//! else happens.

use std::process::Command;

fn run(args: &[&str]) -> anyhow::Result<(Option<i32>, String)> {
    let binary = e2e::paths::workspace_binary("controller-manager")?;
    let out = Command::new(binary).args(args).output()?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn assert_one_line(args: &[&str], expected: &str) -> anyhow::Result<()> {
    let (code, stderr) = run(args)?;
    anyhow::ensure!(
        code == Some(64),
        "{args:?}: exit {code:?}, stderr {stderr:?}"
    );
    anyhow::ensure!(
        stderr.lines().count() == 1,
        "{args:?}: not one line: {stderr:?}"
    );
    anyhow::ensure!(
        stderr.contains(expected),
        "{args:?}: {stderr:?} lacks {expected:?}"
    );
    Ok(())
}

#[test]
fn bad_flags_and_files_are_one_line_and_exit_64() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
    )?;
    let kc = format!("--kubeconfig={}", kubeconfig.display());
    assert_one_line(&[], "--kubeconfig is required")?;
    assert_one_line(
        &["--kubeconfig=/nonexistent/kubeconfig"],
        "/nonexistent/kubeconfig",
    )?;
    assert_one_line(&["--no-such-flag"], "--no-such-flag")?;
    assert_one_line(
        &[&kc, "--cluster-signing-duration=1y"],
        "time: unknown unit \"y\" in duration \"1y\"",
    )?;
    assert_one_line(&[&kc, "--leader-elect=maybe"], "maybe")?;
    assert_one_line(
        &[
            &kc,
            "--feature-gates=RotateKubeletServerCertificate=true,Nope=true",
        ],
        "unrecognized feature gate: Nope",
    )?;
    assert_one_line(
        &[&kc, "--controllers=*,csrfoo"],
        "\"csrfoo\" is not in the list of known controllers",
    )?;
    assert_one_line(
        &[
            &kc,
            "--cluster-signing-cert-file=a",
            "--cluster-signing-key-file=b",
            "--cluster-signing-kubelet-client-cert-file=c",
            "--cluster-signing-kubelet-client-key-file=d",
        ],
        "cannot specify default and per controller certs at the same time",
    )?;
    assert_one_line(
        &[
            &kc,
            "--cluster-signing-cert-file=/nonexistent/ca.pem",
            "--cluster-signing-key-file=/nonexistent/ca-key.pem",
        ],
        "/nonexistent/ca.pem",
    )?;
    assert_one_line(
        &[
            &kc,
            "--leader-elect-lease-duration=5s",
            "--leader-elect-renew-deadline=10s",
        ],
        "leaseDuration must be greater than renewDeadline",
    )?;
    assert_one_line(
        &[
            &kc,
            "--tls-cert-file=/nonexistent/tls.pem",
            "--tls-private-key-file=/nonexistent/tls-key.pem",
        ],
        "/nonexistent/tls.pem",
    )?;
    Ok(())
}
