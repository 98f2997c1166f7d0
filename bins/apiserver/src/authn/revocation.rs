//! Which client certificates are revoked (CertificateRevocation, decision 0022), indexed so a
//! request's check is two hash lookups, with no CRL to fetch or parse.

use std::collections::HashMap;
use std::time::SystemTime;

use protocol::revocation::v1alpha1::CertificateRevocation;

use super::x509::ClientCertificate;

/// The revocations in force, by serial number and by user.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    /// Serial -> the revocation that names it.
    serials: HashMap<String, String>,
    /// User -> the latest `issuedBefore` among its revocations, and that revocation's name.
    users: HashMap<String, (SystemTime, String)>,
}

impl RevocationIndex {
    /// Indexes stored revocations (their serials are already in the stored form).
    pub fn new<'a>(revocations: impl IntoIterator<Item = &'a CertificateRevocation>) -> Self {
        let mut index = RevocationIndex::default();
        for revocation in revocations {
            let name = &revocation.metadata.name;
            for serial in &revocation.spec.serial_numbers {
                index.serials.insert(serial.clone(), name.clone());
            }
            let spec = &revocation.spec;
            if let (Some(user), Some(before)) = (&spec.user, spec.issued_before) {
                let before = before.to_system_time();
                let entry = index
                    .users
                    .entry(user.clone())
                    .or_insert_with(|| (before, name.clone()));
                if before > entry.0 {
                    *entry = (before, name.clone());
                }
            }
        }
        index
    }

    /// The name of a revocation that revokes `certificate`, if one does.
    pub fn revoked_by(&self, certificate: &ClientCertificate) -> Option<&str> {
        if let Some(name) = self.serials.get(&certificate.serial) {
            return Some(name);
        }
        match self.users.get(&certificate.user.name) {
            // At the same second counts as before: times are whole seconds, and a certificate
            // made in the second of the revocation may predate it.
            Some((before, name)) if certificate.not_before <= *before => Some(name),
            _ => None,
        }
    }

    /// Whether nothing is revoked (the common case: skip the lookups).
    pub fn is_empty(&self) -> bool {
        self.serials.is_empty() && self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::meta::Time;
    use rbac::UserInfo;
    use serde_json::json;
    use std::time::Duration;

    fn revocation(name: &str, spec: serde_json::Value) -> CertificateRevocation {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    }

    fn certificate(user: &str, serial: &str, not_before: &str) -> ClientCertificate {
        ClientCertificate {
            user: UserInfo::new(user, ["system:nodes"]),
            credential_id: "X509SHA256=ab".to_string(),
            serial: serial.to_string(),
            not_before: Time::parse(not_before).unwrap().to_system_time(),
            not_after: std::time::SystemTime::UNIX_EPOCH,
            issuer: None,
        }
    }

    #[test]
    fn a_serial_revokes_that_certificate_only() {
        let revocations = [revocation("leak", json!({"serialNumbers": ["4f2a", "0b"]}))];
        let index = RevocationIndex::new(&revocations);
        assert!(!index.is_empty());
        let at = "2026-11-28T00:00:00Z";
        assert_eq!(
            index.revoked_by(&certificate("system:node:a", "4f2a", at)),
            Some("leak")
        );
        assert_eq!(
            index.revoked_by(&certificate("system:node:a", "4f2b", at)),
            None
        );
        assert!(RevocationIndex::new(&[]).is_empty());
    }

    #[test]
    fn a_user_revocation_covers_certificates_valid_from_before_its_time() {
        let revocations = [
            revocation(
                "old",
                json!({"user": "system:node:a", "issuedBefore": "2026-11-01T00:00:00Z"}),
            ),
            revocation(
                "newer",
                json!({"user": "system:node:a", "issuedBefore": "2026-11-28T00:00:00Z"}),
            ),
        ];
        let index = RevocationIndex::new(&revocations);
        let before = certificate("system:node:a", "01", "2026-11-27T23:59:59Z");
        assert_eq!(index.revoked_by(&before), Some("newer"));
        let mut same_second = before.clone();
        same_second.not_before = before.not_before + Duration::from_secs(1);
        assert_eq!(index.revoked_by(&same_second), Some("newer"));
        let mut after = before.clone();
        after.not_before = before.not_before + Duration::from_secs(2);
        assert_eq!(
            index.revoked_by(&after),
            None,
            "issued after the revocation"
        );
        let other_node = certificate("system:node:b", "01", "2026-11-01T00:00:00Z");
        assert_eq!(index.revoked_by(&other_node), None);
    }
}
