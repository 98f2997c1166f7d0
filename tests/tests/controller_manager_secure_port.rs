//! The controller-manager's secure port decides who may read it by asking the apiserver, as
//! upstream's delegated authentication and authorization do: client certificates against
//! `--client-ca-file`, bearer tokens by TokenReview, everything but the health paths and
//! system:masters by SubjectAccessReview; without the kubeconfigs only those two pass. The
//! `--client-ca-file` is followed: a CA added or retired takes effect without a restart.

#[path = "controller_manager_common.rs"]
mod controller_manager_common;

use std::time::Duration;

use anyhow::Context as _;
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

/// A controller-manager on a free port with the common flags but no `--client-ca-file`, its
/// files looked at every 200 ms instead of 5 s, and `extra`.
fn spawn_following(
    setup: &Setup,
    log: &str,
    extra: &[&str],
) -> anyhow::Result<(u16, e2e::process::ChildGuard)> {
    let port = e2e::free_loopback_port()?;
    let mut args: Vec<String> = setup
        .args(port, &["--leader-elect=false"])
        .into_iter()
        .filter(|arg| !arg.starts_with("--client-ca-file"))
        .collect();
    args.push("--cluster-signing-reload-interval=200ms".to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    Ok((
        port,
        e2e::spawn_controller_manager(&setup.cluster, log, &args)?,
    ))
}

/// The status of a GET of `/metrics`, or why there was none (e.g. the handshake failed).
fn metrics_status(client: &Https) -> Result<u16, String> {
    get(client, "/metrics")
        .map(|(status, _)| status)
        .map_err(|e| format!("{e:#}"))
}

/// Writes aside and renames over, as deployment tools do.
fn replace(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents)?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

#[test]
fn the_client_ca_file_is_followed_without_a_restart() -> anyhow::Result<()> {
    let setup = Setup::start(false)?;
    let cluster = &setup.cluster;
    let client_ca = cluster.dir().join("cm-client-ca.pem");
    replace(&client_ca, &cluster.ca_pem)?;
    let (port, cm) = spawn_following(
        &setup,
        "cm-client-ca.log",
        &[&format!("--client-ca-file={}", client_ca.display())],
    )?;
    let log = || cm.log_tail(4000);
    let admin = Https::new(port, &cluster.ca_pem, cluster.admin_identity())?;
    e2e::wait::until(
        "the controller-manager to serve",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || Ok(metrics_status(&admin).ok()),
    )
    .with_context(log)?;
    assert_eq!(metrics_status(&admin), Ok(200));

    // A system:masters certificate of another CA: refused in the handshake.
    let (second, second_admin) = masters_of_another_ca("second-client-ca")?;
    let second_admin = Https::new(port, &cluster.ca_pem, second_admin)?;
    let refused = metrics_status(&second_admin).unwrap_err();
    assert!(refused.contains("UnknownCA"), "{refused}");

    // The file trusts both CAs: the same process authenticates it (200 for system:masters,
    // not the anonymous user's 403).
    replace(
        &client_ca,
        &format!("{}{}", cluster.ca_pem, second.cert_pem()),
    )?;
    e2e::wait::until(
        "the second CA's certificate to be authenticated",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || match metrics_status(&second_admin) {
            Ok(200) => Ok(Some(())),
            Ok(status) => Err(format!("status {status}")),
            Err(_) => Ok(None),
        },
    )
    .with_context(log)?;
    assert_eq!(metrics_status(&admin), Ok(200));

    // The first CA retired: its certificate is refused from then on (no session resumed).
    replace(&client_ca, &second.cert_pem())?;
    e2e::wait::until(
        "the first CA's certificate to be refused",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(metrics_status(&admin).is_err().then_some(())),
    )
    .with_context(log)?;
    assert_eq!(metrics_status(&second_admin), Ok(200));
    assert!(log().contains("client CA changed"), "{}", log());
    Ok(())
}

/// A system:masters client certificate of a CA of its own.
fn masters_of_another_ca(name: &str) -> anyhow::Result<(pki::CertificateAuthority, Identity)> {
    let ca = pki::CertificateAuthority::generate(
        name,
        pki::KeyAlgorithm::EcdsaP256,
        Duration::from_secs(3600),
    )?;
    let (cert_pem, key_pem) = ca.issue_leaf(&pki::LeafParams {
        common_name: format!("{name}-admin"),
        organizations: vec!["system:masters".into()],
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        validity: Duration::from_secs(3600),
    })?;
    Ok((ca, Identity::Certificate { cert_pem, key_pem }))
}

/// Without `--client-ca-file`, the port verifies client certificates with the client CA the
/// apiserver publishes in `kube-system/extension-apiserver-authentication`, as upstream's
/// delegated authentication looks it up (`--authentication-skip-lookup=false`), and follows
/// it when the apiserver's `--client-ca-file` changes.
#[test]
fn without_client_ca_file_the_port_uses_the_client_ca_the_apiserver_publishes() -> anyhow::Result<()>
{
    let setup = Setup::start(false)?;
    let cluster = &setup.cluster;
    let (port, cm) = spawn_following(&setup, "cm-lookup.log", &[])?;
    let log = || cm.log_tail(4000);
    let admin = Https::new(port, &cluster.ca_pem, cluster.admin_identity())?;
    e2e::wait::until(
        "the admin certificate to be authenticated by the published client CA",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok((metrics_status(&admin) == Ok(200)).then_some(())),
    )
    .with_context(log)?;

    // Skipped: the certificate is not asked for, so the admin is anonymous.
    let (skip_port, skipped) =
        spawn_following(&setup, "cm-skip.log", &["--authentication-skip-lookup"])?;
    let skipped_admin = Https::new(skip_port, &cluster.ca_pem, cluster.admin_identity())?;
    e2e::wait::until(
        "the second controller-manager to serve",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || Ok(get(&skipped_admin, "/healthz").ok().map(|_| ())),
    )
    .with_context(|| skipped.log_tail(4000))?;
    assert_eq!(
        get(&skipped_admin, "/metrics")?,
        (
            403,
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"".to_string()
        )
    );

    // The apiserver trusts a second CA: it publishes the bundle, and the port follows.
    let (second, second_admin) = masters_of_another_ca("second-client-ca")?;
    let second_admin = Https::new(port, &cluster.ca_pem, second_admin)?;
    assert!(metrics_status(&second_admin).is_err(), "not trusted yet");
    replace(
        &cluster.ca_file(),
        &format!("{}{}", cluster.ca_pem, second.cert_pem()),
    )?;
    e2e::wait::until(
        "the second CA's certificate to be authenticated",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || Ok((metrics_status(&second_admin) == Ok(200)).then_some(())),
    )
    .with_context(log)?;
    assert_eq!(metrics_status(&admin), Ok(200));
    assert!(
        log().contains("client CA found in the cluster"),
        "{}",
        log()
    );
    Ok(())
}
