//! kill -9 in the middle of a bootstrap storm: after a restart every CSR is issued, and no CSR's
//! certificate ever changes once a watcher has seen it.

#[path = "controller_manager_common.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const COUNT: usize = 200;

#[test]
fn kill_9_during_a_burst_of_200_then_restart_issues_each_exactly_once() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    // No leader election: a restarted process would otherwise wait out the dead one's Lease.
    let mut cm = setup.start_cm_serving("cm-1.log", &["--leader-elect=false"])?;
    std::thread::sleep(Duration::from_millis(500));

    // A watcher from now on records every certificate it sees per CSR.
    let admin = setup.cluster.admin()?;
    let (_, list) = admin.get_json(CSR_PATH)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let watcher = {
        let admin = admin.clone();
        std::thread::spawn(move || {
            admin.watch(
                &format!("{CSR_PATH}?watch=true&resourceVersion={rv}"),
                Duration::from_secs(120),
                |events| {
                    let issued: std::collections::BTreeSet<&str> = events
                        .iter()
                        .filter(|e| e["object"]["status"]["certificate"].is_string())
                        .filter_map(|e| e["object"]["metadata"]["name"].as_str())
                        .collect();
                    issued.len() >= COUNT
                },
            )
        })
    };

    let bootstrap = setup.token_client()?;
    let manifests: Vec<_> = (0..COUNT)
        .map(|i| {
            csr_manifest(
                &format!("node-csr-{i:03}"),
                &format!("system:node:n{i:03}"),
                CLIENT,
                &["digital signature", "client auth"],
                &[],
            )
        })
        .collect::<Result<_, _>>()?;
    for (i, manifest) in manifests.iter().enumerate() {
        create(&bootstrap, manifest)?;
        if i == COUNT / 2 {
            cm.process.kill();
        }
    }
    let issued_before_restart = count_issued(&setup)?;
    anyhow::ensure!(
        issued_before_restart < COUNT,
        "all issued before the kill; nothing tested"
    );
    cm = setup.start_cm_serving("cm-2.log", &["--leader-elect=false"])?;

    let (status, events) = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("watch thread panicked"))??;
    anyhow::ensure!(status == 200, "watch status {status}");
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in &events {
        let object = &event["object"];
        if let (Some(name), Some(cert)) = (
            object["metadata"]["name"].as_str(),
            object["status"]["certificate"].as_str(),
        ) {
            let certs = seen.entry(name.to_string()).or_default();
            if !certs.iter().any(|c| c == cert) {
                certs.push(cert.to_string());
            }
        }
    }
    anyhow::ensure!(
        seen.len() == COUNT,
        "{} of {COUNT} issued (before restart: {issued_before_restart}); log:\n{}",
        seen.len(),
        cm.process.log_tail(3000)
    );
    for (name, certs) in &seen {
        anyhow::ensure!(
            certs.len() == 1,
            "{name} got {} different certificates",
            certs.len()
        );
    }
    // And what is stored is what was seen, approved exactly once.
    let (_, list) = admin.get_json(CSR_PATH)?;
    for csr in list["items"].as_array().into_iter().flatten() {
        let name = csr["metadata"]["name"].as_str().unwrap_or_default();
        let stored = csr["status"]["certificate"].as_str().unwrap_or_default();
        anyhow::ensure!(
            seen.get(name).is_some_and(|c| c[0] == stored),
            "{name} changed"
        );
        anyhow::ensure!(condition_types(csr) == ["Approved"], "{name}: {csr}");
    }
    Ok(())
}

fn count_issued(setup: &Setup) -> anyhow::Result<usize> {
    let (_, list) = setup.cluster.admin()?.get_json(CSR_PATH)?;
    Ok(list["items"]
        .as_array()
        .map(|items| items.iter().filter(|c| certificate_of(c).is_some()).count())
        .unwrap_or(0))
}
