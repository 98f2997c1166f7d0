//! Bad inputs each get the right Status code and reason (never a panic, never a hang).

use base64::Engine as _;
use e2e::csr::{self, KUBELET_CLIENT_SIGNER, manifest, node_manifest};
use e2e::https::Identity;
use e2e::{Cluster, Https, Response};

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Sends one bad request to the cluster.
type Send = Box<dyn Fn(&Cluster) -> anyhow::Result<Response>>;

/// One row of the table: what is sent, by whom, and the Status expected back.
struct Case {
    name: &'static str,
    send: Send,
    code: u16,
    reason: &'static str,
    /// A fragment the Status message must contain.
    message: &'static str,
}

fn post_json(client: &Https, path: &str, body: &serde_json::Value) -> anyhow::Result<Response> {
    client.request(
        "POST",
        path,
        Some("application/json"),
        &serde_json::to_vec(body)?,
    )
}

fn check(cluster: &Cluster, case: &Case) -> anyhow::Result<()> {
    let response = (case.send)(cluster)?;
    let status = response.json()?;
    anyhow::ensure!(
        response.status == case.code
            && status["kind"] == "Status"
            && status["code"] == case.code
            && status["reason"] == case.reason
            && status["message"]
                .as_str()
                .is_some_and(|m| m.contains(case.message)),
        "{}: expected {} {} containing {:?}, got HTTP {}: {status}",
        case.name,
        case.code,
        case.reason,
        case.message,
        response.status
    );
    Ok(())
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "garbage PEM",
            send: Box::new(|c| {
                let mut body = node_manifest("garbage", "n")?;
                body["spec"]["request"] = base64::engine::general_purpose::STANDARD
                    .encode("garbage")
                    .into();
                post_json(&c.admin()?, CSRS, &body)
            }),
            code: 422,
            reason: "Invalid",
            message: "spec.request: Invalid value: []byte{0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65}: PEM block type must be CERTIFICATE REQUEST",
        },
        Case {
            name: "CSR with a broken signature",
            send: Box::new(|c| {
                let pem = csr::with_broken_signature(&csr::node_request_pem("n")?)?;
                let body = manifest(
                    "broken-signature",
                    &pem,
                    KUBELET_CLIENT_SIGNER,
                    &["client auth"],
                );
                post_json(&c.admin()?, CSRS, &body)
            }),
            code: 422,
            reason: "Invalid",
            message: "CertificateSigningRequest.certificates.k8s.io \"broken-signature\" is invalid: spec.request: Invalid value",
        },
        Case {
            name: "unknown usage",
            send: Box::new(|c| {
                let body = manifest(
                    "unknown-usage",
                    &csr::node_request_pem("n")?,
                    KUBELET_CLIENT_SIGNER,
                    &["client auth", "teleport"],
                );
                post_json(&c.admin()?, CSRS, &body)
            }),
            code: 422,
            reason: "Invalid",
            message: "spec.usages[1]: Unsupported value: \"teleport\"",
        },
        Case {
            name: "Approved and Denied together",
            send: Box::new(|c| {
                let admin = c.admin()?;
                let created = post_json(&admin, CSRS, &node_manifest("both", "n")?)?;
                anyhow::ensure!(
                    created.status == 201,
                    "create: {}",
                    String::from_utf8_lossy(&created.body)
                );
                let mut csr = created.json()?;
                csr["status"]["conditions"] = serde_json::json!([
                    {"type": "Approved", "status": "True", "reason": "R", "message": "m"},
                    {"type": "Denied", "status": "True", "reason": "R", "message": "m"},
                ]);
                admin.request(
                    "PUT",
                    &format!("{CSRS}/both/approval"),
                    Some("application/json"),
                    &serde_json::to_vec(&csr)?,
                )
            }),
            code: 422,
            reason: "Invalid",
            message: "status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive",
        },
        Case {
            name: "oversize body",
            send: Box::new(|c| {
                let mut body = node_manifest("oversize", "n")?;
                body["metadata"]["annotations"] =
                    serde_json::json!({"padding": "x".repeat(3 * 1024 * 1024 + 1)});
                post_json(&c.admin()?, CSRS, &body)
            }),
            code: 413,
            reason: "RequestEntityTooLarge",
            message: "",
        },
        Case {
            name: "bad protobuf",
            send: Box::new(|c| {
                c.admin()?.request(
                    "POST",
                    CSRS,
                    Some(PROTOBUF),
                    b"k8s\0\x0a\xff\xff\xff\xff\x0f garbage",
                )
            }),
            code: 400,
            reason: "BadRequest",
            message: "",
        },
        Case {
            name: "protobuf without the k8s envelope",
            send: Box::new(|c| {
                c.admin()?.request(
                    "POST",
                    CSRS,
                    Some(PROTOBUF),
                    b"{\"kind\":\"CertificateSigningRequest\"}",
                )
            }),
            code: 400,
            reason: "BadRequest",
            message: "",
        },
        Case {
            name: "expired bootstrap token",
            send: Box::new(|c| {
                let token = c.create_bootstrap_token(
                    "expird",
                    "0123456789abcdef",
                    Some("2000-01-01T00:00:00Z"),
                )?;
                c.https(Identity::Token(token))?
                    .request("GET", CSRS, None, b"")
            }),
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized",
        },
        Case {
            name: "token of a deleted Secret",
            send: Box::new(|c| {
                let token = c.create_bootstrap_token("delete", "0123456789abcdef", None)?;
                let client = c.https(Identity::Token(token))?;
                // Known first (not 401), then forgotten once the Secret is gone.
                let before = client.request("GET", CSRS, None, b"")?;
                anyhow::ensure!(before.status != 401, "token rejected before deletion");
                c.kubectl()?.ok([
                    "delete",
                    "secret",
                    "-n",
                    "kube-system",
                    "bootstrap-token-delete",
                ])?;
                e2e::wait::until(
                    "the deleted token to be refused",
                    std::time::Duration::from_secs(10),
                    std::time::Duration::from_millis(50),
                    || {
                        let r = client
                            .request("GET", CSRS, None, b"")
                            .map_err(|e| e.to_string())?;
                        if r.status == 401 {
                            Ok(Some(r))
                        } else {
                            Err(format!("HTTP {}", r.status))
                        }
                    },
                )
            }),
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized",
        },
        Case {
            name: "client certificate from another CA",
            send: Box::new(|c| {
                let other = pki::CertificateAuthority::generate(
                    "another-ca",
                    pki::KeyAlgorithm::EcdsaP256,
                    std::time::Duration::from_secs(3600),
                )?;
                let (cert_pem, key_pem) = other.issue_leaf(&pki::LeafParams {
                    common_name: "admin".to_string(),
                    organizations: vec!["system:masters".to_string()],
                    dns: Vec::new(),
                    ips: Vec::new(),
                    usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
                    validity: std::time::Duration::from_secs(3600),
                })?;
                c.https(Identity::Certificate { cert_pem, key_pem })?
                    .request("GET", CSRS, None, b"")
            }),
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized",
        },
    ]
}

#[test]
fn bad_inputs_get_the_right_status() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(e) = check(&cluster, &case) {
            failures.push(format!("{e:#}"));
        }
    }
    // The server is still healthy after all of it.
    let health = cluster.admin()?.request("GET", "/healthz", None, b"")?;
    anyhow::ensure!(
        health.status == 200,
        "unhealthy after bad inputs; log:\n{}",
        cluster.log()
    );
    anyhow::ensure!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
