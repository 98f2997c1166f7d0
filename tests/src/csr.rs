//! CertificateSigningRequest bodies for the tests: real PKCS#10 requests made with `pki`.

use base64::Engine as _;
use serde_json::{Value, json};

pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A fresh P-256 CSR for `CN=common_name, O=organizations`, PEM.
pub fn request_pem(common_name: &str, organizations: &[&str]) -> anyhow::Result<String> {
    let key = pki::PrivateKey::generate_p256()?;
    let subject = pki::CsrSubject {
        common_name: common_name.to_string(),
        organizations: organizations.iter().map(|o| o.to_string()).collect(),
    };
    Ok(pki::build_csr(
        &key,
        &subject,
        &pki::SubjectAltNames::default(),
    )?)
}

/// A kubelet client CSR (`CN=system:node:<node>, O=system:nodes`), PEM.
pub fn node_request_pem(node: &str) -> anyhow::Result<String> {
    request_pem(&format!("system:node:{node}"), &["system:nodes"])
}

/// The same CSR with one bit of its signature flipped: still parseable, no longer verifiable.
pub fn with_broken_signature(pem: &str) -> anyhow::Result<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = B64.decode(body)?;
    let last = der
        .len()
        .checked_sub(1)
        .ok_or_else(|| anyhow::anyhow!("empty CSR"))?;
    der[last] ^= 0x01;
    Ok(format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        B64.encode(der)
    ))
}

/// A CertificateSigningRequest object (JSON, which is also YAML for `kubectl create -f`).
pub fn manifest(name: &str, request_pem: &str, signer: &str, usages: &[&str]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": B64.encode(request_pem),
            "signerName": signer,
            "usages": usages,
        },
    })
}

/// The usual kubelet client CSR object for node `node`.
pub fn node_manifest(name: &str, node: &str) -> anyhow::Result<Value> {
    Ok(manifest(
        name,
        &node_request_pem(node)?,
        KUBELET_CLIENT_SIGNER,
        &["digital signature", "client auth"],
    ))
}
