//! The three certificate admission plugins upstream enables by default:
//! CertificateSubjectRestriction (create), CertificateApproval (`/approval`) and
//! CertificateSigning (`/status`). Each answers 403 in upstream's words.

use protocol::certificates::v1::{CONDITION_APPROVED, CONDITION_DENIED, CertificateSigningRequest};
use protocol::meta::Status;
use rbac::{Attributes, Authorizer, Decision, UserInfo};

use super::{GROUP, RESOURCE};

/// The signer whose certificates authenticate to the apiserver as anything the CSR says.
const KUBE_APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
const SYSTEM_MASTERS: &str = "system:masters";

/// 403 `certificatesigningrequests.certificates.k8s.io "name" is forbidden: <reason>`.
fn forbidden(name: &str, reason: &str) -> Status {
    let message = format!("{RESOURCE}.{GROUP} {name:?} is forbidden: {reason}");
    Status::forbidden(GROUP, RESOURCE, name, message)
}

/// CertificateSubjectRestriction: nobody may ask the kube-apiserver-client signer for a
/// `system:masters` certificate (it would be cluster-admin forever).
pub(crate) fn admit_create(csr: &CertificateSigningRequest) -> Result<(), Status> {
    if csr.spec.signer_name != KUBE_APISERVER_CLIENT_SIGNER {
        return Ok(());
    }
    let name = csr.metadata.name.as_str();
    // Upstream parses without verifying here; validation verifies the signature.
    let parsed = pki::ParsedCsr::from_pem(&csr.spec.request)
        .map_err(|e| forbidden(name, &format!("failed to parse CSR: {e}")))?;
    if parsed.organizations().iter().any(|o| o == SYSTEM_MASTERS) {
        return Err(forbidden(
            name,
            &format!(
                "use of {KUBE_APISERVER_CLIENT_SIGNER} signer with {SYSTEM_MASTERS} group is not allowed"
            ),
        ));
    }
    Ok(())
}

/// CertificateApproval: adding or changing an Approved/Denied condition needs `approve` on the
/// signer.
pub(crate) fn admit_approval(
    new: &CertificateSigningRequest,
    old: &CertificateSigningRequest,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Result<(), Status> {
    let decisions = |csr: &CertificateSigningRequest| {
        csr.status
            .conditions
            .iter()
            .filter(|c| c.type_ == CONDITION_APPROVED || c.type_ == CONDITION_DENIED)
            .cloned()
            .collect::<Vec<_>>()
    };
    if decisions(new) == decisions(old) {
        return Ok(());
    }
    let signer = new.spec.signer_name.as_str();
    if is_authorized_for_signer(authorizer, user, "approve", signer) {
        return Ok(());
    }
    Err(forbidden(
        &new.metadata.name,
        &format!("user not permitted to approve requests with signerName {signer:?}"),
    ))
}

/// CertificateSigning: changing `status.certificate` needs `sign` on the signer.
pub(crate) fn admit_status(
    new: &CertificateSigningRequest,
    old: &CertificateSigningRequest,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Result<(), Status> {
    if new.status.certificate == old.status.certificate {
        return Ok(());
    }
    let signer = old.spec.signer_name.as_str();
    if is_authorized_for_signer(authorizer, user, "sign", signer) {
        return Ok(());
    }
    Err(forbidden(
        &new.metadata.name,
        &format!("user not permitted to sign requests with signerName {signer:?}"),
    ))
}

/// `verb` on `certificates.k8s.io/signers` named `signer`, or else named `<domain>/*`.
fn is_authorized_for_signer(
    authorizer: &dyn Authorizer,
    user: &UserInfo,
    verb: &str,
    signer: &str,
) -> bool {
    let ask = |name: String| {
        let attributes = Attributes::resource(user.clone(), verb, GROUP, "signers")
            .with_api_version("*")
            .with_name(name);
        authorizer.authorize(&attributes).0 == Decision::Allow
    };
    let domain = signer.split('/').next().unwrap_or_default();
    ask(signer.to_string()) || ask(format!("{domain}/*"))
}
