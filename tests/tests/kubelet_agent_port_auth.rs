//! The kubelet port set up as kubeadm sets the kubelet up (`--anonymous-auth=false`,
//! `--authentication-token-webhook`, `--authorization-mode=Webhook`, `--client-ca-file`):
//! callers are authenticated by certificate or by a TokenReview, and authorized by a
//! SubjectAccessReview of `nodes/<subresource>` on this node, both asked by the agent with
//! its own node credentials. Answers are cached as the kubelet caches them: allowed ones for
//! `--authorization-webhook-cache-authorized-ttl` (5 min), denied ones for
//! `--authorization-webhook-cache-unauthorized-ttl` (here 5 s instead of 30 s).

use std::time::{Duration, Instant};

use e2e::cluster::STATIC_BOOTSTRAP_USER;
use e2e::https::Identity;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, Https, wait};

/// `(status, body)` of a GET on the agent's port, trusting the CA in its `kubelet.crt`.
fn get(setup: &AgentSetup, identity: Identity, path: &str) -> anyhow::Result<(u16, String)> {
    let chain = std::fs::read(setup.cert_dir.join("kubelet.crt"))?;
    let ca = pki::parse_certificates(&chain)?
        .get(1)
        .map(pki::Certificate::to_pem)
        .ok_or_else(|| anyhow::anyhow!("kubelet.crt has no CA certificate"))?;
    let response = Https::new(setup.port, &ca, identity)?.request("GET", path, None, b"")?;
    Ok((
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    ))
}

#[test]
fn the_kubelet_port_asks_the_apiserver_who_may_read_it() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let _controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let mut setup = AgentSetup::new(&cluster, "node-a")?;
    setup.extra_args = vec![
        "--anonymous-auth=false".into(),
        "--authentication-token-webhook".into(),
        "--authorization-mode=Webhook".into(),
        format!("--client-ca-file={}", cluster.ca_file().display()),
        "--authorization-webhook-cache-unauthorized-ttl=5s".into(),
    ];
    let mut agent = setup.start(&cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(30))?;

    // No credentials: 401, even for health (the plain localhost port stays open).
    assert_eq!(
        get(&setup, Identity::Anonymous, "/healthz")?,
        (401, "Unauthorized".to_string())
    );
    let (status, _) = node_agent::http_get(setup.healthz_port, "/healthz")?;
    assert_eq!(status, 200);

    // The admin's certificate: authenticated by the client CA, allowed by the apiserver.
    let (status, metrics) = get(&setup, cluster.admin_identity(), "/metrics")?;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("kubelet_certificate_manager_client_ttl_seconds"));

    // A token the apiserver knows: forbidden until RBAC grants nodes/metrics, then allowed
    // for /metrics only (nodes/pods and nodes/proxy stay denied).
    let reader = || Identity::Token(cluster.static_token.clone());
    let denied_at = Instant::now();
    assert_eq!(
        get(&setup, reader(), "/metrics")?,
        (
            403,
            format!(
                "Forbidden (user={STATIC_BOOTSTRAP_USER}, verb=get, resource=nodes, subresource(s)=[metrics])"
            )
        )
    );
    let kubectl = cluster.kubectl()?;
    kubectl.ok([
        "create",
        "clusterrole",
        "node-metrics-reader",
        "--verb=get",
        "--resource=nodes/metrics",
    ])?;
    kubectl.ok([
        "create",
        "clusterrolebinding",
        "node-metrics-reader",
        "--clusterrole=node-metrics-reader",
        &format!("--user={STATIC_BOOTSTRAP_USER}"),
    ])?;
    // The denial is still cached (when the grant took less than its 5 s), then it expires.
    let (status, _) = get(&setup, reader(), "/metrics")?;
    if denied_at.elapsed() < Duration::from_secs(4) {
        assert_eq!(status, 403, "the denial was not cached");
    }
    let (status, body) = wait::until(
        "the new grant to be seen",
        Duration::from_secs(20),
        Duration::from_millis(500),
        || {
            let answer = get(&setup, reader(), "/metrics").map_err(|e| format!("{e:#}"))?;
            Ok((answer.0 == 200).then_some(answer))
        },
    )?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get(&setup, reader(), "/pods")?,
        (
            403,
            format!(
                "Forbidden (user={STATIC_BOOTSTRAP_USER}, verb=get, resource=nodes, subresource(s)=[pods proxy])"
            )
        )
    );
    // An allowed answer is kept for 5 minutes: revoking the grant does not close the port
    // for this user at once (as with the kubelet).
    kubectl.ok(["delete", "clusterrolebinding", "node-metrics-reader"])?;
    let (status, body) = get(&setup, reader(), "/metrics")?;
    assert_eq!(status, 200, "the allowed answer was not cached: {body}");
    // A token the apiserver does not know: 401.
    assert_eq!(
        get(&setup, Identity::Token("not-a-token".into()), "/metrics")?,
        (401, "Unauthorized".to_string())
    );
    Ok(())
}
