//! The users a CertificateRevocation revokes by time (`spec.user`, decision 0022), so csrsigning
//! never backdates a new client certificate into such a revocation. Without this, a node let
//! back in within 5 minutes of being revoked would get a certificate whose NotBefore (now minus
//! the 5-minute backdate) falls before the revocation's `issuedBefore`: refused for its whole
//! life, rotation included, since the apiserver compares the certificate's own NotBefore.

use std::time::SystemTime;

use client::{Client, ClientError};
use protocol::revocation::v1alpha1::CertificateRevocation;

use crate::lazy_index::LazyIndex;

/// Revocation name -> the user it revokes and until when.
pub struct RevokedUsers {
    revocations: LazyIndex<CertificateRevocation, Option<(String, SystemTime)>>,
}

impl RevokedUsers {
    pub fn new(client: Client) -> RevokedUsers {
        RevokedUsers {
            revocations: LazyIndex::new(client, |revocation| {
                let spec = revocation.spec;
                let until = spec
                    .user
                    .zip(spec.issued_before)
                    .map(|(user, before)| (user, before.to_system_time()));
                (revocation.metadata.name, until)
            }),
        }
    }

    /// Until when `user`'s certificates are revoked (the latest `issuedBefore`; the apiserver
    /// refuses NotBefore up to and including it). The first call lists the revocations.
    pub async fn revoked_until(&self, user: &str) -> Result<Option<SystemTime>, ClientError> {
        self.revocations
            .read(|revocations| latest_for(revocations.values().flatten(), user))
            .await
    }
}

fn latest_for<'a>(
    revocations: impl Iterator<Item = &'a (String, SystemTime)>,
    user: &str,
) -> Option<SystemTime> {
    revocations
        .filter(|(revoked, _)| revoked == user)
        .map(|(_, until)| *until)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_user_is_revoked_until_its_latest_revocation() {
        let at = |seconds: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let revocations = [
            ("system:node:a".to_string(), at(100)),
            ("system:node:a".to_string(), at(300)),
            ("system:node:b".to_string(), at(900)),
        ];
        assert_eq!(
            latest_for(revocations.iter(), "system:node:a"),
            Some(at(300))
        );
        assert_eq!(latest_for(revocations.iter(), "system:node:c"), None);
    }
}
