//! Durability: after a clean restart and after `kill -9`, every object is still there and a
//! watch from the resourceVersion of a list taken before the restart resumes (or answers 410
//! Gone, after which a relist shows the change, as Kubernetes clients handle it).

use e2e::csr::node_manifest;
use e2e::{Cluster, Https, Stop};
use std::time::Duration;

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

fn create_csr(admin: &Https, name: &str) -> anyhow::Result<()> {
    let (status, body) = admin.send_json("POST", CSRS, &node_manifest(name, name)?)?;
    anyhow::ensure!(status == 201, "create {name}: {status} {body}");
    Ok(())
}

fn list_rv(admin: &Https) -> anyhow::Result<(Vec<String>, String)> {
    let (status, list) = admin.get_json(CSRS)?;
    anyhow::ensure!(status == 200, "list: {status} {list}");
    let names = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((names, rv))
}

fn survives(how: Stop) -> anyhow::Result<()> {
    let mut cluster = Cluster::start()?;
    let admin = cluster.admin()?;
    let kubectl = cluster.kubectl()?;
    create_csr(&admin, "before-1")?;
    create_csr(&admin, "before-2")?;
    kubectl.ok([
        "create",
        "clusterrolebinding",
        "kept-binding",
        "--clusterrole=view",
        "--user=someone",
    ])?;
    kubectl.ok(["certificate", "approve", "before-1"])?;
    let (names_before, rv_before) = list_rv(&admin)?;
    anyhow::ensure!(names_before.len() == 2, "{names_before:?}");

    cluster.restart(how)?;
    let admin = cluster.admin()?;

    let (names_after, _) = list_rv(&admin)?;
    anyhow::ensure!(
        names_after == names_before,
        "CSRs after restart: {names_after:?} (before: {names_before:?})"
    );
    let conditions = kubectl.ok([
        "get",
        "csr",
        "before-1",
        "-o",
        "jsonpath={.status.conditions[0].type}",
    ])?;
    anyhow::ensure!(conditions == "Approved", "approval lost: {conditions:?}");
    let binding = kubectl.ok([
        "get",
        "clusterrolebinding",
        "kept-binding",
        "-o",
        "jsonpath={.roleRef.name}",
    ])?;
    anyhow::ensure!(binding == "view", "binding lost: {binding:?}");
    // The seeded default policy is still there (and was not re-seeded over edits).
    kubectl.ok(["get", "clusterrole", "system:node-bootstrapper"])?;

    // A change after the restart, then a watch from the pre-restart list's resourceVersion.
    create_csr(&admin, "after-restart")?;
    let path = format!("{CSRS}?watch=true&resourceVersion={rv_before}");
    let (status, events) = admin.watch(&path, Duration::from_secs(10), |events| {
        events
            .iter()
            .any(|e| e["object"]["metadata"]["name"] == "after-restart")
    })?;
    let expired = status == 410
        || events
            .iter()
            .any(|e| e["type"] == "ERROR" && e["object"]["code"] == 410);
    if expired {
        // Kubernetes clients relist on 410; the relist must show the change.
        let (names, _) = list_rv(&admin)?;
        anyhow::ensure!(
            names.iter().any(|n| n == "after-restart"),
            "relist after 410: {names:?}"
        );
    } else {
        anyhow::ensure!(status == 200, "watch answered {status}: {events:?}");
        let added = events
            .iter()
            .find(|e| e["object"]["metadata"]["name"] == "after-restart")
            .ok_or_else(|| anyhow::anyhow!("no event for after-restart: {events:?}"))?;
        anyhow::ensure!(added["type"] == "ADDED", "event {added}");
        // Nothing from before the list's resourceVersion is replayed.
        anyhow::ensure!(
            !events
                .iter()
                .any(|e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "before-2"),
            "watch replayed old objects: {events:?}"
        );
    }
    Ok(())
}

#[test]
fn objects_and_watches_survive_a_clean_restart() -> anyhow::Result<()> {
    survives(Stop::Graceful)
}

#[test]
fn objects_and_watches_survive_kill_9() -> anyhow::Result<()> {
    survives(Stop::Kill)
}
