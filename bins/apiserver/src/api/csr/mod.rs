//! `certificates.k8s.io/v1` CertificateSigningRequest: the [`Strategy`] that stamps the
//! requester on create, keeps each endpoint (main, `/status`, `/approval`) to what it may change,
//! validates as upstream does, and runs the certificate admission plugins.
//!
//! The generic REST code hands objects over as JSON values; this module works on the typed
//! `protocol` form and writes back only `spec` and `status`, leaving metadata to the generic code.

// `meta/v1.Status` is the error type of the `Strategy` seam: the response body itself,
// built only on the (rare) failure path, so it is not boxed.
#![allow(clippy::result_large_err)]

mod admission;
mod causes;
mod certificate_pem;
mod prepare;
mod signer_name;
mod validation;

#[cfg(test)]
mod tests;

use protocol::Resource as _;
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::meta::{Status, StatusCause, Time};
use serde_json::Value;

use crate::api::create_limit::RateKey;
use crate::api::{AdmissionContext, Operation, Strategy, object};
use validation::UpdateKind;

const GROUP: &str = protocol::certificates::v1::GROUP;
const RESOURCE: &str = "certificatesigningrequests";

/// The CertificateSigningRequest behaviour (stateless; the authorizer comes with each admission).
#[derive(Debug, Default, Clone, Copy)]
pub struct CsrStrategy;

impl Strategy for CsrStrategy {
    fn prepare_create(&self, obj: &mut Value, user: &rbac::UserInfo) -> Result<(), Status> {
        let mut csr = decode(obj)?;
        prepare::prepare_create(&mut csr, user);
        write_back(obj, &csr)
    }

    fn validate_create(&self, obj: &Value) -> Result<(), Status> {
        let csr = decode(obj)?;
        invalid_if_any(&csr, validation::validate_create(&csr))
    }

    fn prepare_update(
        &self,
        subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        let kind = update_kind(subresource)?;
        let (mut new_csr, old_csr) = (decode(new)?, decode(old)?);
        prepare::prepare_update(kind, &mut new_csr, &old_csr, Time::now());
        write_back(new, &new_csr)
    }

    fn validate_update(&self, subresource: &str, new: &Value, old: &Value) -> Result<(), Status> {
        let kind = update_kind(subresource)?;
        let (new_csr, old_csr) = (decode(new)?, decode(old)?);
        invalid_if_any(
            &new_csr,
            validation::validate_update(kind, &new_csr, &old_csr),
        )
    }

    fn admit(&self, ctx: &AdmissionContext<'_>) -> Result<(), Status> {
        let new = decode(ctx.object)?;
        match (ctx.operation, ctx.subresource, ctx.old_object) {
            (Operation::Create, "", _) => admission::admit_create(&new),
            (Operation::Update, "approval", Some(old)) => {
                admission::admit_approval(&new, &decode(old)?, ctx.user, ctx.authorizer)
            }
            (Operation::Update, "status", Some(old)) => {
                admission::admit_status(&new, &decode(old)?, ctx.user, ctx.authorizer)
            }
            _ => Ok(()),
        }
    }

    fn subresources(&self) -> &'static [&'static str] {
        &["approval", "status"]
    }

    fn create_rate_key(&self, obj: &Value, user: &rbac::UserInfo) -> Option<RateKey> {
        rate_key(&decode(obj).ok()?, user)
    }
}

/// The signers whose requests a kubelet makes by itself, over and over if it misbehaves.
const KUBELET_SIGNERS: [&str; 2] = [
    pki::signer::KUBE_APISERVER_CLIENT_KUBELET,
    pki::signer::KUBELET_SERVING,
];

/// A request to a kubelet signer counts against its requester, signer and node (decision
/// 0030). The node is part of the key because one bootstrap token may serve a whole fleet;
/// requests to other signers (e.g. cert-manager's) are not limited.
fn rate_key(csr: &CertificateSigningRequest, user: &rbac::UserInfo) -> Option<RateKey> {
    let signer = csr.spec.signer_name.as_str();
    if !KUBELET_SIGNERS.contains(&signer) {
        return None;
    }
    // Validation has parsed the request already; a CN-less one counts under "".
    let parsed = pki::ParsedCsr::from_pem(&csr.spec.request).ok()?;
    let common_name = parsed.common_name().unwrap_or_default();
    let node = common_name
        .strip_prefix(pki::signer::NODE_CN_PREFIX)
        .unwrap_or(common_name);
    Some(RateKey {
        requester: user.name.clone(),
        signer: signer.to_string(),
        node: node.to_string(),
    })
}

fn update_kind(subresource: &str) -> Result<UpdateKind, Status> {
    match subresource {
        "" => Ok(UpdateKind::Main),
        "status" => Ok(UpdateKind::Status),
        "approval" => Ok(UpdateKind::Approval),
        other => Err(
            Status::path_not_found().with_details(protocol::meta::StatusDetails {
                kind: format!("{RESOURCE}/{other}"),
                group: GROUP.to_string(),
                ..Default::default()
            }),
        ),
    }
}

fn decode(obj: &Value) -> Result<CertificateSigningRequest, Status> {
    object::decode(obj)
}

fn write_back(obj: &mut Value, csr: &CertificateSigningRequest) -> Result<(), Status> {
    object::write_spec_and_status(obj, &csr.spec, &csr.status)
}

/// 422 `CertificateSigningRequest.certificates.k8s.io "name" is invalid: ...` when `causes` is non-empty.
fn invalid_if_any(csr: &CertificateSigningRequest, causes: Vec<StatusCause>) -> Result<(), Status> {
    object::invalid_if_any(
        GROUP,
        CertificateSigningRequest::KIND,
        &csr.metadata.name,
        causes,
    )
}
