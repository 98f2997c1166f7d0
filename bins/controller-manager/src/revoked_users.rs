//! The users a CertificateRevocation revokes by time (`spec.user`, decisions 0022 and 0023).
//!
//! csrsigning never backdates a new client certificate into such a revocation. Without this, a
//! node let back in within 5 minutes of being revoked would get a certificate whose NotBefore
//! (now minus the 5-minute backdate) falls before the revocation's `issuedBefore`: refused for
//! its whole life, rotation included, since the apiserver compares the certificate's own
//! NotBefore.
//!
//! A revocation whose `issuedBefore` is still to come blocks the user: any certificate issued
//! now would be refused, so csrapproving does not approve it and csrsigning does not sign it.

use std::time::SystemTime;

use client::{Client, ClientError};
use protocol::revocation::v1alpha1::CertificateRevocation;

use crate::lazy_index::LazyIndex;

/// A user's latest revocation by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Certificates starting at or before this are refused.
    pub until: SystemTime,
    /// The CertificateRevocation that says so.
    pub by: String,
}

impl Revoked {
    /// Whether a certificate issued at `now` would be refused too: the user may not join.
    pub fn blocks(&self, now: SystemTime) -> bool {
        self.until > now
    }
}

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

    /// Wakes when a revocation by user is made, changed or deleted.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// `user`'s latest revocation (the apiserver refuses NotBefore up to and including its
    /// `until`). The first call lists the revocations.
    pub async fn latest(&self, user: &str) -> Result<Option<Revoked>, ClientError> {
        self.revocations
            .read(|revocations| {
                latest_for(
                    revocations
                        .iter()
                        .filter_map(|(name, until)| Some((name, until.as_ref()?))),
                    user,
                )
            })
            .await
    }
}

fn latest_for<'a>(
    revocations: impl Iterator<Item = (&'a String, &'a (String, SystemTime))>,
    user: &str,
) -> Option<Revoked> {
    revocations
        .filter(|(_, (revoked, _))| revoked == user)
        // The name breaks ties so the answer does not depend on the map's order.
        .max_by(|(a, (_, a_until)), (b, (_, b_until))| a_until.cmp(b_until).then(a.cmp(b)))
        .map(|(name, (_, until))| Revoked {
            until: *until,
            by: name.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_user_is_revoked_until_its_latest_revocation() {
        let revocations = [
            ("old".to_string(), ("system:node:a".to_string(), at(100))),
            ("new".to_string(), ("system:node:a".to_string(), at(300))),
            ("other".to_string(), ("system:node:b".to_string(), at(900))),
        ];
        let iter = || revocations.iter().map(|(name, until)| (name, until));
        assert_eq!(
            latest_for(iter(), "system:node:a"),
            Some(Revoked {
                until: at(300),
                by: "new".to_string()
            })
        );
        assert_eq!(latest_for(iter(), "system:node:c"), None);
    }

    #[test]
    fn only_a_revocation_still_to_come_blocks() {
        let revoked = Revoked {
            until: at(300),
            by: "r".to_string(),
        };
        assert!(revoked.blocks(at(299)));
        assert!(!revoked.blocks(at(300)));
        assert!(!revoked.blocks(at(301)));
    }
}
