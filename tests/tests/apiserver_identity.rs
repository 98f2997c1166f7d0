//! Who a request acts as, seen through the real kubectl.
//!
//! `kubectl --as` / `--as-group`: requests act as the impersonated user when the real user may
//! impersonate, and are refused with upstream's 403 when not (they were once answered as the
//! real user, so `kubectl auth can-i --as=...` said "yes" to everything for an admin).
//! `kubectl auth can-i --list`: the SelfSubjectRulesReview lists the bindings' rules.
//! `kubectl auth whoami`: the SelfSubjectReview answer is the authenticated (or impersonated)
//! user.

use std::time::Duration;

use e2e::{Cluster, paths, wait};

#[test]
fn kubectl_as_acts_as_the_impersonated_user() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.kubectl()?;
    let bootstrap = cluster.bootstrap_kubectl(&paths::kubectl()?);

    // Bob has no permissions yet: the admin asking as bob hears "no".
    let can = admin.run(["auth", "can-i", "list", "secrets", "--as=bob"])?;
    anyhow::ensure!(!can.success && can.stdout.trim() == "no", "{can}");
    let get = admin.run(["get", "secrets", "--as=bob"])?;
    anyhow::ensure!(
        !get.success
            && get.stderr.contains(
                "secrets is forbidden: User \"bob\" cannot list resource \"secrets\" in API \
                 group \"\" in the namespace \"default\""
            ),
        "{get}"
    );

    // Granted get (not list) on secrets, bob can get them and still not list them.
    admin.ok([
        "create",
        "role",
        "secret-reader",
        "--verb=get",
        "--resource=secrets",
    ])?;
    admin.ok([
        "create",
        "rolebinding",
        "bob-reads-secrets",
        "--role=secret-reader",
        "--user=bob",
    ])?;
    wait::until(
        "RBAC to let bob get secrets",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = admin
                .run(["auth", "can-i", "get", "secrets", "--as=bob"])
                .map_err(|e| e.to_string())?;
            Ok((out.success && out.stdout.trim() == "yes").then_some(()))
        },
    )?;
    let can = admin.run(["auth", "can-i", "list", "secrets", "--as=bob"])?;
    anyhow::ensure!(!can.success && can.stdout.trim() == "no", "{can}");
    // `can-i --list` (a SelfSubjectRulesReview) shows the binding's rule.
    let listed = admin.ok(["auth", "can-i", "--list", "--as=bob"])?;
    anyhow::ensure!(
        listed.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>() == ["secrets", "[]", "[]", "[get]"]
        }),
        "{listed}"
    );
    let elsewhere = admin.ok(["auth", "can-i", "--list", "--as=bob", "-n", "kube-system"])?;
    anyhow::ensure!(!elsewhere.contains("secrets"), "{elsewhere}");

    // Groups come from --as-group: a node's identity is its user and the system:nodes group.
    let node_csr = [
        "auth",
        "can-i",
        "create",
        "certificatesigningrequests",
        "--as=system:node:worker-1",
    ];
    let with_group = admin.run(node_csr.iter().copied().chain(["--as-group=system:nodes"]))?;
    anyhow::ensure!(
        with_group.success && with_group.stdout.trim() == "yes",
        "{with_group}"
    );
    let without_group = admin.run(node_csr)?;
    anyhow::ensure!(
        !without_group.success && without_group.stdout.trim() == "no",
        "{without_group}"
    );
    // A node's permissions are the Node authorizer's, which cannot be listed (as upstream).
    let node_list = admin.run([
        "auth",
        "can-i",
        "--list",
        "--as=system:node:worker-1",
        "--as-group=system:nodes",
    ])?;
    anyhow::ensure!(
        node_list.success
            && node_list.stderr.contains(
                "Warning: the list may be incomplete: node authorizer does not support user \
                 rule resolution"
            ),
        "{node_list}"
    );

    // A user without the impersonate verb is refused, naming what it may not impersonate
    // (`--raw`: with a cold discovery cache kubectl would print only "unknown", as it does
    // against kube-apiserver, since discovery is refused first).
    let refused = bootstrap.run(["get", "--raw", "/api/v1/nodes", "--as=admin"])?;
    anyhow::ensure!(
        !refused.success
            && refused.stderr.contains(
                "users \"admin\" is forbidden: User \"kubelet-bootstrap\" cannot impersonate \
                 resource \"users\" in API group \"\" at the cluster scope"
            ),
        "{refused}"
    );
    Ok(())
}

#[test]
fn kubectl_auth_whoami_names_the_caller() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.kubectl()?;
    let bootstrap = cluster.bootstrap_kubectl(&paths::kubectl()?);

    let rows = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .skip(1)
            .filter_map(|l| l.split_once(char::is_whitespace))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect()
    };
    let me = admin.ok(["auth", "whoami"])?;
    anyhow::ensure!(me.starts_with("ATTRIBUTE"), "{me}");
    // A client certificate's user carries its credential ID, as kube-apiserver 1.32+ adds.
    let e2e::https::Identity::Certificate { cert_pem, .. } = cluster.admin_identity() else {
        anyhow::bail!("the admin authenticates with a certificate");
    };
    let credential_id = pki::Certificate::from_pem(cert_pem.as_bytes())?.credential_id();
    anyhow::ensure!(
        rows(&me)
            == [
                ("Username".to_string(), "admin".to_string()),
                (
                    "Groups".to_string(),
                    "[system:masters system:authenticated]".to_string()
                ),
                (
                    "Extra:".to_string(),
                    format!("authentication.kubernetes.io/credential-id [{credential_id}]")
                )
            ],
        "{me}"
    );

    // The static-token user, with the uid and groups of its token.csv line.
    let token_user = bootstrap.ok(["auth", "whoami", "-o", "json"])?;
    let review: serde_json::Value = serde_json::from_str(&token_user)?;
    anyhow::ensure!(
        review["kind"] == "SelfSubjectReview"
            && review["apiVersion"] == "authentication.k8s.io/v1"
            && review["metadata"]["creationTimestamp"].is_string()
            && review["status"]["userInfo"]["username"] == "kubelet-bootstrap"
            && review["status"]["userInfo"]["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g == "system:authenticated")),
        "{token_user}"
    );

    // Impersonated: the answer is who the request acts as.
    let node = admin.ok([
        "auth",
        "whoami",
        "--as=system:node:worker-1",
        "--as-group=system:nodes",
    ])?;
    anyhow::ensure!(
        rows(&node)
            == [
                ("Username".to_string(), "system:node:worker-1".to_string()),
                (
                    "Groups".to_string(),
                    "[system:nodes system:authenticated]".to_string()
                )
            ],
        "{node}"
    );
    Ok(())
}
