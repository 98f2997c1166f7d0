//! `clusterrole-aggregation`: the controller-manager (as system:kube-controller-manager, with
//! the default roles) fills `view`, `edit` and `admin` from the `system:aggregate-to-*` roles,
//! and takes in or drops any ClusterRole an operator labels or unlabels; a user bound to
//! `view` in a namespace then reads pods there but not secrets.

#[path = "controller_manager_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use e2e::wait;
use serde_json::Value;

const VIEW_LABEL: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// The `resources` of every rule of ClusterRole `name`.
fn resources(setup: &Setup, name: &str) -> anyhow::Result<Vec<String>> {
    let json: Value =
        serde_json::from_str(
            &setup
                .kubectl
                .ok(["get", "clusterrole", name, "-o", "json"])?,
        )?;
    Ok(json["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["resources"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect())
}

/// Waits until ClusterRole `name` does (or does not) grant something on `resource`.
fn wait_for(setup: &Setup, name: &str, resource: &str, present: bool) -> anyhow::Result<()> {
    wait::until(
        &format!(
            "clusterrole {name} to {}grant {resource}",
            if present { "" } else { "no longer " }
        ),
        Duration::from_secs(15),
        Duration::from_millis(100),
        || {
            let listed = resources(setup, name).map_err(|e| format!("{e:#}"))?;
            Ok((listed.iter().any(|r| r == resource) == present).then_some(()))
        },
    )
}

#[test]
fn aggregated_roles_follow_their_labelled_roles() -> anyhow::Result<()> {
    let setup = Setup::start(false)?;
    let cm = setup.start_cm("cm.log", &[])?;

    // The defaults: view from system:aggregate-to-view, and on up into edit and admin.
    wait_for(&setup, "view", "pods", true)?;
    wait_for(&setup, "edit", "secrets", true)?;
    wait_for(&setup, "admin", "rolebindings", true)?;
    let view = resources(&setup, "view")?;
    anyhow::ensure!(
        !view.iter().any(|r| r == "secrets"),
        "view grants secrets: {view:?}"
    );
    let admin = resources(&setup, "admin")?;
    anyhow::ensure!(
        admin.iter().any(|r| r == "pods/log"),
        "admin lacks view's rules: {admin:?}"
    );

    // An operator's role labelled for view joins view, edit and admin; unlabelled, it leaves.
    setup.kubectl.ok([
        "create",
        "clusterrole",
        "csr-reader",
        "--verb=get,list,watch",
        "--resource=certificatesigningrequests",
    ])?;
    setup.kubectl.ok([
        "label",
        "clusterrole",
        "csr-reader",
        &format!("{VIEW_LABEL}=true"),
    ])?;
    wait_for(&setup, "view", "certificatesigningrequests", true)?;
    wait_for(&setup, "admin", "certificatesigningrequests", true)?;
    setup.kubectl.ok([
        "label",
        "clusterrole",
        "csr-reader",
        &format!("{VIEW_LABEL}-"),
    ])?;
    wait_for(&setup, "view", "certificatesigningrequests", false)?;

    // An operator's own aggregated role.
    setup.kubectl.ok([
        "create",
        "clusterrole",
        "monitoring",
        "--aggregation-rule=example.com/aggregate-to-monitoring=true",
    ])?;
    setup.kubectl.ok([
        "create",
        "clusterrole",
        "lease-reader",
        "--verb=get",
        "--resource=leases",
    ])?;
    setup.kubectl.ok([
        "label",
        "clusterrole",
        "lease-reader",
        "example.com/aggregate-to-monitoring=true",
    ])?;
    wait_for(&setup, "monitoring", "leases", true)?;

    // view, bound in one namespace, reads pods there and not secrets.
    let dev_kubeconfig =
        setup
            .cluster
            .client_certificate_kubeconfig("dev", "dev", &["dev-team"])?;
    let dev = setup
        .kubectl
        .with_kubeconfig(&dev_kubeconfig, &setup.cluster.dir().join("home/cache-dev"));
    setup.kubectl.ok([
        "create",
        "rolebinding",
        "dev-view",
        "--clusterrole=view",
        "--user=dev",
    ])?;
    wait::until(
        "dev to read pods",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = dev
                .run(["auth", "can-i", "list", "pods"])
                .map_err(|e| format!("{e:#}"))?;
            Ok((out.stdout.trim() == "yes").then_some(()))
        },
    )?;
    let secrets = dev.run(["auth", "can-i", "get", "secrets"])?;
    anyhow::ensure!(
        secrets.stdout.trim() == "no",
        "dev reads secrets: {secrets}"
    );
    let pods = dev.run(["get", "pods"])?;
    anyhow::ensure!(
        pods.success && pods.stderr.contains("No resources found"),
        "dev get pods: {pods}"
    );
    anyhow::ensure!(
        cm.process
            .log_tail(20_000)
            .contains("aggregated ClusterRole updated"),
        "log:\n{}",
        cm.process.log_tail(4000)
    );
    Ok(())
}
