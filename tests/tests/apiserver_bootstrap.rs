//! A CSR created with a bootstrap token is stamped with the token's identity, whatever the
//! body claims.

use std::time::Duration;

use e2e::csr::node_manifest;
use e2e::https::Identity;
use e2e::{Cluster, wait};

#[test]
fn bootstrap_token_csr_is_stamped_with_the_token_identity() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.kubectl()?;
    let token = cluster.bootstrap_token_that_may_create_csrs()?;

    // A forged requester in the body must be replaced by the authenticated one.
    let mut csr = node_manifest("node-csr-forged", "worker-7")?;
    csr["spec"]["username"] = "system:admin".into();
    csr["spec"]["uid"] = "forged-uid".into();
    csr["spec"]["groups"] = serde_json::json!(["system:masters"]);
    csr["spec"]["extra"] = serde_json::json!({"forged": ["yes"]});
    let file = cluster.dir().join("forged.json");
    std::fs::write(&file, serde_json::to_vec(&csr)?)?;

    let kubeconfig =
        cluster.token_kubeconfig("token.kubeconfig", "tls-bootstrap-token-user", &token)?;
    let bootstrap =
        admin.with_kubeconfig(&kubeconfig, &cluster.dir().join("home").join("cache-token"));
    // RBAC learns the new binding through the server's watch: retry briefly.
    let created = wait::until(
        "the bootstrap token user to create its CSR",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = bootstrap
                .run([
                    "create",
                    "--validate=false",
                    "-f",
                    &file.display().to_string(),
                ])
                .map_err(|e| e.to_string())?;
            if out.success {
                Ok(Some(out.stdout))
            } else {
                Err(out.to_string())
            }
        },
    )?;
    anyhow::ensure!(
        created == "certificatesigningrequest.certificates.k8s.io/node-csr-forged created\n",
        "{created:?}"
    );

    let (status, stored) = cluster
        .admin()?
        .get_json("/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-forged")?;
    anyhow::ensure!(status == 200, "get: {status} {stored}");
    let spec = &stored["spec"];
    anyhow::ensure!(
        spec["username"] == "system:bootstrap:abcdef",
        "username: {spec}"
    );
    anyhow::ensure!(
        spec.get("uid").is_none(),
        "bootstrap tokens have no uid: {spec}"
    );
    anyhow::ensure!(
        spec["groups"]
            == serde_json::json!([
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated"
            ]),
        "groups: {spec}"
    );
    anyhow::ensure!(spec.get("extra").is_none(), "forged extra kept: {spec}");
    anyhow::ensure!(
        stored["status"] == serde_json::json!({}),
        "status: {stored}"
    );

    // The same through the raw API with a JSON body: the token's identity, not the body's.
    let raw = cluster.https(Identity::Token(token))?;
    let mut second = node_manifest("node-csr-raw", "worker-8")?;
    second["spec"]["username"] = "someone-else".into();
    let (status, answer) = raw.send_json(
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        &second,
    )?;
    anyhow::ensure!(status == 201, "create: {status} {answer}");
    anyhow::ensure!(
        answer["spec"]["username"] == "system:bootstrap:abcdef",
        "{answer}"
    );
    Ok(())
}
