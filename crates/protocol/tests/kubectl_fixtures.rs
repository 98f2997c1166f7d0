//! Decodes protobuf bodies captured from real kubectl v1.32 (see `fixtures/capture.py`).

use protocol::authorization::v1::SelfSubjectAccessReview;
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::envelope;
use protocol::rbac::v1::ClusterRoleBinding;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn create_clusterrolebinding() {
    let binding: ClusterRoleBinding =
        envelope::decode(&fixture("create-clusterrolebinding.pb")).unwrap();
    assert_eq!(binding.metadata.name, "create-csrs-for-bootstrapping");
    assert_eq!(binding.metadata.creation_timestamp, None);
    assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, "system:node-bootstrapper");
    assert_eq!(binding.subjects.len(), 1);
    let subject = &binding.subjects[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.api_group.as_str(),
            subject.name.as_str()
        ),
        ("Group", "rbac.authorization.k8s.io", "system:bootstrappers")
    );
}

fn approval(name: &str) -> CertificateSigningRequest {
    let csr: CertificateSigningRequest = envelope::decode(&fixture(name)).unwrap();
    // Everything the fake server returned on GET is sent back unchanged.
    assert_eq!(csr.metadata.name, "node-csr-fixture");
    assert_eq!(csr.metadata.resource_version, "7");
    assert_eq!(csr.metadata.uid, "0b1d2a3c-0000-4000-8000-000000000001");
    assert_eq!(
        csr.metadata.creation_timestamp.unwrap().to_string(),
        "2024-05-01T10:00:00Z"
    );
    assert_eq!(
        csr.spec.signer_name,
        "kubernetes.io/kube-apiserver-client-kubelet"
    );
    assert_eq!(csr.spec.usages, ["digital signature", "client auth"]);
    assert_eq!(csr.spec.username, "system:bootstrap:abcdef");
    assert_eq!(
        csr.spec.groups,
        ["system:bootstrappers", "system:authenticated"]
    );
    assert!(
        csr.spec
            .request
            .starts_with(b"-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_eq!(csr.status.conditions.len(), 1);
    let condition = &csr.status.conditions[0];
    assert_eq!(condition.status, "True");
    // kubectl stamps lastUpdateTime only; the zero lastTransitionTime decodes as absent.
    assert!(condition.last_update_time.is_some());
    assert_eq!(condition.last_transition_time, None);
    csr
}

#[test]
fn certificate_approve() {
    let csr = approval("certificate-approve.pb");
    let condition = &csr.status.conditions[0];
    assert_eq!(condition.type_, "Approved");
    assert_eq!(condition.reason, "KubectlApprove");
    assert_eq!(
        condition.message,
        "This CSR was approved by kubectl certificate approve."
    );
    assert_eq!(csr.condition_summary(), "Approved");
}

#[test]
fn certificate_deny() {
    let csr = approval("certificate-deny.pb");
    let condition = &csr.status.conditions[0];
    assert_eq!(condition.type_, "Denied");
    assert_eq!(condition.reason, "KubectlDeny");
    assert_eq!(
        condition.message,
        "This CSR was denied by kubectl certificate deny."
    );
    assert_eq!(csr.condition_summary(), "Denied");
}

#[test]
fn auth_can_i() {
    let review: SelfSubjectAccessReview = envelope::decode(&fixture("auth-can-i.pb")).unwrap();
    let attributes = review
        .spec
        .resource_attributes
        .expect("resource attributes");
    assert_eq!(attributes.verb, "create");
    assert_eq!(attributes.group, "certificates.k8s.io");
    assert_eq!(attributes.resource, "certificatesigningrequests");
    assert_eq!(attributes.name, "");
    assert!(review.spec.non_resource_attributes.is_none());
    assert!(!review.status.allowed);
}

#[test]
fn reencoding_decodes_to_the_same_object() {
    for name in ["certificate-approve.pb", "certificate-deny.pb"] {
        let csr: CertificateSigningRequest = envelope::decode(&fixture(name)).unwrap();
        let again: CertificateSigningRequest = envelope::decode(&envelope::encode(&csr)).unwrap();
        assert_eq!(again, csr);
    }
    let binding: ClusterRoleBinding =
        envelope::decode(&fixture("create-clusterrolebinding.pb")).unwrap();
    let again: ClusterRoleBinding = envelope::decode(&envelope::encode(&binding)).unwrap();
    assert_eq!(again, binding);
}

#[test]
fn every_truncation_of_a_real_body_is_an_error_or_a_value_never_a_panic() {
    let body = fixture("certificate-approve.pb");
    for len in 0..body.len() {
        let _ = envelope::decode::<CertificateSigningRequest>(&body[..len]);
    }
}
