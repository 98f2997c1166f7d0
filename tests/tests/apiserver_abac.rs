//! ABAC among the authorization modes, as seed 003 runs kube-apiserver:
//! `--authorization-mode=Node,ABAC,RBAC --authorization-policy-file=<file>`.
//!
//! The cluster's PKI serves a second apiserver started with those flags, its own token file
//! and data. Through the real kubectl: a token user the policy file allows read-only can list
//! CSRs but not delete one (403 with upstream's "No policy matched."), `auth can-i --list`
//! shows the policy's rule, and a group policy opens a path; a user the file does not mention
//! is still authorized by RBAC bindings. A bad policy file, or the two flags apart, stop the server at start-up with one
//! line naming the problem.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use e2e::cluster::{random_hex, wait_until_ready};
use e2e::https::Identity;
use e2e::process::ChildGuard;
use e2e::{Cluster, Https, Kubectl, csr, paths, wait};

const READER: &str = "csr-reader";
const DELETER: &str = "csr-deleter";
const STRANGER: &str = "stranger";
const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// The reader may read CSRs, and the `readers` group `/metrics` (which RBAC grants nobody here).
const POLICY: &str = r#"# Seed 003's layout: Node first, ABAC for the people named here, RBAC for the rest.

{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"user": "csr-reader", "readonly": true, "apiGroup": "certificates.k8s.io", "resource": "certificatesigningrequests", "namespace": "*"}}
{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy", "spec": {"group": "readers", "readonly": true, "nonResourcePath": "/metrics"}}
"#;

/// The flags every apiserver of this file gets, on the cluster's certificates.
fn base_args(cluster: &Cluster, port: u16, data: &Path, tokens: &Path) -> Vec<String> {
    let file = |name: &str| cluster.dir().join(name).display().to_string();
    vec![
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", file("apiserver.pem")),
        format!("--tls-private-key-file={}", file("apiserver-key.pem")),
        format!("--client-ca-file={}", file("ca.pem")),
        format!("--token-auth-file={}", tokens.display()),
        format!("--data-dir={}", data.display()),
    ]
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Starts the apiserver with `args`, waits until `/readyz` answers 200; retries on another
/// port when the one picked was taken in between.
fn start_abac_apiserver(
    cluster: &Cluster,
    args: impl Fn(u16) -> Vec<String>,
) -> anyhow::Result<(ChildGuard, u16)> {
    let binary = paths::workspace_binary("apiserver")?;
    let mut last = None;
    for attempt in 0..3 {
        let port = e2e::free_loopback_port()?;
        let mut command = Command::new(&binary);
        command.args(args(port));
        let log = cluster.dir().join(format!("abac-apiserver-{attempt}.log"));
        let mut server = ChildGuard::spawn(command, &log)?;
        let admin = Https::new(port, &cluster.ca_pem, cluster.admin_identity())?;
        match wait_until_ready(&mut server, &admin) {
            Ok(()) => return Ok((server, port)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("apiserver did not start")))
}

/// A kubeconfig for `user` with `token`, pointed at the ABAC apiserver.
fn kubectl_for(cluster: &Cluster, port: u16, user: &str, token: &str) -> anyhow::Result<Kubectl> {
    let file = cluster.token_kubeconfig(&format!("abac-{user}.kubeconfig"), user, token)?;
    repoint(cluster, &file, port, user)
}

/// `kubectl config set-cluster` to the ABAC apiserver's port, and a kubectl using the file.
fn repoint(cluster: &Cluster, file: &Path, port: u16, who: &str) -> anyhow::Result<Kubectl> {
    let home = cluster.dir().join("home");
    let kubectl = Kubectl::new(
        paths::kubectl()?,
        file,
        home.join(format!("cache-abac-{who}")),
    );
    kubectl.ok([
        "config",
        "set-cluster",
        "e2e",
        &format!("--server=https://127.0.0.1:{port}"),
    ])?;
    Ok(kubectl)
}

fn can_i(kubectl: &Kubectl, verb: &str) -> anyhow::Result<String> {
    let out = kubectl.run(["auth", "can-i", verb, "certificatesigningrequests"])?;
    Ok(out.stdout.trim().to_string())
}

#[test]
fn abac_allows_what_its_file_says_and_leaves_the_rest_to_rbac() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let dir = cluster.dir();
    let (reader_token, deleter_token, stranger_token) =
        (random_hex(16)?, random_hex(16)?, random_hex(16)?);
    let tokens = dir.join("abac-tokens.csv");
    write(
        &tokens,
        &format!(
            "{reader_token},{READER},20001,\"readers\"\n\
             {deleter_token},{DELETER},20002\n\
             {stranger_token},{STRANGER},20003\n"
        ),
    )?;
    let policy = dir.join("abac-policy.jsonl");
    write(&policy, POLICY)?;
    let data = dir.join("abac-data");
    let (mut server, port) = start_abac_apiserver(&cluster, |port| {
        let mut args = base_args(&cluster, port, &data, &tokens);
        args.push("--authorization-mode=Node,ABAC,RBAC".to_string());
        args.push(format!("--authorization-policy-file={}", policy.display()));
        args
    })?;

    // A CSR to read and to delete, created by the admin (system:masters).
    let admin_https = Https::new(port, &cluster.ca_pem, cluster.admin_identity())?;
    let (status, body) =
        admin_https.send_json("POST", CSRS, &csr::node_manifest("abac-csr", "n1")?)?;
    anyhow::ensure!(status == 201, "create CSR: {status} {body}");

    // The reader: ABAC allows reading, and nothing else allows more.
    let reader = kubectl_for(&cluster, port, READER, &reader_token)?;
    let answer = can_i(&reader, "list")?;
    anyhow::ensure!(answer == "yes", "reader list: {answer}");
    // kubectl shows the chain's reason, as for kube-apiserver.
    let answer = can_i(&reader, "delete")?;
    anyhow::ensure!(
        answer == "no - No policy matched.",
        "reader delete: {answer}"
    );
    let listed = reader.ok(["get", "csr", "-o", "name"])?;
    anyhow::ensure!(
        listed.trim() == "certificatesigningrequest.certificates.k8s.io/abac-csr",
        "{listed}"
    );
    let delete = reader.run(["delete", "csr", "abac-csr"])?;
    anyhow::ensure!(
        !delete.success
            && delete.stderr.contains(
                "Error from server (Forbidden): certificatesigningrequests.certificates.k8s.io \
                 \"abac-csr\" is forbidden: User \"csr-reader\" cannot delete resource \
                 \"certificatesigningrequests\" in API group \"certificates.k8s.io\" at the \
                 cluster scope: No policy matched."
            ),
        "{delete}"
    );
    // The same refusal on the wire: a 403 Status.
    let raw = Https::new(port, &cluster.ca_pem, Identity::Token(reader_token.clone()))?.request(
        "DELETE",
        &format!("{CSRS}/abac-csr"),
        None,
        b"",
    )?;
    let status = raw.json()?;
    anyhow::ensure!(
        raw.status == 403
            && status["kind"] == "Status"
            && status["reason"] == "Forbidden"
            && status["code"] == 403
            && status["details"]["name"] == "abac-csr"
            && status["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(": No policy matched.")),
        "HTTP {}: {status}",
        raw.status
    );
    // Its rules, as ABAC lists them (SelfSubjectRulesReview).
    let rules = reader.ok(["auth", "can-i", "--list"])?;
    anyhow::ensure!(
        rules.lines().any(|line| {
            line.starts_with("certificatesigningrequests.certificates.k8s.io ")
                && line.trim_end().ends_with("[get list watch]")
        }),
        "{rules}"
    );
    // A path policy for its group.
    let metrics = reader.ok(["get", "--raw", "/metrics"])?;
    anyhow::ensure!(metrics.contains("# TYPE "), "{metrics}");

    // The deleter is not in the policy file: RBAC alone decides, once bound.
    let deleter = kubectl_for(&cluster, port, DELETER, &deleter_token)?;
    let answer = can_i(&deleter, "delete")?;
    anyhow::ensure!(
        answer == "no - No policy matched.",
        "deleter before binding: {answer}"
    );
    let admin = repoint(
        &cluster,
        &{
            let copy = dir.join("abac-admin.kubeconfig");
            std::fs::copy(&cluster.admin_kubeconfig, &copy)?;
            copy
        },
        port,
        "admin",
    )?;
    admin.ok([
        "create",
        "clusterrole",
        "csr-deleter",
        "--verb=get,list,delete",
        "--resource=certificatesigningrequests.certificates.k8s.io",
    ])?;
    admin.ok([
        "create",
        "clusterrolebinding",
        "csr-deleter",
        "--clusterrole=csr-deleter",
        &format!("--user={DELETER}"),
    ])?;
    wait::until(
        "RBAC to let the deleter delete CSRs",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || match can_i(&deleter, "delete") {
            Ok(answer) if answer == "yes" => Ok(Some(())),
            Ok(answer) => Err(answer),
            Err(e) => Err(format!("{e:#}")),
        },
    )?;
    let deleted = deleter.ok(["delete", "csr", "abac-csr"])?;
    anyhow::ensure!(
        deleted.trim() == "certificatesigningrequest.certificates.k8s.io \"abac-csr\" deleted",
        "{deleted}"
    );
    // The reader's ABAC read sees it gone.
    let listed = reader.run(["get", "csr", "abac-csr"])?;
    anyhow::ensure!(
        !listed.success && listed.stderr.contains("NotFound"),
        "{listed}"
    );

    // A user neither mentions is refused, with every mode's reason.
    let stranger = kubectl_for(&cluster, port, STRANGER, &stranger_token)?;
    let get = stranger.run(["get", "csr"])?;
    anyhow::ensure!(
        !get.success
            && get.stderr.contains(
                "User \"stranger\" cannot list resource \"certificatesigningrequests\" in API \
                 group \"certificates.k8s.io\" at the cluster scope: No policy matched."
            ),
        "{get}"
    );
    let raw = Https::new(
        port,
        &cluster.ca_pem,
        Identity::Token(stranger_token.clone()),
    )?
    .request("GET", "/metrics", None, b"")?;
    let status = raw.json()?;
    anyhow::ensure!(
        raw.status == 403
            && status["message"]
                == "forbidden: User \"stranger\" cannot get path \"/metrics\": No policy matched.",
        "HTTP {}: {status}",
        raw.status
    );
    anyhow::ensure!(
        server.exited().is_none(),
        "the server stopped: {}",
        server.log_tail(4000)
    );
    Ok(())
}

/// Runs the apiserver expecting a start-up failure; returns its whole output.
fn start_up_failure(cluster: &Cluster, name: &str, args: Vec<String>) -> anyhow::Result<String> {
    let mut command = Command::new(paths::workspace_binary("apiserver")?);
    command.args(args);
    let log = cluster.dir().join(format!("{name}.log"));
    let mut server = ChildGuard::spawn(command, &log)?;
    let status = wait::until(
        &format!("the apiserver to refuse to start ({name})"),
        Duration::from_secs(20),
        Duration::from_millis(25),
        || Ok(server.exited()),
    )?;
    let output = server.log_tail(4000);
    // EXIT_USAGE, as for every bad flag value.
    anyhow::ensure!(
        status.code() == Some(64),
        "{name}: {status}; output:\n{output}"
    );
    anyhow::ensure!(
        output.lines().count() == 1 && output.ends_with('\n'),
        "{name}: not one line:\n{output}"
    );
    Ok(output.trim_end().to_string())
}

#[test]
fn bad_policy_files_stop_the_apiserver_with_one_line() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let dir = cluster.dir();
    let tokens = dir.join("token.csv");
    let data = dir.join("abac-data");
    let port = e2e::free_loopback_port()?;
    let with = |extra: &[String]| {
        let mut args = base_args(&cluster, port, &data, &tokens);
        args.extend_from_slice(extra);
        args
    };
    let abac = "--authorization-mode=Node,ABAC,RBAC".to_string();
    let policy_flag = |path: &PathBuf| format!("--authorization-policy-file={}", path.display());

    let bad = dir.join("bad-policy.jsonl");
    write(
        &bad,
        concat!(
            "# the third line lost its closing brace\n",
            r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"a","readonly":true}}"#,
            "\n",
            r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"b"}"#,
            "\n",
        ),
    )?;
    let line = start_up_failure(
        &cluster,
        "bad-line",
        with(&[abac.clone(), policy_flag(&bad)]),
    )?;
    let expected = format!(
        "apiserver: error reading policy file {}, line 3: {}: EOF while parsing an object",
        bad.display(),
        r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"b"}"#,
    );
    anyhow::ensure!(line.starts_with(&expected), "{line}\nwanted {expected}");

    let unknown = dir.join("unknown-version.jsonl");
    write(
        &unknown,
        "{\"apiVersion\":\"abac.authorization.kubernetes.io/v1\",\"kind\":\"Policy\",\"spec\":{\"user\":\"a\"}}\n",
    )?;
    let line = start_up_failure(
        &cluster,
        "unknown-version",
        with(&[abac.clone(), policy_flag(&unknown)]),
    )?;
    anyhow::ensure!(
        line.starts_with(&format!(
            "apiserver: error reading policy file {}, line 1: ",
            unknown.display()
        )) && line.contains("unknown apiVersion \"abac.authorization.kubernetes.io/v1\""),
        "{line}"
    );

    let missing = dir.join("no-such-policy.jsonl");
    let line = start_up_failure(
        &cluster,
        "missing",
        with(&[abac.clone(), policy_flag(&missing)]),
    )?;
    anyhow::ensure!(
        line == format!(
            "apiserver: error reading policy file {}: No such file or directory (os error 2)",
            missing.display()
        ),
        "{line}"
    );

    let line = start_up_failure(&cluster, "no-file", with(&[abac]))?;
    anyhow::ensure!(
        line == "apiserver: authorization-mode ABAC's authorization policy file not passed",
        "{line}"
    );
    let line = start_up_failure(
        &cluster,
        "no-abac",
        with(&[
            "--authorization-mode=Node,RBAC".to_string(),
            policy_flag(&bad),
        ]),
    )?;
    anyhow::ensure!(
        line == "apiserver: cannot specify --authorization-policy-file without mode ABAC",
        "{line}"
    );
    Ok(())
}
