//! The per-requester limit on kubelet CSRs (decision 0030), driven with the real kubectl: a
//! requester gets its burst for one node and signer, then a 429 that says when to ask again,
//! at once (kubectl does not wait it out); other nodes, requesters and signers are not held
//! back, and the refusals are counted on `/metrics`.

use std::time::{Duration, Instant};

use e2e::csr::{manifest, node_manifest, node_request_pem};
use e2e::https::Identity;
use e2e::kubectl::{Kubectl, Output};
use e2e::{Cluster, wait};

const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";

fn create(
    cluster: &Cluster,
    kubectl: &Kubectl,
    object: &serde_json::Value,
) -> anyhow::Result<Output> {
    let name = object["metadata"]["name"].as_str().unwrap_or("csr");
    let file = cluster.write_manifest(&format!("{name}.json"), object)?;
    kubectl.run(["create", "--validate=false", "-f", &file])
}

#[test]
fn kubelet_csrs_are_limited_per_requester_node_and_signer() -> anyhow::Result<()> {
    let cluster = Cluster::start_with(&[
        "--kubelet-csr-rate-limit-burst=2",
        "--kubelet-csr-rate-limit-period=1h",
    ])?;
    let admin = cluster.kubectl()?;
    let token = cluster.bootstrap_token_that_may_create_csrs()?;
    let kubeconfig =
        cluster.token_kubeconfig("token.kubeconfig", "tls-bootstrap-token-user", &token)?;
    let bootstrap =
        admin.with_kubeconfig(&kubeconfig, &cluster.dir().join("home").join("cache-token"));

    // RBAC learns the binding through the server's watch; refused creates take nothing.
    let first = node_manifest("worker-7-a", "worker-7")?;
    wait::until(
        "the bootstrap token user to create its first CSR",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = create(&cluster, &bootstrap, &first).map_err(|e| e.to_string())?;
            if out.success {
                Ok(Some(()))
            } else {
                Err(out.to_string())
            }
        },
    )?;
    let second = create(
        &cluster,
        &bootstrap,
        &node_manifest("worker-7-b", "worker-7")?,
    )?;
    anyhow::ensure!(second.success, "the burst is 2: {second}");

    let started = Instant::now();
    let third = create(
        &cluster,
        &bootstrap,
        &node_manifest("worker-7-c", "worker-7")?,
    )?;
    anyhow::ensure!(!third.success && third.code == Some(1), "{third}");
    anyhow::ensure!(
        started.elapsed() < Duration::from_secs(10),
        "kubectl must not sit out the wait: {:?}",
        started.elapsed()
    );
    let expected = "Error from server (TooManyRequests): error when creating";
    anyhow::ensure!(third.stderr.contains(expected), "{third}");
    anyhow::ensure!(
        third.stderr.contains(
            "too many certificate signing requests from \"system:bootstrap:abcdef\" for node \
             \"worker-7\" to signer \"kubernetes.io/kube-apiserver-client-kubelet\": at most 2 \
             at once, then one every 1h0m0s; try again in "
        ),
        "{third}"
    );
    let missing = admin.run(["get", "csr", "worker-7-c"])?;
    anyhow::ensure!(
        !missing.success && missing.stderr.contains("NotFound"),
        "a refused request is not stored: {missing}"
    );

    // The Status says when; no Retry-After header, which client-go would sleep in place.
    let raw = cluster.https(Identity::Token(token.clone()))?.request(
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        Some("application/json"),
        &serde_json::to_vec(&node_manifest("worker-7-d", "worker-7")?)?,
    )?;
    anyhow::ensure!(raw.status == 429, "{}", raw.status);
    anyhow::ensure!(raw.header("Retry-After").is_none(), "no Retry-After header");
    let status = raw.json()?;
    anyhow::ensure!(status["reason"] == "TooManyRequests", "{status}");
    let after = status["details"]["retryAfterSeconds"].as_i64().unwrap_or(0);
    anyhow::ensure!((3500..=3600).contains(&after), "{status}");

    // Another node, another requester, another signer: each has its own allowance or none.
    for (who, object) in [
        (&bootstrap, node_manifest("worker-8-a", "worker-8")?),
        (&admin, node_manifest("worker-7-admin", "worker-7")?),
        (
            &bootstrap,
            manifest(
                "worker-7-other-signer",
                &node_request_pem("worker-7")?,
                "example.com/issuer",
                &["digital signature", "client auth"],
            ),
        ),
    ] {
        let out = create(&cluster, who, &object)?;
        anyhow::ensure!(out.success, "{out}");
    }

    let metrics = admin.ok(["get", "--raw", "/metrics"])?;
    let series = format!(
        "apiserver_certificatesigningrequest_rate_limited_total{{signer=\"{KUBELET_CLIENT}\"}} 2"
    );
    anyhow::ensure!(
        metrics.contains(&series),
        "{series} missing from:\n{metrics}"
    );
    Ok(())
}

#[test]
fn the_limit_can_be_turned_off() -> anyhow::Result<()> {
    let cluster = Cluster::start_with(&["--kubelet-csr-rate-limit-burst=0"])?;
    let admin = cluster.kubectl()?;
    for i in 0..12 {
        let out = create(
            &cluster,
            &admin,
            &node_manifest(&format!("n-{i}"), "worker-1")?,
        )?;
        anyhow::ensure!(out.success, "request {i}: {out}");
    }
    let metrics = admin.ok(["get", "--raw", "/metrics"])?;
    anyhow::ensure!(
        !metrics.contains("apiserver_certificatesigningrequest_rate_limited"),
        "no limit, no series"
    );
    Ok(())
}
