//! The kubelet port set up as kubeadm sets the kubelet up (`--anonymous-auth=false`,
//! `--authentication-token-webhook`, `--authorization-mode=Webhook`, `--client-ca-file`):
//! callers are authenticated by certificate or by a TokenReview, and authorized by a
//! SubjectAccessReview of `nodes/<subresource>` on this node, both asked by the agent with
//! its own node credentials.

use std::time::Duration;

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
    // A denial is cached for 10 s, as upstream's webhook authorizer caches it.
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
    // A token the apiserver does not know: 401.
    assert_eq!(
        get(&setup, Identity::Token("not-a-token".into()), "/metrics")?,
        (401, "Unauthorized".to_string())
    );
    Ok(())
}
