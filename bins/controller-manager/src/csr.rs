//! What the controllers ask of a CertificateSigningRequest's status (upstream's
//! `certificates/helpers`), and the condition they add.

use protocol::authentication::v1::{
    EXPIRED_CLIENT_CERTIFICATE_GROUP, EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX,
};
use protocol::certificates::v1::{
    CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED, CertificateSigningRequest,
    CertificateSigningRequestCondition,
};
use protocol::meta::Time;

/// `status.certificate` is set.
pub fn is_issued(csr: &CertificateSigningRequest) -> bool {
    !csr.status.certificate.is_empty()
}

/// Upstream's `GetCertApprovalCondition`: any condition of the type counts (validation only
/// lets Approved/Denied have status True).
fn has_type(csr: &CertificateSigningRequest, condition_type: &str) -> bool {
    csr.status
        .conditions
        .iter()
        .any(|c| c.type_ == condition_type)
}

pub fn is_approved(csr: &CertificateSigningRequest) -> bool {
    has_type(csr, CONDITION_APPROVED)
}

pub fn is_denied(csr: &CertificateSigningRequest) -> bool {
    has_type(csr, CONDITION_DENIED)
}

/// Upstream's `HasTrueCondition(csr, Failed)`: status True, or empty.
pub fn is_failed(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .conditions
        .iter()
        .any(|c| c.type_ == CONDITION_FAILED && (c.status.is_empty() || c.status == "True"))
}

/// A `status: "True"` condition. `last_update_time` is left to the server when `None`.
pub fn true_condition(
    condition_type: &str,
    reason: &str,
    message: &str,
    last_update_time: Option<Time>,
) -> CertificateSigningRequestCondition {
    CertificateSigningRequestCondition {
        type_: condition_type.to_string(),
        status: "True".to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_update_time,
        last_transition_time: None,
    }
}

/// The node user (`system:node:<name>`) the requester of `csr` proves to be: its own name,
/// or, for the identity the apiserver gives a node's expired certificate (decision 0027), that
/// certificate's. `None` for everyone else.
pub fn requesting_node(csr: &CertificateSigningRequest) -> Option<&str> {
    let requester = csr.spec.username.as_str();
    let user = match requester.strip_prefix(EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX) {
        Some(user)
            if csr
                .spec
                .groups
                .iter()
                .any(|g| g == EXPIRED_CLIENT_CERTIFICATE_GROUP) =>
        {
            user
        }
        Some(_) => return None,
        None => requester,
    };
    user.starts_with(pki::signer::NODE_CN_PREFIX)
        .then_some(user)
}

/// Resource versions of this apiserver are numbers that only grow; an older copy never
/// replaces a newer one. Unparsable versions (another server) always replace.
pub fn is_newer_or_same(candidate: &str, current: &str) -> bool {
    match (candidate.parse::<u64>(), current.parse::<u64>()) {
        (Ok(a), Ok(b)) => a >= b,
        _ => true,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn with_conditions(types: &[(&str, &str)]) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.status.conditions = types
            .iter()
            .map(|(t, s)| CertificateSigningRequestCondition {
                type_: t.to_string(),
                status: s.to_string(),
                ..Default::default()
            })
            .collect();
        csr
    }

    #[test]
    fn conditions_are_read_as_upstream_reads_them() {
        let csr = with_conditions(&[("Approved", "True")]);
        assert!(is_approved(&csr) && !is_denied(&csr) && !is_failed(&csr));
        assert!(is_failed(&with_conditions(&[("Failed", "")])));
        assert!(!is_failed(&with_conditions(&[("Failed", "False")])));
        assert!(is_denied(&with_conditions(&[("Denied", "True")])));
        assert!(!is_issued(&csr));
    }

    #[test]
    fn resource_versions_compare_as_numbers() {
        assert!(is_newer_or_same("10", "9"));
        assert!(is_newer_or_same("9", "9"));
        assert!(!is_newer_or_same("9", "10"));
        assert!(is_newer_or_same("abc", "10"));
    }
}
