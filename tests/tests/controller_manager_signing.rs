//! csrapproving and csrsigning against the real apiserver, driven by the real kubectl: the
//! seed 003 flow, manual approve/deny, what must never be auto-approved, and signer rules.

#[path = "controller_manager_common.rs"]
mod common;

use std::time::{Duration, SystemTime};

use common::*;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const SERVING: &str = "kubernetes.io/kubelet-serving";
const CLIENT_USAGES: [&str; 2] = ["digital signature", "client auth"];

#[test]
fn a_bootstrap_token_csr_is_approved_and_issued_within_a_second() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let cm = setup.start_cm("cm.log", &[])?;
    let bootstrap = setup.token_client()?;

    let created_at = SystemTime::now();
    create(
        &bootstrap,
        &csr_manifest(
            "node-csr-worker-1",
            "system:node:worker-1",
            CLIENT,
            &CLIENT_USAGES,
            &[],
        )?,
    )?;
    let (pem, took) = setup.wait_issued("node-csr-worker-1", Duration::from_secs(10))?;
    anyhow::ensure!(
        took < Duration::from_secs(1),
        "issued after {took:?}; log:\n{}",
        cm.process.log_tail(4000)
    );

    // Approved by the nodeclient recognizer, with upstream's condition.
    let csr = setup.get_csr("node-csr-worker-1")?;
    let approved = &csr["status"]["conditions"][0];
    anyhow::ensure!(
        approved["type"] == "Approved" && approved["status"] == "True",
        "{csr}"
    );
    anyhow::ensure!(approved["reason"] == "AutoApproved", "{csr}");
    anyhow::ensure!(
        approved["message"]
            == "Auto approving kubelet client certificate after SubjectAccessReview.",
        "{csr}"
    );
    anyhow::ensure!(approved["lastUpdateTime"].is_string(), "{csr}");

    // openssl accepts it; subject, usages, lifetime and backdate as specified.
    openssl_verify(setup.cluster.dir(), &setup.ca_cert, &pem, "worker-1.pem")?;
    let cert = pki::Certificate::from_pem(pem.as_bytes())?;
    anyhow::ensure!(cert.common_name() == Some("system:node:worker-1"));
    anyhow::ensure!(cert.organizations() == ["system:nodes"]);
    anyhow::ensure!(!cert.is_ca() && cert.dns_names().is_empty());
    let lifetime = cert.not_after().duration_since(cert.not_before())?;
    anyhow::ensure!(
        lifetime == Duration::from_secs(8760 * 3600),
        "lifetime {lifetime:?}"
    );
    let backdate = created_at.duration_since(cert.not_before())?;
    anyhow::ensure!(
        backdate >= Duration::from_secs(299) && backdate <= Duration::from_secs(302),
        "not_before is {backdate:?} before creation"
    );
    let text = sh(
        setup.cluster.dir(),
        "openssl x509 -in worker-1.pem -noout -text",
    )?;
    anyhow::ensure!(text.contains("Digital Signature"), "{text}");
    anyhow::ensure!(!text.contains("Key Encipherment"), "{text}");
    anyhow::ensure!(text.contains("TLS Web Client Authentication"), "{text}");
    anyhow::ensure!(!text.contains("TLS Web Server Authentication"), "{text}");
    anyhow::ensure!(text.contains("CA:FALSE"), "{text}");

    // The approver's allowed review is reused for the same requester within its TTL: the
    // second CSR of this bootstrap token asks the apiserver nothing new.
    let reviews_before = sar_posts(&setup)?;
    anyhow::ensure!(reviews_before >= 1.0, "no SubjectAccessReview counted");
    // expirationSeconds is honoured (1 h + 5 min backdate).
    let mut short = csr_manifest(
        "node-csr-short",
        "system:node:worker-2",
        CLIENT,
        &CLIENT_USAGES,
        &[],
    )?;
    short["spec"]["expirationSeconds"] = 3600.into();
    create(&bootstrap, &short)?;
    let (pem, _) = setup.wait_issued("node-csr-short", Duration::from_secs(10))?;
    let cert = pki::Certificate::from_pem(pem.as_bytes())?;
    let lifetime = cert.not_after().duration_since(cert.not_before())?;
    anyhow::ensure!(
        lifetime == Duration::from_secs(3900),
        "lifetime {lifetime:?}"
    );

    anyhow::ensure!(
        sar_posts(&setup)? == reviews_before,
        "a second SubjectAccessReview was sent for the same requester"
    );

    // The metrics say what happened.
    anyhow::ensure!(cm.metric("csr_approvals_total{recognizer=\"nodeclient\"}")? == 2.0);
    anyhow::ensure!(cm.metric(&format!("csr_signings_total{{signer=\"{CLIENT}\"}}"))? == 2.0);

    // kubectl shows it as upstream does.
    let out = setup.kubectl.ok(["get", "csr", "node-csr-worker-1"])?;
    anyhow::ensure!(out.contains("Approved,Issued"), "{out}");
    Ok(())
}

/// SubjectAccessReviews the apiserver answered so far (its own request counter).
fn sar_posts(setup: &Setup) -> anyhow::Result<f64> {
    let text = setup.kubectl.ok(["get", "--raw", "/metrics"])?;
    Ok(text
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_request_total{")
                && l.contains(r#"verb="POST",resource="subjectaccessreviews""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

#[test]
fn without_the_nodeclient_binding_a_person_decides() -> anyhow::Result<()> {
    let setup = Setup::start(false)?;
    let cm = setup.start_cm("cm.log", &[])?;
    let bootstrap = setup.token_client()?;
    create(
        &bootstrap,
        &csr_manifest("node-csr-a", "system:node:a", CLIENT, &CLIENT_USAGES, &[])?,
    )?;
    create(
        &bootstrap,
        &csr_manifest("node-csr-b", "system:node:b", CLIENT, &CLIENT_USAGES, &[])?,
    )?;
    setup.assert_stays_unsigned("node-csr-a", &[], Duration::from_secs(2))?;
    let out = setup.kubectl.ok(["get", "csr", "node-csr-a"])?;
    anyhow::ensure!(out.contains("Pending"), "{out}");
    // What an alert on stuck CSRs reads.
    let open = format!("csr_open{{signer=\"{CLIENT}\",state=\"pending\"}}");
    anyhow::ensure!(cm.metric(&open)? == 2.0, "{}", cm.metrics()?);
    let oldest = cm.metric(&format!(
        "csr_open_oldest_age_seconds{{signer=\"{CLIENT}\",state=\"pending\"}}"
    ))?;
    anyhow::ensure!((1.0..120.0).contains(&oldest), "oldest pending {oldest}");

    let out = setup.kubectl.ok(["certificate", "approve", "node-csr-a"])?;
    anyhow::ensure!(out.contains("approved"), "{out}");
    let (pem, _) = setup.wait_issued("node-csr-a", Duration::from_secs(5))?;
    openssl_verify(setup.cluster.dir(), &setup.ca_cert, &pem, "a.pem")?;

    let out = setup.kubectl.ok(["certificate", "deny", "node-csr-b"])?;
    anyhow::ensure!(out.contains("denied"), "{out}");
    setup.assert_stays_unsigned("node-csr-b", &["Denied"], Duration::from_secs(2))?;
    let out = setup.kubectl.ok(["get", "csr", "node-csr-b"])?;
    anyhow::ensure!(out.contains("Denied"), "{out}");
    anyhow::ensure!(cm.metric("csr_approvals_total")? == 0.0);
    anyhow::ensure!(!cm.metrics()?.contains("csr_open{"), "{}", cm.metrics()?);
    Ok(())
}

#[test]
fn renewals_for_another_node_and_serving_requests_wait_and_breaches_fail() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    setup.wait_for_rbac("system:node:a", &["system:nodes"], "selfnodeclient", true)?;
    let _cm = setup.start_cm("cm.log", &[])?;
    let node_a = setup.node_client("a")?;

    // A renewal by node a for itself: selfnodeclient approves it.
    create(
        &node_a,
        &csr_manifest("csr-self", "system:node:a", CLIENT, &CLIENT_USAGES, &[])?,
    )?;
    setup.wait_issued("csr-self", Duration::from_secs(5))?;
    let csr = setup.get_csr("csr-self")?;
    anyhow::ensure!(
        csr["status"]["conditions"][0]["message"]
            == "Auto approving self kubelet client certificate after SubjectAccessReview.",
        "{csr}"
    );

    // Node a asking for node other's certificate: not approved.
    create(
        &node_a,
        &csr_manifest(
            "csr-other",
            "system:node:other",
            CLIENT,
            &CLIENT_USAGES,
            &[],
        )?,
    )?;
    // A kubelet-serving request: never auto-approved.
    create(
        &node_a,
        &csr_manifest(
            "csr-serving",
            "system:node:a",
            SERVING,
            &["digital signature", "server auth"],
            &["a.example"],
        )?,
    )?;
    // A client request with a SAN: not recognized, and once a person approves it, Failed.
    create(
        &node_a,
        &csr_manifest(
            "csr-san",
            "system:node:a",
            CLIENT,
            &CLIENT_USAGES,
            &["a.example"],
        )?,
    )?;
    setup.assert_stays_unsigned("csr-other", &[], Duration::from_secs(2))?;
    setup.assert_stays_unsigned("csr-serving", &[], Duration::from_millis(10))?;
    setup.assert_stays_unsigned("csr-san", &[], Duration::from_millis(10))?;

    setup
        .kubectl
        .ok(["certificate", "approve", "csr-san", "csr-serving"])?;
    // The serving one is signed (we hold a CA for every signer) with its SAN.
    let (pem, _) = setup.wait_issued("csr-serving", Duration::from_secs(5))?;
    let cert = pki::Certificate::from_pem(pem.as_bytes())?;
    anyhow::ensure!(cert.dns_names() == ["a.example"]);
    let failed = e2e::wait::until(
        "csr-san to get a Failed condition",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            let csr = setup.get_csr("csr-san").map_err(|e| e.to_string())?;
            Ok((condition_types(&csr) == ["Approved", "Failed"]).then_some(csr))
        },
    )?;
    let condition = &failed["status"]["conditions"][1];
    anyhow::ensure!(condition["status"] == "True", "{failed}");
    anyhow::ensure!(condition["reason"] == "SignerValidationFailure", "{failed}");
    anyhow::ensure!(
        condition["message"] == "DNS subjectAltNames are not allowed",
        "{failed}"
    );
    anyhow::ensure!(condition["lastUpdateTime"].is_string(), "{failed}");
    anyhow::ensure!(certificate_of(&failed).is_none(), "{failed}");
    let out = setup.kubectl.ok(["get", "csr", "csr-san"])?;
    anyhow::ensure!(out.contains("Approved,Failed"), "{out}");
    Ok(())
}
