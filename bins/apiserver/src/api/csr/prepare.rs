//! What the server itself writes into a CertificateSigningRequest before validation, per
//! endpoint (upstream's `PrepareForCreate` / `PrepareForUpdate` of the three strategies).

use protocol::certificates::v1::{
    CONDITION_APPROVED, CONDITION_DENIED, CertificateSigningRequest,
    CertificateSigningRequestStatus, ExtraValue,
};
use protocol::meta::Time;

use super::validation::UpdateKind;

/// Create: requester fields come from the authenticated user, never from the body, and the
/// status starts empty so nobody can create a pre-approved request.
pub(crate) fn prepare_create(csr: &mut CertificateSigningRequest, user: &rbac::UserInfo) {
    let spec = &mut csr.spec;
    spec.username = user.name.clone();
    spec.uid = user.uid.clone();
    spec.groups = user.groups.clone();
    spec.extra = user
        .extra
        .iter()
        .map(|(key, values)| (key.clone(), ExtraValue::from(values.clone())))
        .collect();
    csr.status = CertificateSigningRequestStatus::default();
}

/// Update through `kind`: copies back from `old` what that endpoint may not change, and fills
/// condition timestamps (status and approval) with `now`.
pub(crate) fn prepare_update(
    kind: UpdateKind,
    new: &mut CertificateSigningRequest,
    old: &CertificateSigningRequest,
    now: Time,
) {
    new.spec = old.spec.clone();
    match kind {
        // Only metadata may change through the main resource.
        UpdateKind::Main => new.status = old.status.clone(),
        UpdateKind::Status => {
            // One client must not approve and certify at once: approval conditions stay as stored
            // (adding or removing them is then caught by validation).
            preserve_condition_instances(new, old, CONDITION_APPROVED);
            preserve_condition_instances(new, old, CONDITION_DENIED);
            populate_condition_timestamps(new, old, now);
        }
        UpdateKind::Approval => {
            new.status.certificate = old.status.certificate.clone();
            populate_condition_timestamps(new, old, now);
        }
    }
}

/// Copies the stored conditions of `type_` over the new ones, position by position, when the
/// number of them did not change.
fn preserve_condition_instances(
    new: &mut CertificateSigningRequest,
    old: &CertificateSigningRequest,
    type_: &str,
) {
    let old_instances: Vec<_> = old
        .status
        .conditions
        .iter()
        .filter(|c| c.type_ == type_)
        .collect();
    let new_indices: Vec<usize> = new
        .status
        .conditions
        .iter()
        .enumerate()
        .filter(|(_, c)| c.type_ == type_)
        .map(|(i, _)| i)
        .collect();
    if old_instances.len() != new_indices.len() {
        return;
    }
    for (index, old_condition) in new_indices.into_iter().zip(old_instances) {
        new.status.conditions[index] = old_condition.clone();
    }
}

fn is_unset(time: Option<&Time>) -> bool {
    time.is_none_or(Time::is_zero)
}

/// A missing `lastUpdateTime` becomes now; a missing `lastTransitionTime` is taken from a stored
/// condition with the same type and status, else now.
fn populate_condition_timestamps(
    new: &mut CertificateSigningRequest,
    old: &CertificateSigningRequest,
    now: Time,
) {
    for condition in &mut new.status.conditions {
        if is_unset(condition.last_update_time.as_ref()) {
            condition.last_update_time = Some(now);
        }
        if is_unset(condition.last_transition_time.as_ref()) {
            let stored = old.status.conditions.iter().find(|o| {
                o.type_ == condition.type_
                    && o.status == condition.status
                    && !is_unset(o.last_transition_time.as_ref())
            });
            condition.last_transition_time =
                Some(stored.and_then(|o| o.last_transition_time).unwrap_or(now));
        }
    }
}
