//! The controller-manager's secure port decides who may read it by asking the apiserver, as
//! upstream's delegated authentication and authorization do: client certificates against
//! `--client-ca-file`, bearer tokens by TokenReview, everything but the health paths and
//! system:masters by SubjectAccessReview; without the kubeconfigs only those two pass.

#[path = "controller_manager_common.rs"]
mod controller_manager_common;

use std::time::Duration;

use controller_manager_common::Setup;
use e2e::cluster::STATIC_BOOTSTRAP_USER;
use e2e::https::{Https, Identity};
use serde_json::Value;

/// `(status, Status.message)` of a GET.
fn get(https: &Https, path: &str) -> anyhow::Result<(u16, String)> {
    let response = https.request("GET", path, None, b"")?;
    let message = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|status| status["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    Ok((response.status, message))
}

#[test]
fn metrics_are_for_whom_the_apiserver_allows() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let cm = setup.start_cm_serving("cm.log", &["--leader-elect=false"])?;
    let cluster = &setup.cluster;
    let as_who = |identity: Identity| Https::new(cm.port, &cluster.ca_pem, identity);

    // Health for anyone; metrics for system:masters without a review.
    let anonymous = as_who(Identity::Anonymous)?;
    assert_eq!(get(&anonymous, "/healthz")?.0, 200);
    assert_eq!(get(&anonymous, "/readyz")?.0, 200);
    assert_eq!(
        get(&anonymous, "/metrics")?,
        (
            403,
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"".to_string()
        )
    );
    assert_eq!(get(&as_who(cluster.admin_identity())?, "/metrics")?.0, 200);

    // A certificate from the cluster CA authenticates; RBAC grants nothing to this node.
    let node = as_who(setup.node_identity("n1")?)?;
    assert_eq!(
        get(&node, "/metrics")?,
        (
            403,
            "forbidden: User \"system:node:n1\" cannot get path \"/metrics\"".to_string()
        )
    );

    // A token the apiserver knows, once RBAC lets its user read /metrics; a token it does
    // not know is a 401, even for health.
    setup.kubectl.ok([
        "create",
        "clusterrole",
        "metrics-reader",
        "--verb=get",
        "--non-resource-url=/metrics",
    ])?;
    setup.kubectl.ok([
        "create",
        "clusterrolebinding",
        "metrics-reader",
        "--clusterrole=metrics-reader",
        &format!("--user={STATIC_BOOTSTRAP_USER}"),
    ])?;
    let reader = as_who(Identity::Token(cluster.static_token.clone()))?;
    let (status, body) = get(&reader, "/metrics")?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&reader, "/metrics/slis")?,
        (
            403,
            format!(
                "forbidden: User \"{STATIC_BOOTSTRAP_USER}\" cannot get path \"/metrics/slis\""
            )
        )
    );
    let stranger = as_who(Identity::Token("not-a-token".into()))?;
    assert_eq!(
        get(&stranger, "/healthz")?,
        (401, "Unauthorized".to_string())
    );
    assert_eq!(get(&stranger, "/metrics")?.0, 401);
    Ok(())
}

#[test]
fn without_the_kubeconfigs_only_health_and_masters_pass() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let port = e2e::free_loopback_port()?;
    // The common flags minus the two delegation kubeconfigs.
    let args: Vec<String> = setup
        .args(port, &["--leader-elect=false"])
        .into_iter()
        .filter(|arg| {
            !arg.starts_with("--authentication-kubeconfig")
                && !arg.starts_with("--authorization-kubeconfig")
        })
        .collect();
    let _cm = e2e::spawn_controller_manager(&setup.cluster, "cm-plain.log", &args)?;
    let cluster = &setup.cluster;
    let admin = Https::new(port, &cluster.ca_pem, cluster.admin_identity())?;
    e2e::wait::until(
        "the controller-manager to serve",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || Ok(get(&admin, "/metrics").ok().map(|(status, _)| status)),
    )
    .and_then(|status| {
        anyhow::ensure!(status == 200, "admin got {status}");
        Ok(())
    })?;
    let reader = Https::new(
        port,
        &cluster.ca_pem,
        Identity::Token(cluster.static_token.clone()),
    )?;
    // The token is not looked at: the request is anonymous.
    assert_eq!(
        get(&reader, "/metrics")?,
        (
            403,
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"".to_string()
        )
    );
    assert_eq!(get(&reader, "/healthz")?.0, 200);
    Ok(())
}
