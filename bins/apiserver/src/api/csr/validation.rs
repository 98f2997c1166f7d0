//! CertificateSigningRequest validation, as upstream's `pkg/apis/certificates/validation`:
//! the rules every create and update must pass, plus the update-only rules that protect
//! approval conditions and the issued certificate.

use std::collections::HashSet;

use protocol::certificates::v1::{
    CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED, CertificateSigningRequest,
    CertificateSigningRequestCondition,
};
use protocol::meta::StatusCause;

use super::causes;
use super::certificate_pem::validate_certificate;
use super::signer_name::validate_signer_name;

/// The signer v1 clients may no longer name (only objects that already have it keep it).
pub(crate) const LEGACY_UNKNOWN_SIGNER: &str = "kubernetes.io/legacy-unknown";

const MIN_EXPIRATION_SECONDS: i32 = 600;

/// The 23 usage strings, sorted as upstream lists them in "supported values".
const SORTED_USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

const ALL_STATUS_VALUES: [&str; 3] = ["False", "True", "Unknown"];
const TRUE_ONLY: [&str; 1] = ["True"];

/// Which endpoint an update came through; each may change different parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    /// `PUT/PATCH .../{name}`
    Main,
    /// `PUT/PATCH .../{name}/status`
    Status,
    /// `PUT/PATCH .../{name}/approval`
    Approval,
}

/// Relaxations that let objects persisted under older rules keep being updated
/// (upstream's `certificateValidationOptions`).
#[derive(Debug, Default, Clone, Copy)]
struct Options {
    allow_both_approved_and_denied: bool,
    allow_legacy_signer_name: bool,
    allow_duplicate_condition_types: bool,
    allow_empty_condition_type: bool,
    allow_arbitrary_certificate: bool,
    allow_duplicate_usages: bool,
    allow_unknown_usages: bool,
    /// The request is the stored one (spec is immutable after create): it was parsed and its
    /// signature verified then, and re-verifying it on every approval and status write cost an
    /// ECDSA verify each (~7 % of the apiserver's CPU in a bootstrap storm).
    request_already_verified: bool,
}

impl Options {
    fn for_objects(
        new: &CertificateSigningRequest,
        old: Option<&CertificateSigningRequest>,
    ) -> Options {
        let Some(old) = old else {
            return Options::default();
        };
        let conditions = &old.status.conditions;
        let mut seen_types = HashSet::new();
        let mut seen_usages = HashSet::new();
        Options {
            allow_both_approved_and_denied: old.has_condition(CONDITION_APPROVED)
                && old.has_condition(CONDITION_DENIED),
            allow_legacy_signer_name: old.spec.signer_name == LEGACY_UNKNOWN_SIGNER,
            allow_duplicate_condition_types: !conditions
                .iter()
                .all(|c| seen_types.insert(c.type_.as_str())),
            allow_empty_condition_type: conditions.iter().any(|c| c.type_.is_empty()),
            allow_arbitrary_certificate: new.status.certificate == old.status.certificate,
            request_already_verified: new.spec.request == old.spec.request,
            allow_duplicate_usages: !old
                .spec
                .usages
                .iter()
                .all(|u| seen_usages.insert(u.as_str())),
            allow_unknown_usages: old
                .spec
                .usages
                .iter()
                .any(|u| !SORTED_USAGES.contains(&u.as_str())),
        }
    }
}

/// Create-time validation: every rule, no relaxations.
pub(crate) fn validate_create(csr: &CertificateSigningRequest) -> Vec<StatusCause> {
    validate_object(csr, Options::for_objects(csr, None))
}

/// Update-time validation through `kind` of `new` (already prepared) against the stored `old`.
pub(crate) fn validate_update(
    kind: UpdateKind,
    new: &CertificateSigningRequest,
    old: &CertificateSigningRequest,
) -> Vec<StatusCause> {
    let mut causes = validate_object(new, Options::for_objects(new, Some(old)));
    let conditions_field = "status.conditions";

    for type_ in [CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED] {
        if conditions_of(new, type_).len() < conditions_of(old, type_).len() {
            causes.push(StatusCause::forbidden(
                conditions_field,
                &format!("updates may not remove a condition of type {type_:?}"),
            ));
        }
    }

    if kind != UpdateKind::Approval {
        for type_ in [CONDITION_APPROVED, CONDITION_DENIED] {
            let (old_conditions, new_conditions) =
                (conditions_of(old, type_), conditions_of(new, type_));
            if new_conditions.len() > old_conditions.len() {
                causes.push(StatusCause::forbidden(
                    conditions_field,
                    &format!("updates may not add a condition of type {type_:?}"),
                ));
            } else if new_conditions.len() == old_conditions.len()
                && new_conditions != old_conditions
            {
                causes.push(StatusCause::forbidden(
                    conditions_field,
                    &format!("updates may not modify a condition of type {type_:?}"),
                ));
            }
        }
    }

    if new.status.certificate != old.status.certificate {
        let certificate_field = "status.certificate";
        if kind != UpdateKind::Status {
            causes.push(StatusCause::forbidden(
                certificate_field,
                "updates may not set certificate content",
            ));
        } else if !old.status.certificate.is_empty() {
            causes.push(StatusCause::forbidden(
                certificate_field,
                "updates may not modify existing certificate content",
            ));
        }
    }
    causes
}

fn conditions_of<'a>(
    csr: &'a CertificateSigningRequest,
    type_: &str,
) -> Vec<&'a CertificateSigningRequestCondition> {
    csr.status
        .conditions
        .iter()
        .filter(|c| c.type_ == type_)
        .collect()
}

fn validate_object(csr: &CertificateSigningRequest, opts: Options) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let spec = &csr.spec;

    if !opts.request_already_verified
        && let Err(error) = pki::Csr::from_pem(&spec.request)
    {
        causes.push(causes::invalid_formatted(
            "spec.request",
            &causes::go_bytes(&spec.request),
            &error.to_string(),
        ));
    }

    if spec.usages.is_empty() {
        causes.push(StatusCause::required("spec.usages", ""));
    }
    if !opts.allow_unknown_usages {
        for (i, usage) in spec.usages.iter().enumerate() {
            if !SORTED_USAGES.contains(&usage.as_str()) {
                causes.push(StatusCause::not_supported(
                    &format!("spec.usages[{i}]"),
                    usage,
                    &SORTED_USAGES,
                ));
            }
        }
    }
    if !opts.allow_duplicate_usages {
        let mut seen = HashSet::new();
        for (i, usage) in spec.usages.iter().enumerate() {
            if !seen.insert(usage.as_str()) {
                causes.push(causes::duplicate(&format!("spec.usages[{i}]"), usage));
            }
        }
    }

    if !opts.allow_legacy_signer_name && spec.signer_name == LEGACY_UNKNOWN_SIGNER {
        causes.push(StatusCause::invalid_value(
            "spec.signerName",
            &spec.signer_name,
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        causes.extend(validate_signer_name("spec.signerName", &spec.signer_name));
    }

    if let Some(seconds) = spec
        .expiration_seconds
        .filter(|s| *s < MIN_EXPIRATION_SECONDS)
    {
        causes.push(causes::invalid_formatted(
            "spec.expirationSeconds",
            &seconds.to_string(),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }

    causes.extend(validate_conditions(csr, opts));

    // An unchanged certificate is not re-checked (it was valid when it was set).
    if !opts.allow_arbitrary_certificate
        && let Err(detail) = validate_certificate(&csr.status.certificate)
    {
        causes.push(StatusCause::invalid_value(
            "status.certificate",
            "<certificate data>",
            &detail,
        ));
    }
    causes
}

fn validate_conditions(csr: &CertificateSigningRequest, opts: Options) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let mut seen_types = HashSet::new();
    let (mut has_approved, mut has_denied) = (false, false);

    for (i, condition) in csr.status.conditions.iter().enumerate() {
        let type_field = format!("status.conditions[{i}].type");
        let status_field = format!("status.conditions[{i}].status");
        let type_ = condition.type_.as_str();

        if !opts.allow_empty_condition_type && type_.is_empty() {
            causes.push(StatusCause::required(&type_field, ""));
        }

        let allowed: &[&str] =
            if [CONDITION_APPROVED, CONDITION_DENIED, CONDITION_FAILED].contains(&type_) {
                &TRUE_ONLY
            } else {
                &ALL_STATUS_VALUES
            };
        if condition.status.is_empty() {
            causes.push(StatusCause::required(&status_field, ""));
        } else if !allowed.contains(&condition.status.as_str()) {
            causes.push(StatusCause::not_supported(
                &status_field,
                &condition.status,
                allowed,
            ));
        }

        if !opts.allow_both_approved_and_denied {
            let conflicting = match type_ {
                CONDITION_APPROVED => {
                    has_approved = true;
                    has_denied
                }
                CONDITION_DENIED => {
                    has_denied = true;
                    has_approved
                }
                _ => false,
            };
            if conflicting {
                causes.push(StatusCause::invalid_value(
                    &type_field,
                    type_,
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }

        if !opts.allow_duplicate_condition_types && !seen_types.insert(type_) {
            causes.push(causes::duplicate(&type_field, type_));
        }
    }
    causes
}
