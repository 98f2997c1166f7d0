//! Decision 0027: a node whose client certificate expired while it was off renews it with that
//! certificate, within the apiserver's `--client-certificate-max-offline-window`, without a
//! bootstrap token. Only the node's newest certificate may: an older copy waits for a person,
//! and past the window the expired certificate is refused outright.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use e2e::node_agent::{self, AgentSetup};
use e2e::process::ChildGuard;
use e2e::{Cluster, Stop, events, wait};
use serde_json::{Value, json};

const NODE: &str = "returning-node";
/// Short enough to wait out in the test, long enough for a restart under CI load.
const WINDOW_SECONDS: u64 = 45;
const EXPIRED_USER: &str = "kubelet-tls-bootstrap:expired:system:node:returning-node";

/// A client certificate for the node from the cluster CA, valid for `valid_for` from now, as
/// the node's kubeconfig (embedded); returns its credential ID and NotAfter.
fn node_kubeconfig(
    cluster: &Cluster,
    kubeconfig: &Path,
    valid_for: Duration,
) -> anyhow::Result<(String, SystemTime)> {
    let (cert_pem, key_pem) = cluster.ca.issue_leaf(&pki::LeafParams {
        common_name: format!("system:node:{NODE}"),
        organizations: vec!["system:nodes".to_string()],
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        validity: valid_for,
    })?;
    let certificate = pki::Certificate::from_pem(cert_pem.as_bytes())?;
    let cert = cluster.dir().join("first-client.pem");
    let key = cluster.dir().join("first-client-key.pem");
    std::fs::write(&cert, cert_pem)?;
    std::fs::write(&key, key_pem)?;
    let relative = kubeconfig
        .strip_prefix(cluster.dir())?
        .display()
        .to_string();
    let written = cluster.certificate_kubeconfig(&relative, NODE, &cert, &key)?;
    anyhow::ensure!(written == kubeconfig, "kubeconfig written to {written:?}");
    Ok((certificate.credential_id(), certificate.not_after()))
}

fn node_annotation(cluster: &Cluster) -> anyhow::Result<Option<String>> {
    let (status, node) = cluster
        .admin()?
        .get_json(&format!("/api/v1/nodes/{NODE}"))?;
    if status == 404 {
        return Ok(None);
    }
    anyhow::ensure!(status == 200, "get node: {status} {node}");
    Ok(
        node["metadata"]["annotations"][protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION]
            .as_str()
            .map(str::to_string),
    )
}

fn wait_annotation(cluster: &Cluster, setup: &AgentSetup, id: &str) -> anyhow::Result<()> {
    wait::until(
        "the Node to name the client certificate",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let now = node_annotation(cluster).map_err(|e| format!("{e:#}"))?;
            Ok((now.as_deref() == Some(id)).then_some(()))
        },
    )
    .map_err(|e| e.context(setup.log()))
}

/// The issued CSRs the expired certificate's user made.
fn renewals(cluster: &Cluster) -> anyhow::Result<Vec<Value>> {
    Ok(node_agent::list_csrs(cluster)?
        .into_iter()
        .filter(|c| c["spec"]["username"] == EXPIRED_USER)
        .collect())
}

/// A kubelet client CSR for the node, made with `kubectl create` as the holder of `kubeconfig`.
fn request_with(cluster: &Cluster, kubeconfig: &Path, name: &str) -> anyhow::Result<String> {
    let key = pki::PrivateKey::generate_p256()?;
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: format!("system:node:{NODE}"),
            organizations: vec!["system:nodes".to_string()],
        },
        &pki::SubjectAltNames::default(),
    )?;
    use base64::Engine as _;
    let manifest = cluster.write_manifest(
        &format!("{name}.json"),
        &json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64::engine::general_purpose::STANDARD.encode(pem),
                "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                "usages": ["digital signature", "client auth"]
            }
        }),
    )?;
    let kubectl = with_kubeconfig(cluster, kubeconfig)?;
    kubectl.ok(["create", "-f", &manifest])
}

fn with_kubeconfig(cluster: &Cluster, kubeconfig: &Path) -> anyhow::Result<e2e::kubectl::Kubectl> {
    let cache: PathBuf = cluster.dir().join("home").join("cache-expired");
    Ok(cluster.kubectl()?.with_kubeconfig(kubeconfig, &cache))
}

/// An apiserver with an offline window of `window_seconds`, the controller-manager, kubeadm's
/// bindings and the lab's binding for expired certificates.
fn cluster_with_renewal(window_seconds: u64) -> anyhow::Result<(Cluster, ChildGuard)> {
    let cluster = Cluster::start_with(&[&format!(
        "--client-certificate-max-offline-window={window_seconds}s"
    )])?;
    let controller_manager = node_agent::start_controller_manager(&cluster, "8760h")?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    node_agent::bind_expired_renewal(&cluster)?;
    Ok((cluster, controller_manager))
}

/// The node has run with a certificate that expires in 15 s, without rotation, and has named
/// it on its Node; the agent is stopped. Its bootstrap kubeconfig's token is unknown to the
/// cluster: the token path is closed. Returns the setup, the certificate's ID and NotAfter.
fn node_that_ran(cluster: &Cluster) -> anyhow::Result<(AgentSetup, String, SystemTime)> {
    let mut setup = AgentSetup::new(cluster, NODE)?;
    setup.bootstrap_kubeconfig = Some(cluster.token_kubeconfig(
        "unknown-token.kubeconfig",
        "kubelet-bootstrap",
        "abcdef.0123456789abcdef",
    )?);
    let (id, expires) = node_kubeconfig(cluster, &setup.kubeconfig, Duration::from_secs(15))?;
    setup.extra_args = vec!["--rotate-certificates=false".into()];
    let mut agent = setup.start(cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(20))?;
    // The agent names its certificate on its Node itself (the apiserver lets it name only
    // the one it authenticates with).
    wait_annotation(cluster, &setup, &id)?;
    agent.terminate(Duration::from_secs(10))?;
    setup.extra_args.clear();
    Ok((setup, id, expires))
}

/// Waits for the renewal the expired certificate's user asked for to be issued.
fn wait_renewal(cluster: &Cluster, setup: &AgentSetup, timeout: Duration) -> anyhow::Result<Value> {
    wait::until(
        "the renewal to be issued",
        timeout,
        Duration::from_millis(100),
        || {
            let csrs = renewals(cluster).map_err(|e| format!("{e:#}"))?;
            Ok(csrs
                .into_iter()
                .find(|c| c["status"]["certificate"].is_string()))
        },
    )
    .map_err(|e| e.context(setup.log()))
}

#[test]
fn a_node_back_after_its_certificate_expired_renews_it_with_that_certificate() -> anyhow::Result<()>
{
    let (cluster, _controller_manager) = cluster_with_renewal(WINDOW_SECONDS)?;
    let (setup, first_id, expires) = node_that_ran(&cluster)?;
    let old_copy = cluster.dir().join("old-copy.kubeconfig");
    std::fs::copy(&setup.kubeconfig, &old_copy)?;

    // Off until the certificate expired.
    if let Ok(left) = expires.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_secs(2));
    }
    let kubectl = with_kubeconfig(&cluster, &old_copy)?;
    let whoami = kubectl.ok(["auth", "whoami", "-o", "json"])?;
    let whoami: Value = serde_json::from_str(&whoami)?;
    anyhow::ensure!(
        whoami["status"]["userInfo"]["username"] == EXPIRED_USER
            && whoami["status"]["userInfo"]["groups"]
                == json!([
                    "kubelet-tls-bootstrap:expired-client-certificates",
                    "system:authenticated"
                ]),
        "{whoami}"
    );
    let nodes = kubectl.run(["get", "nodes"])?;
    anyhow::ensure!(
        !nodes.success && nodes.stderr.contains("forbidden"),
        "an expired certificate read nodes: {nodes:?}"
    );

    // Back on: it renews with the expired certificate, and moves the Node's annotation.
    let mut agent = setup.start(&cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(30))?;
    let renewed = wait_renewal(&cluster, &setup, Duration::from_secs(20))?;
    let approval = &renewed["status"]["conditions"][0];
    anyhow::ensure!(
        approval["type"] == "Approved"
            && approval["message"]
                .as_str()
                .is_some_and(|m| m.contains("offline window")),
        "{renewed}"
    );
    anyhow::ensure!(
        renewed["spec"]["extra"]["authentication.kubernetes.io/credential-id"] == json!([first_id]),
        "{renewed}"
    );
    let current = pki::parse_certificates(&std::fs::read(setup.client_current())?)?;
    let new_id = current[0].credential_id();
    anyhow::ensure!(new_id != first_id && current[0].not_after() > SystemTime::now());
    wait_annotation(&cluster, &setup, &new_id)?;
    let (status, _) = cluster
        .admin()?
        .get_json(&format!("/api/v1/nodes/{NODE}"))?;
    anyhow::ensure!(status == 200);

    // The old copy of the expired certificate is no longer the node's newest: its request
    // waits for a person, and says why.
    request_with(&cluster, &old_copy, "old-copy-renewal")?;
    let event = events::wait_for_reason(
        &cluster,
        "old-copy-renewal",
        "NotLineageHead",
        Duration::from_secs(20),
    )?;
    anyhow::ensure!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.contains(&new_id) && m.contains(&first_id)),
        "{event}"
    );
    let csr = node_agent::list_csrs(&cluster)?
        .into_iter()
        .find(|c| c["metadata"]["name"] == "old-copy-renewal");
    anyhow::ensure!(
        csr.as_ref()
            .is_some_and(|c| c["status"]["conditions"].is_null()),
        "{csr:?}"
    );

    // Past the window the expired certificate does not authenticate at all.
    if let Ok(left) =
        (expires + Duration::from_secs(WINDOW_SECONDS)).duration_since(SystemTime::now())
    {
        std::thread::sleep(left + Duration::from_secs(2));
    }
    let refused = kubectl.run(["get", "--raw", "/api"])?;
    anyhow::ensure!(
        !refused.success && refused.stderr.contains("Unauthorized"),
        "{refused:?}"
    );
    drop(agent);
    Ok(())
}

#[test]
fn a_running_agent_whose_certificate_expired_while_the_apiserver_was_away_renews_it()
-> anyhow::Result<()> {
    // Room for the agent's retry backoff (up to 32 s) after the apiserver is back.
    let (mut cluster, _controller_manager) = cluster_with_renewal(120)?;
    let (setup, first_id, expires) = node_that_ran(&cluster)?;

    // The apiserver goes away; the agent starts with rotation on, and its attempts to rotate
    // fail until the certificate has expired and the apiserver is back.
    cluster.stop(Stop::Kill)?;
    let mut agent = setup.start(&cluster)?;
    setup.wait_port_open(&mut agent, Duration::from_secs(20))?;
    if let Ok(left) = expires.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_secs(2));
    }
    cluster.restart(Stop::Kill)?;

    // The running agent asks with its expired certificate, not the (unknown) token.
    let renewed = wait_renewal(&cluster, &setup, Duration::from_secs(60))?;
    anyhow::ensure!(
        renewed["spec"]["extra"]["authentication.kubernetes.io/credential-id"] == json!([first_id]),
        "{renewed}"
    );
    let new_id = wait::until(
        "the agent to use the renewed certificate",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let current = std::fs::read(setup.client_current()).map_err(|e| e.to_string())?;
            let id =
                pki::parse_certificates(&current).map_err(|e| e.to_string())?[0].credential_id();
            Ok((id != first_id).then_some(id))
        },
    )?;
    wait_annotation(&cluster, &setup, &new_id)?;
    anyhow::ensure!(agent.exited().is_none(), "agent stopped: {}", setup.log());
    let bootstrap_requests = node_agent::list_csrs(&cluster)?
        .into_iter()
        .filter(|c| {
            c["spec"]["username"]
                .as_str()
                .is_some_and(|u| u.starts_with("system:bootstrap:"))
        })
        .count();
    anyhow::ensure!(bootstrap_requests == 0, "a bootstrap request was made");
    Ok(())
}
