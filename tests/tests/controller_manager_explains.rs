//! "Why is my CSR stuck?": the controller-manager puts one event on each CSR it leaves
//! waiting, and `kubectl describe csr` shows it. A requester RBAC does not let be
//! auto-approved, a node's serving CSR without the selfnodeserver opt-in and an approved CSR
//! for a signer without a CA each get theirs; a CSR that is approved and issued gets none.

#[path = "controller_manager_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use e2e::wait;
use serde_json::Value;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const SERVING: &str = "kubernetes.io/kubelet-serving";
/// A name as the kubelet makes them (upper case and `_` from base64url), not a DNS name.
const NODE_A: &str = "node-csr-Ab_C9xY";

/// The events about CSR `name` (in `default`, as kubectl describe looks for them).
fn events_of(setup: &Setup, name: &str) -> anyhow::Result<Vec<Value>> {
    let (status, list) = setup.cluster.admin()?.get_json(&format!(
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind=CertificateSigningRequest,involvedObject.name={name}"
    ))?;
    anyhow::ensure!(status == 200, "list events: {status} {list}");
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn wait_for_reason(setup: &Setup, name: &str, reason: &str) -> anyhow::Result<Value> {
    wait::until(
        &format!("a {reason} event on {name}"),
        Duration::from_secs(15),
        Duration::from_millis(100),
        || {
            let events = events_of(setup, name).map_err(|e| format!("{e:#}"))?;
            Ok(events.into_iter().find(|e| e["reason"] == reason))
        },
    )
}

/// Waits until `older` is Failed, `Superseded` by `newer` (decision 0028).
fn wait_superseded(setup: &Setup, older: &str, newer: &str) -> anyhow::Result<()> {
    let failed = wait::until(
        &format!("{older} to fail as superseded"),
        Duration::from_secs(15),
        Duration::from_millis(100),
        || {
            let csr = setup.get_csr(older).map_err(|e| format!("{e:#}"))?;
            Ok(csr["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Failed").cloned()))
        },
    )?;
    anyhow::ensure!(
        failed["reason"] == "Superseded"
            && failed["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("Superseded by csr {newer}: "))),
        "{failed}"
    );
    Ok(())
}

#[test]
fn stuck_csrs_say_why_in_kubectl_describe() -> anyhow::Result<()> {
    // No nodeclient binding: bootstrap-token requests are not auto-approved.
    let setup = Setup::start(false)?;
    // A CA for the kubelet client signer only.
    let port = e2e::free_loopback_port()?;
    let args: Vec<String> = setup
        .args(port, &["--leader-elect=false"])
        .into_iter()
        .filter(|a| !a.starts_with("--cluster-signing-"))
        .chain([
            format!(
                "--cluster-signing-kubelet-client-cert-file={}",
                setup.ca_cert.display()
            ),
            format!(
                "--cluster-signing-kubelet-client-key-file={}",
                setup.ca_key.display()
            ),
        ])
        .collect();
    let _cm = e2e::spawn_controller_manager(&setup.cluster, "cm.log", &args)?;
    let bootstrap = setup.token_client()?;

    // 1. A new node's request, its requester not allowed by RBAC.
    create(
        &bootstrap,
        &csr_manifest(
            NODE_A,
            "system:node:a",
            CLIENT,
            &["digital signature", "client auth"],
            &[],
        )?,
    )?;
    let event = wait_for_reason(&setup, NODE_A, "NotAutoApproved")?;
    anyhow::ensure!(event["type"] == "Normal", "{event}");
    anyhow::ensure!(event["source"]["component"] == "csrapproving", "{event}");
    anyhow::ensure!(
        event["reportingComponent"] == "kube-controller-manager",
        "{event}"
    );
    let described = setup.kubectl.ok(["describe", "csr", NODE_A])?;
    for needle in [
        "NotAutoApproved",
        "system:bootstrap:abcdef",
        "may not create certificatesigningrequests/nodeclient",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        &format!("kubectl certificate approve {NODE_A}"),
    ] {
        anyhow::ensure!(
            described.contains(needle),
            "describe lacks {needle:?}:\n{described}"
        );
    }

    // 2. A node's own serving request, the selfnodeserver opt-in not granted: it says which
    //    permission would do it.
    let node = setup.node_client("b")?;
    create(
        &node,
        &csr_manifest(
            "serving-b",
            "system:node:b",
            SERVING,
            &["digital signature", "server auth"],
            &["b"],
        )?,
    )?;
    let event = wait_for_reason(&setup, "serving-b", "NotAutoApproved")?;
    anyhow::ensure!(
        event["message"].as_str().is_some_and(|m| m.contains(
            "system:node:b (groups [\"system:nodes\", \"system:authenticated\"]) may not create certificatesigningrequests/selfnodeserver"
        )),
        "{event}"
    );

    // 3. Approved by hand, but no CA for the serving signer: a warning naming the flags.
    setup.kubectl.ok(["certificate", "approve", "serving-b"])?;
    let event = wait_for_reason(&setup, "serving-b", "SignerNotConfigured")?;
    anyhow::ensure!(event["type"] == "Warning", "{event}");
    anyhow::ensure!(event["source"]["component"] == "csrsigning", "{event}");
    let described = setup.kubectl.ok(["describe", "csr", "serving-b"])?;
    anyhow::ensure!(
        described.contains("SignerNotConfigured")
            && described.contains("--cluster-signing-kubelet-serving-cert-file"),
        "{described}"
    );

    // 4. Approved by hand for the signer that has a CA: issued, and no new event.
    setup.kubectl.ok(["certificate", "approve", NODE_A])?;
    setup.wait_issued(NODE_A, Duration::from_secs(10))?;

    // Each cause was said once, though the approver looked again after each change.
    std::thread::sleep(Duration::from_secs(1));
    let reasons = |name: &str| -> anyhow::Result<Vec<String>> {
        let mut reasons: Vec<String> = events_of(&setup, name)?
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect();
        reasons.sort();
        Ok(reasons)
    };
    anyhow::ensure!(reasons(NODE_A)? == ["NotAutoApproved"]);
    anyhow::ensure!(reasons("serving-b")? == ["NotAutoApproved", "SignerNotConfigured"]);
    Ok(())
}

#[test]
fn an_auto_approved_and_issued_csr_gets_no_event() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let _cm = setup.start_cm("cm.log", &[])?;
    create(
        &setup.token_client()?,
        &csr_manifest(
            "node-csr-quiet",
            "system:node:quiet",
            CLIENT,
            &["digital signature", "client auth"],
            &[],
        )?,
    )?;
    setup.wait_issued("node-csr-quiet", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(500));
    let events = events_of(&setup, "node-csr-quiet")?;
    anyhow::ensure!(events.is_empty(), "{events:?}");
    Ok(())
}

/// Decision 0028, two requests in the same second whose names sort against their order: the
/// older one (by time, then name) is superseded whichever the approver looks at first. Here
/// the first is looked at before the second exists, so only the look from the older side,
/// when the second arrives, finds the pair.
#[test]
fn two_requests_in_one_second_leave_one_open() -> anyhow::Result<()> {
    let setup = Setup::start(false)?;
    // Without the serving recognizer a serving request is left to a person at the first look,
    // with no retry that would look again.
    let _cm = setup.start_cm(
        "cm-dedup-race.log",
        &["--feature-gates=RotateKubeletServerCertificate=false"],
    )?;
    for attempt in 0..10 {
        let node_name = format!("r{attempt}");
        let node = setup.node_client(&node_name)?;
        let serving = |name: &str| {
            csr_manifest(
                name,
                &format!("system:node:{node_name}"),
                SERVING,
                &["digital signature", "server auth"],
                &[&node_name],
            )
        };
        let (first, second) = (
            format!("serving-{node_name}-z"),
            format!("serving-{node_name}-a"),
        );
        let made_first = create(&node, &serving(&first)?)?;
        // The approver has looked at the first one and left it to a person (its event) ...
        wait::until(
            "the approver to look at the first request",
            Duration::from_secs(15),
            Duration::from_millis(10),
            || {
                let events = events_of(&setup, &first).map_err(|e| format!("{e:#}"))?;
                Ok((!events.is_empty()).then_some(()))
            },
        )?;
        // ... before the second one is made, in the same second.
        let made_second = create(&node, &serving(&second)?)?;
        let created = |csr: &Value| csr["metadata"]["creationTimestamp"].clone();
        if created(&made_first) != created(&made_second) {
            continue; // a second boundary fell between them: not the case under test
        }
        // Same second: the name decides, so the second one made is the older one.
        wait_superseded(&setup, &second, &first)?;
        let open = setup.get_csr(&first)?;
        anyhow::ensure!(open["status"]["conditions"].is_null(), "{open}");
        return Ok(());
    }
    anyhow::bail!("ten pairs of requests each straddled a second boundary")
}

/// Decision 0028: a node's newer request supersedes its older Pending one for the same signer
/// (kubelets ask again every 15 minutes, so unanswered requests piled up); a bootstrap token's
/// requests are left alone.
#[test]
fn a_node_s_newer_request_supersedes_its_older_pending_one() -> anyhow::Result<()> {
    let setup = Setup::start(false)?;
    let _cm = setup.start_cm("cm-dedup.log", &[])?;
    let node = setup.node_client("c")?;
    let serving = |name: &str| {
        csr_manifest(
            name,
            "system:node:c",
            SERVING,
            &["digital signature", "server auth"],
            &["c"],
        )
    };
    create(&node, &serving("serving-c-1")?)?;
    create(&node, &serving("serving-c-2")?)?;
    wait_superseded(&setup, "serving-c-1", "serving-c-2")?;
    let listed = setup
        .kubectl
        .ok(["get", "csr", "serving-c-1", "serving-c-2"])?;
    anyhow::ensure!(
        listed
            .lines()
            .any(|l| l.starts_with("serving-c-1 ") && l.trim_end().ends_with("Failed"))
            && listed
                .lines()
                .any(|l| l.starts_with("serving-c-2 ") && l.trim_end().ends_with("Pending")),
        "{listed}"
    );

    // Two requests of a bootstrap token for one node: both stay open (one token may serve
    // many machines; a person decides).
    let token = setup.token_client()?;
    for name in ["node-csr-t1", "node-csr-t2"] {
        create(
            &token,
            &csr_manifest(
                name,
                "system:node:t",
                CLIENT,
                &["digital signature", "client auth"],
                &[],
            )?,
        )?;
    }
    wait_for_reason(&setup, "node-csr-t2", "NotAutoApproved")?;
    for name in ["node-csr-t1", "node-csr-t2"] {
        let csr = setup.get_csr(name)?;
        anyhow::ensure!(csr["status"]["conditions"].is_null(), "{csr}");
    }
    Ok(())
}
