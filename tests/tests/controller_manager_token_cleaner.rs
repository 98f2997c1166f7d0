//! `tokencleaner` (`--controllers=*,tokencleaner`, off by default as upstream): expired
//! bootstrap tokens are deleted, and a single-use token (`kubelet-tls-bootstrap/single-use`,
//! decision 0026) approves one client certificate, is kept from expiring while that node
//! joins, and is deleted once the node's Lease shows it up. The controller-manager runs as
//! system:kube-controller-manager with the default roles.

#[path = "controller_manager_common.rs"]
mod common;

use std::time::{Duration, SystemTime};

use common::*;
use e2e::wait;
use protocol::meta::Time;
use serde_json::{Value, json};

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const USAGES: [&str; 2] = ["digital signature", "client auth"];

fn rfc3339_in(offset: Duration) -> String {
    Time::from_system_time(SystemTime::now() + offset).to_string()
}

fn rfc3339_ago(offset: Duration) -> String {
    Time::from_system_time(SystemTime::now() - offset).to_string()
}

fn secret(setup: &Setup, name: &str) -> anyhow::Result<Option<Value>> {
    let (status, body) = setup
        .cluster
        .admin()?
        .get_json(&format!("/api/v1/namespaces/kube-system/secrets/{name}"))?;
    match status {
        200 => Ok(Some(body)),
        404 => Ok(None),
        _ => anyhow::bail!("get secret {name}: {status} {body}"),
    }
}

fn expiration(secret: &Value) -> anyhow::Result<String> {
    use base64::Engine as _;
    let raw = secret["data"]["expiration"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no expiration in {secret}"))?;
    Ok(String::from_utf8(
        base64::engine::general_purpose::STANDARD.decode(raw)?,
    )?)
}

/// Marks the setup's token single-use (decision 0026), as `lab token create --single-use`.
fn make_single_use(setup: &Setup) -> anyhow::Result<()> {
    setup.kubectl.ok([
        "annotate",
        "secret",
        "bootstrap-token-abcdef",
        "--namespace=kube-system",
        "kubelet-tls-bootstrap/single-use=true",
    ])?;
    Ok(())
}

fn wait_gone(setup: &Setup, name: &str, timeout: Duration) -> anyhow::Result<()> {
    wait::until(
        &format!("secret {name} to be deleted"),
        timeout,
        Duration::from_millis(50),
        || {
            secret(setup, name)
                .map(|s| s.is_none().then_some(()))
                .map_err(|e| format!("{e:#}"))
        },
    )
}

#[test]
fn expired_bootstrap_tokens_are_deleted_only_with_tokencleaner_on() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let past = rfc3339_ago(Duration::from_secs(60));
    setup
        .cluster
        .create_bootstrap_token("expird", "0123456789abcdef", Some(&past))?;
    setup
        .cluster
        .create_bootstrap_token("garbld", "0123456789abcdef", Some("tomorrow"))?;
    setup.cluster.create_bootstrap_token(
        "latert",
        "0123456789abcdef",
        Some(&rfc3339_in(Duration::from_secs(3600))),
    )?;
    setup
        .cluster
        .create_bootstrap_token("noendt", "0123456789abcdef", None)?;

    // Upstream's default set leaves tokencleaner off: nothing is deleted.
    // Without leader election, so the next one need not wait for its Lease to expire.
    let cm = setup.start_cm_serving("cm-default.log", &["--leader-elect=false"])?;
    std::thread::sleep(Duration::from_secs(1));
    anyhow::ensure!(secret(&setup, "bootstrap-token-expird")?.is_some());
    drop(cm);

    let cm = setup.start_cm("cm.log", &["--controllers=*,tokencleaner"])?;
    wait_gone(&setup, "bootstrap-token-expird", Duration::from_secs(10))?;
    // An unreadable expiration counts as expired, as the apiserver reads it.
    wait_gone(&setup, "bootstrap-token-garbld", Duration::from_secs(10))?;
    // A token made now, expiring soon: kept, then deleted when its time comes without any
    // other event.
    setup.cluster.create_bootstrap_token(
        "soonex",
        "0123456789abcdef",
        Some(&rfc3339_in(Duration::from_secs(6))),
    )?;
    std::thread::sleep(Duration::from_millis(500));
    anyhow::ensure!(secret(&setup, "bootstrap-token-soonex")?.is_some());
    wait_gone(&setup, "bootstrap-token-soonex", Duration::from_secs(20))?;
    for kept in ["latert", "noendt", "abcdef"] {
        anyhow::ensure!(
            secret(&setup, &format!("bootstrap-token-{kept}"))?.is_some(),
            "bootstrap-token-{kept} was deleted; log:\n{}",
            cm.process.log_tail(3000)
        );
    }
    Ok(())
}

#[test]
fn a_single_use_token_approves_one_node_and_is_deleted_once_it_is_up() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    // Two minutes left: less than tokencleaner keeps for a join under way.
    let soon = rfc3339_in(Duration::from_secs(120));
    setup.kubectl.ok([
        "patch",
        "secret",
        "bootstrap-token-abcdef",
        "--namespace=kube-system",
        "--type=merge",
        &format!("--patch={}", json!({"stringData": {"expiration": soon}})),
    ])?;
    make_single_use(&setup)?;
    let cm = setup.start_cm("cm.log", &["--controllers=*,tokencleaner"])?;
    let bootstrap = setup.token_client()?;

    create(
        &bootstrap,
        &csr_manifest("node-csr-a", "system:node:worker-a", CLIENT, &USAGES, &[])?,
    )?;
    setup.wait_issued("node-csr-a", Duration::from_secs(10))?;

    // While worker-a has not come up, the token is kept valid ten minutes ahead.
    let extended = wait::until(
        "the token's expiration to be extended",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let secret = secret(&setup, "bootstrap-token-abcdef")
                .map_err(|e| format!("{e:#}"))?
                .ok_or("the token is gone")?;
            let now = expiration(&secret).map_err(|e| format!("{e:#}"))?;
            Ok((now != soon).then_some(now))
        },
    )?;
    let at = Time::parse(&extended)?;
    let left = at
        .to_system_time()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    anyhow::ensure!(
        left > Duration::from_secs(9 * 60) && left <= Duration::from_secs(10 * 60),
        "extended to {extended}"
    );

    // A second machine with the same token: it waits, and the event says why.
    create(
        &bootstrap,
        &csr_manifest("node-csr-b", "system:node:worker-b", CLIENT, &USAGES, &[])?,
    )?;
    let said = e2e::events::wait_for_reason(
        &setup.cluster,
        "node-csr-b",
        "TokenAlreadyUsed",
        Duration::from_secs(15),
    )?;
    anyhow::ensure!(
        said["type"] == "Warning"
            && said["message"].as_str().is_some_and(|m| m
                .starts_with("Not approved automatically: bootstrap token abcdef is single-use")
                && m.contains("csr node-csr-a")),
        "{said}"
    );
    setup.assert_stays_unsigned("node-csr-b", &[], Duration::from_secs(1))?;
    anyhow::ensure!(secret(&setup, "bootstrap-token-abcdef")?.is_some());

    // worker-a comes up: its Lease is renewed (as its kubelet does after registering).
    let node = setup.node_client("worker-a")?;
    let (status, body) = node.send_json(
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        &json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "worker-a", "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": "worker-a",
                "leaseDurationSeconds": 40,
                "renewTime": protocol::meta::MicroTime::now(),
            },
        }),
    )?;
    anyhow::ensure!(status == 201, "create lease: {status} {body}");
    wait_gone(&setup, "bootstrap-token-abcdef", Duration::from_secs(15))
        .map_err(|e| anyhow::anyhow!("{e:#}; log:\n{}", cm.process.log_tail(3000)))?;
    let events = setup.kubectl.ok([
        "get",
        "events",
        "--namespace=kube-system",
        "--field-selector=involvedObject.name=bootstrap-token-abcdef",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    ])?;
    anyhow::ensure!(
        events.contains("BootstrapTokenExtended")
            && events.contains("BootstrapTokenUsed")
            && events.contains("node worker-a is up with the certificate of csr node-csr-a"),
        "{events}"
    );
    Ok(())
}

#[test]
fn a_request_a_single_use_token_held_back_is_approved_as_soon_as_the_holder_goes()
-> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    make_single_use(&setup)?;
    let cm = setup.start_cm("cm.log", &[])?;
    let bootstrap = setup.token_client()?;
    create(
        &bootstrap,
        &csr_manifest("node-csr-a", "system:node:worker-a", CLIENT, &USAGES, &[])?,
    )?;
    setup.wait_issued("node-csr-a", Duration::from_secs(10))?;
    create(
        &bootstrap,
        &csr_manifest("node-csr-b", "system:node:worker-b", CLIENT, &USAGES, &[])?,
    )?;
    e2e::events::wait_for_reason(
        &setup.cluster,
        "node-csr-b",
        "TokenAlreadyUsed",
        Duration::from_secs(15),
    )?;
    // By now the approver's backoff for node-csr-b (200 ms, doubling) has its next look more
    // than 5 s away: only the release itself can bring it back within the 3 s below.
    std::thread::sleep(Duration::from_secs(7));
    setup.kubectl.ok(["delete", "csr", "node-csr-a"])?;
    setup
        .wait_issued("node-csr-b", Duration::from_secs(3))
        .map_err(|e| anyhow::anyhow!("{e:#}; log:\n{}", cm.process.log_tail(3000)))?;
    Ok(())
}
