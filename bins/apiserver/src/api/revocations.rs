//! CertificateRevocations (ours, decision 0022): serial numbers stored in one form,
//! `issuedBefore` defaulted to the creation time, and a revocation that revokes nothing refused.

use protocol::Resource;
use protocol::meta::{Status, StatusCause, Time};
use protocol::revocation::v1alpha1::{self as revocation, CertificateRevocation, normalize_serial};
use serde_json::Value;

use super::Strategy;
use super::object;

/// The strategy of `certificaterevocations`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RevocationStrategy;

impl Strategy for RevocationStrategy {
    fn prepare_create(&self, obj: &mut Value, _user: &rbac::UserInfo) -> Result<(), Status> {
        let mut revocation: CertificateRevocation = object::decode(obj)?;
        let created = revocation
            .metadata
            .creation_timestamp
            .unwrap_or_else(Time::now);
        normalize(&mut revocation, created);
        write_spec(obj, &revocation)
    }

    fn validate_create(&self, obj: &Value) -> Result<(), Status> {
        validate(&object::decode(obj)?)
    }

    fn prepare_update(
        &self,
        _subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        let mut revocation: CertificateRevocation = object::decode(new)?;
        let old: CertificateRevocation = object::decode(old)?;
        // A `user` added later is dated by the update, not back to the creation: the
        // certificates issued in between were not meant when the object was made.
        let default = match (&old.spec.user, old.spec.issued_before) {
            (Some(_), Some(before)) => before,
            _ => Time::now(),
        };
        normalize(&mut revocation, default);
        write_spec(new, &revocation)
    }

    fn validate_update(&self, _subresource: &str, new: &Value, _old: &Value) -> Result<(), Status> {
        validate(&object::decode(new)?)
    }
}

/// Serials in the stored form, each once; `issuedBefore` set when a user is named.
fn normalize(revocation: &mut CertificateRevocation, default_issued_before: Time) {
    let spec = &mut revocation.spec;
    let mut seen = std::collections::HashSet::new();
    spec.serial_numbers = std::mem::take(&mut spec.serial_numbers)
        .into_iter()
        // An unreadable serial is kept as sent, so validation names it.
        .map(|serial| normalize_serial(&serial).unwrap_or(serial))
        .filter(|serial| seen.insert(serial.clone()))
        .collect();
    if spec.user.is_some() && spec.issued_before.is_none() {
        spec.issued_before = Some(default_issued_before);
    }
}

fn validate(revocation: &CertificateRevocation) -> Result<(), Status> {
    let spec = &revocation.spec;
    let mut causes = Vec::new();
    for (i, serial) in spec.serial_numbers.iter().enumerate() {
        if normalize_serial(serial).is_none() {
            causes.push(StatusCause::invalid_value(
                &format!("spec.serialNumbers[{i}]"),
                serial,
                "must be a serial number in hexadecimal (as `openssl x509 -serial` prints it), \
                 at most 20 octets",
            ));
        }
    }
    match spec.user.as_deref() {
        Some("") => causes.push(StatusCause::required("spec.user", "")),
        Some(_) => {}
        None if spec.serial_numbers.is_empty() => causes.push(StatusCause::required(
            "spec",
            "at least one of spec.serialNumbers and spec.user must be set",
        )),
        None => {}
    }
    if spec.user.is_none() && spec.issued_before.is_some() {
        causes.push(StatusCause::forbidden(
            "spec.issuedBefore",
            "may only be set with spec.user",
        ));
    }
    object::invalid_if_any(
        revocation::GROUP,
        CertificateRevocation::KIND,
        &revocation.metadata.name,
        causes,
    )
}

fn write_spec(obj: &mut Value, revocation: &CertificateRevocation) -> Result<(), Status> {
    let spec = serde_json::to_value(&revocation.spec).map_err(Status::internal_error)?;
    obj.as_object_mut()
        .ok_or_else(|| Status::bad_request("the object is not a JSON object"))?
        .insert("spec".to_string(), spec);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> rbac::UserInfo {
        rbac::UserInfo::new("admin", ["system:masters"])
    }

    fn created(spec: Value) -> Result<Value, Status> {
        let mut obj = json!({
            "metadata": {"name": "r", "creationTimestamp": "2025-06-01T00:00:00Z"},
            "spec": spec,
        });
        RevocationStrategy.prepare_create(&mut obj, &user())?;
        RevocationStrategy.validate_create(&obj)?;
        Ok(obj)
    }

    #[test]
    fn serials_are_normalized_once_and_issued_before_defaults_to_creation() {
        let obj = created(json!({
            "serialNumbers": ["4F:2A", "004f2a", "0B"],
            "user": "system:node:node-1",
        }))
        .unwrap();
        assert_eq!(obj["spec"]["serialNumbers"], json!(["4f2a", "0b"]));
        assert_eq!(obj["spec"]["issuedBefore"], "2025-06-01T00:00:00Z");

        let serial_only = created(json!({"serialNumbers": ["ab"]})).unwrap();
        assert!(serial_only["spec"].get("issuedBefore").is_none());

        let explicit = created(json!({
            "user": "jean", "issuedBefore": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(explicit["spec"]["issuedBefore"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn a_revocation_of_nothing_or_of_bad_serials_is_invalid() {
        let err = created(json!({})).unwrap_err();
        assert_eq!(err.http_code(), 422);
        assert!(
            err.message
                .contains("at least one of spec.serialNumbers and spec.user")
        );

        let err =
            created(json!({"serialNumbers": ["ab", "not-hex", &"ab".repeat(21)]})).unwrap_err();
        let fields: Vec<_> = err
            .details
            .as_ref()
            .unwrap()
            .causes
            .iter()
            .map(|c| c.field.clone())
            .collect();
        assert_eq!(fields, ["spec.serialNumbers[1]", "spec.serialNumbers[2]"]);

        let err = created(json!({"user": ""})).unwrap_err();
        assert!(
            err.message.contains("spec.user: Required value"),
            "{}",
            err.message
        );
        let err = created(json!({"serialNumbers": ["ab"], "issuedBefore": "2026-01-01T00:00:00Z"}))
            .unwrap_err();
        assert!(
            err.message.contains("spec.issuedBefore: Forbidden"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_update_keeps_the_date_and_dates_a_new_user_by_the_update() {
        let old = created(json!({"user": "jean"})).unwrap();
        let mut new = old.clone();
        new["spec"].as_object_mut().unwrap().remove("issuedBefore");
        RevocationStrategy
            .prepare_update("", &mut new, &old)
            .unwrap();
        assert_eq!(new["spec"]["issuedBefore"], "2025-06-01T00:00:00Z");

        let old = created(json!({"serialNumbers": ["ab"]})).unwrap();
        let mut new = old.clone();
        new["spec"]["user"] = json!("jean");
        RevocationStrategy
            .prepare_update("", &mut new, &old)
            .unwrap();
        let dated = Time::parse(new["spec"]["issuedBefore"].as_str().unwrap()).unwrap();
        let creation = Time::parse("2025-06-01T00:00:00Z").unwrap();
        assert!(dated.unix_seconds() > creation.unix_seconds());
    }
}
