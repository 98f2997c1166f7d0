//! The well-known Kubernetes signers' rules on what they will sign (upstream
//! `pkg/apis/certificates/v1/helpers.go` and `pkg/controller/certificates/signer/signer.go`):
//! same checks, same order, same messages.

use std::collections::BTreeSet;

use crate::csr::ParsedCsr;
use crate::usage::Usage;

/// Client certificates for kubelets talking to the apiserver.
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Serving certificates for kubelets' own HTTPS endpoints.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
/// Any client certificate for the apiserver.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// The pre-1.18 catch-all signer; no restrictions, not creatable through v1.
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

const NODE_ORGANIZATION: &str = "system:nodes";
pub const NODE_CN_PREFIX: &str = "system:node:";

/// Why a signer refuses a request. `Display` is upstream's exact message (it becomes the
/// `Failed` condition's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    #[error("subject organization is not system:nodes")]
    OrganizationNotSystemNodes,
    #[error("subject common name does not begin with system:node:")]
    CommonNameNotSystemNode,
    #[error("DNS or IP subjectAltName is required")]
    DnsOrIpSanRequired,
    #[error("DNS subjectAltNames are not allowed")]
    DnsSanNotAllowed,
    #[error("Email subjectAltNames are not allowed")]
    EmailSanNotAllowed,
    #[error("IP subjectAltNames are not allowed")]
    IpSanNotAllowed,
    #[error("URI subjectAltNames are not allowed")]
    UriSanNotAllowed,
    /// The usage set is not one of the two allowed sets; carries the sorted RSA set.
    #[error("usages did not match [{}]", .0.join(" "))]
    UsagesDidNotMatch(Vec<&'static str>),
    #[error("invalid usage for client certificate: {0}")]
    InvalidClientUsage(Usage),
    #[error("missing required usage for client certificate: client auth")]
    MissingClientAuth,
    /// A signer name this crate has no policy for.
    #[error("unsupported signer name {0:?}")]
    UnknownSigner(String),
}

/// Runs the policy of `signer_name` on a request.
pub fn validate(signer_name: &str, csr: &ParsedCsr, usages: &[Usage]) -> Result<(), SignerError> {
    match signer_name {
        KUBE_APISERVER_CLIENT_KUBELET => validate_kubelet_client(csr, usages),
        KUBELET_SERVING => validate_kubelet_serving(csr, usages),
        KUBE_APISERVER_CLIENT => validate_kube_apiserver_client(usages),
        LEGACY_UNKNOWN => Ok(()),
        other => Err(SignerError::UnknownSigner(other.to_string())),
    }
}

/// The approver's "nodeclient" test: would the kubelet client signer accept this request?
pub fn is_kubelet_client_request(csr: &ParsedCsr, usages: &[Usage]) -> bool {
    validate_kubelet_client(csr, usages).is_ok()
}

fn check_node_organization(csr: &ParsedCsr) -> Result<(), SignerError> {
    // reflect.DeepEqual([]string{"system:nodes"}, Organization): exactly one entry.
    if csr.organizations() != [NODE_ORGANIZATION] {
        return Err(SignerError::OrganizationNotSystemNodes);
    }
    Ok(())
}

fn check_node_common_name(csr: &ParsedCsr) -> Result<(), SignerError> {
    if !csr.common_name().unwrap_or("").starts_with(NODE_CN_PREFIX) {
        return Err(SignerError::CommonNameNotSystemNode);
    }
    Ok(())
}

/// Set equality against `{digital signature, key encipherment, <purpose>}` or the same without
/// key encipherment (ECDSA kubelets send two usages, RSA ones three).
fn check_usage_set(usages: &[Usage], purpose: Usage) -> Result<(), SignerError> {
    let given: BTreeSet<Usage> = usages.iter().copied().collect();
    let with_rsa: BTreeSet<Usage> =
        [Usage::DigitalSignature, Usage::KeyEncipherment, purpose].into();
    let without_rsa: BTreeSet<Usage> = [Usage::DigitalSignature, purpose].into();
    if given != with_rsa && given != without_rsa {
        let mut names: Vec<&'static str> = with_rsa.iter().map(|u| u.as_str()).collect();
        names.sort_unstable();
        return Err(SignerError::UsagesDidNotMatch(names));
    }
    Ok(())
}

/// `ValidateKubeletClientCSR`: O, then DNS, email, IP, URI SANs, then CN, then usages.
fn validate_kubelet_client(csr: &ParsedCsr, usages: &[Usage]) -> Result<(), SignerError> {
    check_node_organization(csr)?;
    if !csr.dns_names().is_empty() {
        return Err(SignerError::DnsSanNotAllowed);
    }
    if !csr.email_addresses().is_empty() {
        return Err(SignerError::EmailSanNotAllowed);
    }
    if !csr.ip_addresses().is_empty() {
        return Err(SignerError::IpSanNotAllowed);
    }
    if !csr.uris().is_empty() {
        return Err(SignerError::UriSanNotAllowed);
    }
    check_node_common_name(csr)?;
    check_usage_set(usages, Usage::ClientAuth)
}

/// `ValidateKubeletServingCSR`: O, then DNS-or-IP required, no email, no URI, then CN, then usages.
fn validate_kubelet_serving(csr: &ParsedCsr, usages: &[Usage]) -> Result<(), SignerError> {
    check_node_organization(csr)?;
    if csr.dns_names().is_empty() && csr.ip_addresses().is_empty() {
        return Err(SignerError::DnsOrIpSanRequired);
    }
    if !csr.email_addresses().is_empty() {
        return Err(SignerError::EmailSanNotAllowed);
    }
    if !csr.uris().is_empty() {
        return Err(SignerError::UriSanNotAllowed);
    }
    check_node_common_name(csr)?;
    check_usage_set(usages, Usage::ServerAuth)
}

/// `validAPIServerClientUsages`: only digital signature, key encipherment and client auth, in
/// the order given; client auth required.
fn validate_kube_apiserver_client(usages: &[Usage]) -> Result<(), SignerError> {
    let mut has_client_auth = false;
    for usage in usages {
        match usage {
            Usage::DigitalSignature | Usage::KeyEncipherment => {}
            Usage::ClientAuth => has_client_auth = true,
            other => return Err(SignerError::InvalidClientUsage(*other)),
        }
    }
    if !has_client_auth {
        return Err(SignerError::MissingClientAuth);
    }
    Ok(())
}
