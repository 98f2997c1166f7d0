//! `kubectl describe node` and the pod commands an operator runs next, with the real kubectl
//! (default, oldest and newest installed minor): the node's pods and their requests, as real
//! Kubernetes prints them.

use std::path::Path;

use e2e::kubectl::table;
use e2e::{Cluster, paths};
use serde_json::json;

/// A registered node with 2 CPUs and 4 GiB, as a kubelet reports it.
fn node(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                      "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}})
}

/// The `Non-terminated Pods:` section of `kubectl describe node`, up to `Allocated resources:`.
fn pods_section(describe: &str) -> anyhow::Result<&str> {
    let start = describe
        .find("Non-terminated Pods:")
        .ok_or_else(|| anyhow::anyhow!("no pods section in:\n{describe}"))?;
    let end = describe[start..]
        .find("Allocated resources:")
        .map_or(describe.len(), |i| start + i);
    Ok(&describe[start..end])
}

fn describe_node_session(binary: &Path, full: bool) -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.admin_kubectl(binary);
    let node_file = cluster.write_manifest("node.json", &node("worker-1"))?;
    admin.ok(["create", "-f", &node_file])?;

    let empty = admin.ok(["describe", "node", "worker-1"])?;
    anyhow::ensure!(
        pods_section(&empty)?.contains("(0 in total)"),
        "describe node before any pod:\n{empty}"
    );

    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "image": "nginx:1.27",
                 "ports": [{"containerPort": 80}],
                 "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                               "limits": {"cpu": "500m", "memory": "128Mi"}}}]}});
    let pod_file = cluster.write_manifest("pod.json", &pod)?;
    let applied = admin.ok(["apply", "-f", &pod_file])?;
    anyhow::ensure!(applied.trim() == "pod/web created", "apply: {applied}");
    // Not bound anywhere: listed, but on no node.
    admin.ok(["run", "unbound", "--image=busybox", "--", "sleep", "3600"])?;

    let described = admin.ok(["describe", "node", "worker-1"])?;
    let section = pods_section(&described)?;
    anyhow::ensure!(section.contains("(1 in total)"), "{described}");
    let row: Vec<&str> = section
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("web"))
        .ok_or_else(|| anyhow::anyhow!("no row for web in:\n{section}"))?
        .split_whitespace()
        .collect();
    // Namespace, Name, CPU Requests (12% of 2), CPU Limits, Memory Requests, Memory Limits, Age.
    anyhow::ensure!(
        row[..10]
            == [
                "default", "web", "250m", "(12%)", "500m", "(25%)", "64Mi", "(1%)", "128Mi", "(3%)"
            ],
        "pod row: {row:?}\n{described}"
    );
    anyhow::ensure!(
        described.contains("cpu                250m (12%)  500m (25%)"),
        "allocated resources:\n{described}"
    );
    if !full {
        return Ok(());
    }

    let pods = admin.ok(["get", "pods", "-o", "wide"])?;
    let rows = table(&pods);
    anyhow::ensure!(
        rows.first().cloned().unwrap_or_default()
            == [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED",
                "NODE",
                "READINESS",
                "GATES"
            ],
        "get pods -o wide:\n{pods}"
    );
    let rows = &rows[1..];
    anyhow::ensure!(
        rows.iter()
            .any(|r| r[..3] == ["web", "0/1", "Pending"] && r[6] == "worker-1")
            && rows
                .iter()
                .any(|r| r[..3] == ["unbound", "0/1", "Pending"] && r[6] == "<none>"),
        "get pods -o wide:\n{pods}"
    );
    let on_node = admin.ok([
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=worker-1",
        "-o",
        "name",
    ])?;
    anyhow::ensure!(on_node.trim() == "pod/web", "field selector: {on_node}");

    let pod_text = admin.ok(["describe", "pod", "web"])?;
    for expected in [
        "Node:         worker-1/",
        "QoS Class:        Burstable",
        "Status:       Pending",
    ] {
        anyhow::ensure!(
            pod_text.contains(expected),
            "describe pod lacks {expected:?}:\n{pod_text}"
        );
    }

    // Images may change, the node may not.
    admin.ok(["set", "image", "pod/web", "web=nginx:1.28"])?;
    let image = admin.ok([
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.spec.containers[0].image} {.spec.containers[0].resources.limits.cpu}",
    ])?;
    anyhow::ensure!(image == "nginx:1.28 500m", "after set image: {image}");
    let moved = admin.run([
        "patch",
        "pod",
        "web",
        "-p",
        r#"{"spec":{"nodeName":"worker-2"}}"#,
    ])?;
    anyhow::ensure!(
        !moved.success
            && moved
                .stderr
                .contains("pod updates may not change fields other than"),
        "moving a pod: {moved}"
    );
    let invalid = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
                         "spec": {"containers": [{"name": "bad"}]}});
    let invalid_file = cluster.write_manifest("bad.json", &invalid)?;
    let refused = admin.run(["create", "-f", &invalid_file])?;
    anyhow::ensure!(
        !refused.success
            && refused
                .stderr
                .contains("spec.containers[0].image: Required value"),
        "pod without an image: {refused}"
    );

    // A finished pod leaves the node's list.
    admin.ok([
        "patch",
        "pod",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Succeeded"}}"#,
    ])?;
    let finished = admin.ok(["describe", "node", "worker-1"])?;
    anyhow::ensure!(
        pods_section(&finished)?.contains("(0 in total)"),
        "{finished}"
    );
    admin.ok(["delete", "pod", "web", "unbound"])?;
    let none = admin.run(["get", "pods"])?;
    anyhow::ensure!(
        none.stderr
            .contains("No resources found in default namespace."),
        "{none}"
    );
    Ok(())
}

fn run(binary: &Path, full: bool) {
    if let Err(e) = describe_node_session(binary, full) {
        panic!("pods session with {} failed: {e:#}", binary.display());
    }
}

#[test]
fn default_kubectl_describes_nodes_and_pods() {
    run(&paths::kubectl().expect("kubectl"), true);
}

#[test]
fn oldest_installed_kubectl_describes_nodes() {
    let [oldest, _] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run(&oldest, false);
}

#[test]
fn newest_installed_kubectl_describes_nodes() {
    let [_, newest] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run(&newest, false);
}
