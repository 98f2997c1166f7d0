//! Issue 4 acceptance: the real kubectl (default, oldest and newest installed minor) drives the
//! real apiserver through the seeds' commands and prints what real Kubernetes prints.

use std::path::Path;
use std::time::Duration;

use e2e::csr::node_manifest;
use e2e::kubectl::table;
use e2e::{Cluster, paths, wait};

/// Columns `kubectl get csr` prints from the server's Table.
const CSR_HEADER: [&str; 6] = [
    "NAME",
    "AGE",
    "SIGNERNAME",
    "REQUESTOR",
    "REQUESTEDDURATION",
    "CONDITION",
];

/// The row of `name` in `kubectl get csr` output, split on whitespace.
fn csr_row(output: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let rows = table(output);
    anyhow::ensure!(
        rows.first().is_some_and(|header| *header == CSR_HEADER),
        "unexpected header in:\n{output}"
    );
    rows.iter()
        .skip(1)
        .find(|cells| cells.first() == Some(&name))
        .map(|cells| cells.iter().map(|c| c.to_string()).collect())
        .ok_or_else(|| anyhow::anyhow!("no row for {name} in:\n{output}"))
}

/// The whole seed-003 session with one kubectl binary.
fn kubectl_session(binary: &Path) -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.admin_kubectl(binary);
    let bootstrap = cluster.bootstrap_kubectl(binary);

    // Before any binding the static-token bootstrap user may not create CSRs.
    let denied = bootstrap.run(["auth", "can-i", "create", "certificatesigningrequests"])?;
    anyhow::ensure!(
        !denied.success && denied.stdout.trim() == "no",
        "can-i before binding: {denied}"
    );

    // The four bindings of seed 003, each printing what kubectl prints against real Kubernetes.
    let bindings = [
        [
            "kubelet-bootstrap",
            "--clusterrole=system:node-bootstrapper",
            "--user=kubelet-bootstrap",
        ],
        [
            "node-client-auto-approve-csr",
            "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "--group=system:node-bootstrapper",
        ],
        [
            "node-client-auto-renew-crt",
            "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            "--group=system:nodes",
        ],
        [
            "cluster-admin-users",
            "--clusterrole=cluster-admin",
            "--user=admin",
        ],
    ];
    for [name, role, subject] in bindings {
        let out = admin.ok(["create", "clusterrolebinding", name, role, subject])?;
        anyhow::ensure!(
            out == format!("clusterrolebinding.rbac.authorization.k8s.io/{name} created\n"),
            "create clusterrolebinding {name} printed {out:?}"
        );
    }
    let again = admin.run([
        "create",
        "clusterrolebinding",
        "kubelet-bootstrap",
        "--clusterrole=x",
        "--user=y",
    ])?;
    anyhow::ensure!(
        !again.success
            && again.stderr.trim()
                == "error: failed to create clusterrolebinding: clusterrolebindings.rbac.authorization.k8s.io \"kubelet-bootstrap\" already exists",
        "duplicate binding: {again}"
    );

    // RBAC follows the new binding (through the server's watch-fed cache).
    wait::until(
        "bootstrap user allowed to create CSRs",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = bootstrap
                .run(["auth", "can-i", "create", "certificatesigningrequests"])
                .map_err(|e| e.to_string())?;
            if out.success && out.stdout == "yes\n" {
                Ok(Some(()))
            } else {
                Err(out.to_string())
            }
        },
    )?;
    let secrets = bootstrap.run(["auth", "can-i", "list", "secrets"])?;
    anyhow::ensure!(
        !secrets.success && secrets.stdout == "no\n",
        "can-i list secrets: {secrets}"
    );

    // No CSRs yet.
    let empty = admin.run(["get", "csr"])?;
    anyhow::ensure!(
        empty.success && empty.stdout.is_empty(),
        "empty get csr: {empty}"
    );
    anyhow::ensure!(
        empty.stderr.trim() == "No resources found",
        "empty get csr: {empty}"
    );

    // The bootstrap user creates a CSR (protobuf body from kubectl). `--validate=false`: the server
    // serves no OpenAPI documents, which kubectl's client-side schema validation would download.
    let first = cluster.write_manifest(
        "csr-first.json",
        &node_manifest("node-csr-first", "worker-1")?,
    )?;
    let out = bootstrap.ok(["create", "--validate=false", "-f", &first])?;
    anyhow::ensure!(
        out == "certificatesigningrequest.certificates.k8s.io/node-csr-first created\n",
        "create printed {out:?}"
    );

    let listed = admin.ok(["get", "csr"])?;
    let row = csr_row(&listed, "node-csr-first")?;
    anyhow::ensure!(
        row[2..]
            == [
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubelet-bootstrap",
                "<none>",
                "Pending"
            ],
        "row {row:?} in:\n{listed}"
    );
    anyhow::ensure!(
        row[1].ends_with('s'),
        "AGE of a new CSR is in seconds: {row:?}"
    );

    let yaml = admin.ok(["get", "csr", "node-csr-first", "-o", "yaml"])?;
    for expected in [
        "apiVersion: certificates.k8s.io/v1",
        "kind: CertificateSigningRequest",
        "  name: node-csr-first",
        "  signerName: kubernetes.io/kube-apiserver-client-kubelet",
        "  username: kubelet-bootstrap",
        "  uid: \"10001\"",
        "  - system:node-bootstrapper",
        "  - system:authenticated",
        "  - digital signature",
        "  - client auth",
        "status: {}",
    ] {
        anyhow::ensure!(
            yaml.lines().any(|l| l == expected),
            "no line {expected:?} in:\n{yaml}"
        );
    }

    // `get csr -w` prints the existing row, then a CSR created afterwards.
    let mut watch = admin.spawn_lines(["get", "csr", "-w"], cluster.dir())?;
    watch.wait_for("the existing CSR", Duration::from_secs(20), |l| {
        l.starts_with("node-csr-first ")
    })?;
    let second = cluster.write_manifest(
        "csr-second.json",
        &node_manifest("node-csr-second", "worker-2")?,
    )?;
    bootstrap.ok(["create", "--validate=false", "-f", &second])?;
    let line = watch.wait_for("the new CSR", Duration::from_secs(20), |l| {
        l.starts_with("node-csr-second ")
    })?;
    anyhow::ensure!(line.ends_with("Pending"), "watch line {line:?}");
    drop(watch);

    let described = admin.ok(["describe", "csr", "node-csr-first"])?;
    for (label, value) in [
        ("Name:", "node-csr-first"),
        ("Requesting User:", "kubelet-bootstrap"),
        ("Signer:", "kubernetes.io/kube-apiserver-client-kubelet"),
        ("Status:", "Pending"),
        ("Common Name:", "system:node:worker-1"),
        ("Organization:", "system:nodes"),
        ("Events:", "<none>"),
    ] {
        anyhow::ensure!(
            described.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(label) && l[label.len()..].trim() == value
            }),
            "describe lacks {label} {value}:\n{described}"
        );
    }

    // Approve one, deny the other (kubectl PUTs /approval with a protobuf body).
    let out = admin.ok(["certificate", "approve", "node-csr-first"])?;
    anyhow::ensure!(
        out == "certificatesigningrequest.certificates.k8s.io/node-csr-first approved\n",
        "{out:?}"
    );
    let out = admin.ok(["certificate", "deny", "node-csr-second"])?;
    anyhow::ensure!(
        out == "certificatesigningrequest.certificates.k8s.io/node-csr-second denied\n",
        "{out:?}"
    );
    let listed = admin.ok(["get", "csr"])?;
    anyhow::ensure!(
        csr_row(&listed, "node-csr-first")?[5] == "Approved",
        "{listed}"
    );
    anyhow::ensure!(
        csr_row(&listed, "node-csr-second")?[5] == "Denied",
        "{listed}"
    );
    let conflict = admin.run(["certificate", "approve", "node-csr-second"])?;
    anyhow::ensure!(
        !conflict.success
            && conflict.stderr.trim()
                == "error: certificate signing request \"node-csr-second\" is already Denied",
        "approving a denied CSR: {conflict}"
    );
    let approved = admin.ok([
        "get",
        "csr",
        "node-csr-first",
        "-o",
        "jsonpath={.status.conditions[0].reason}",
    ])?;
    anyhow::ensure!(
        approved == "KubectlApprove",
        "condition reason {approved:?}"
    );

    // The bootstrap user may not approve its own request.
    let self_approve = bootstrap.run(["certificate", "approve", "node-csr-second", "--force"])?;
    anyhow::ensure!(
        !self_approve.success,
        "bootstrap user approved a CSR: {self_approve}"
    );

    let out = admin.ok(["delete", "csr", "node-csr-second"])?;
    anyhow::ensure!(
        out == "certificatesigningrequest.certificates.k8s.io \"node-csr-second\" deleted\n",
        "delete printed {out:?}"
    );
    let gone = admin.run(["get", "csr", "node-csr-second"])?;
    anyhow::ensure!(
        gone.stderr.trim()
            == "Error from server (NotFound): certificatesigningrequests.certificates.k8s.io \"node-csr-second\" not found",
        "get deleted CSR: {gone}"
    );

    // Nodes: none yet, then one with the real columns.
    let nodes = admin.run(["get", "nodes"])?;
    anyhow::ensure!(
        nodes.success && nodes.stderr.trim() == "No resources found",
        "get nodes: {nodes}"
    );
    let node =
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}});
    let node_file = cluster.write_manifest("node.json", &node)?;
    admin.ok(["create", "--validate=false", "-f", &node_file])?;
    let nodes = admin.ok(["get", "nodes"])?;
    let rows = table(&nodes);
    anyhow::ensure!(
        rows.first()
            .is_some_and(|h| *h == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]),
        "get nodes:\n{nodes}"
    );
    anyhow::ensure!(
        rows.get(1).and_then(|r| r.first()) == Some(&"worker-1"),
        "get nodes:\n{nodes}"
    );
    Ok(())
}

fn run_session(binary: &Path) {
    if let Err(e) = kubectl_session(binary) {
        panic!("kubectl session with {} failed: {e:#}", binary.display());
    }
}

#[test]
fn default_kubectl_drives_the_apiserver() {
    run_session(&paths::kubectl().expect("kubectl"));
}

#[test]
fn oldest_installed_kubectl_drives_the_apiserver() {
    let [oldest, _] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run_session(&oldest);
}

#[test]
fn newest_installed_kubectl_drives_the_apiserver() {
    let [_, newest] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run_session(&newest);
}
