//! Ours (peers-and-pain-points part 3 #1, decision 0025): after a node renews its client
//! certificate, its older client certificates are revoked once a grace period has passed.
//! Upstream leaves each one valid until it expires (a year by default), so a key copied off a
//! node before a rotation keeps working after it.
//!
//! Only renewals count: a CSR for `system:node:<name>` that `system:node:<name>` itself made,
//! authenticated with its current certificate (or with its newest one, expired within the
//! apiserver's offline window, decision 0027), issued by the kubelet client signer. A bootstrap
//! CSR does not, or anyone holding a bootstrap token could cut a node off by joining under its
//! name.
//!
//! One CertificateRevocation per node, `<node>-superseded`, names the node's user and
//! `issuedBefore` = the new certificate's NotBefore minus one second. Certificates start in the
//! order they are issued (the signer backdates all of them alike), so that covers every older
//! one and not the new one. `issuedBefore` only moves forward, so a late look at an older
//! renewal never un-revokes anything.
//!
//! The grace lets the node switch to its new certificate first. It is counted from the issue,
//! which is read off the certificate, so a restarted controller-manager finds the work again
//! in the CSRs it lists. That bounds the grace: csrcleaner deletes issued CSRs after an hour.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use client::{Client, ClientError};
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::meta::{ObjectMeta, Time};
use protocol::revocation::v1alpha1::{CertificateRevocation, CertificateRevocationSpec};

use crate::csr::{is_issued, requesting_node};
use crate::informer::CsrCache;
use crate::worker::{Handler, SyncError};

/// The longest grace: issued CSRs are deleted after an hour, and with them the work.
pub const MAX_GRACE: Duration = Duration::from_secs(3600);

/// A renewal and what it supersedes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    pub node: String,
    /// The new certificate's serial, for the revocation's reason.
    pub serial: String,
    /// Certificates starting at or before this are superseded.
    pub supersedes_until: SystemTime,
    /// When the new certificate was issued (its NotBefore plus the signer's backdate, or later).
    pub issued: SystemTime,
}

/// The renewal `csr` is, if it is an issued renewal of a node's own client certificate.
pub fn renewal(csr: &CertificateSigningRequest) -> Option<Renewal> {
    if csr.spec.signer_name != pki::signer::KUBE_APISERVER_CLIENT_KUBELET || !is_issued(csr) {
        return None;
    }
    // The node itself, with its valid certificate or (decision 0027) with its newest one,
    // expired within the apiserver's offline window: either proves it is the node.
    let own_user = requesting_node(csr)?;
    let node = own_user.strip_prefix(pki::signer::NODE_CN_PREFIX)?;
    let request = pki::Csr::from_pem(&csr.spec.request).ok()?;
    if request.common_name() != Some(own_user) {
        return None;
    }
    let certificate = pki::parse_certificates(&csr.status.certificate)
        .ok()?
        .into_iter()
        .next()?;
    let not_before = certificate.not_before();
    Some(Renewal {
        node: node.to_string(),
        serial: certificate.serial_hex(),
        supersedes_until: not_before.checked_sub(Duration::from_secs(1))?,
        issued: not_before + pki::BACKDATE,
    })
}

/// The revocation that holds a node's superseded certificates.
pub fn revocation_name(node: &str) -> String {
    format!("{node}-superseded")
}

/// The revocation of `renewal`, or `existing` moved forward to it; `None` when `existing`
/// already covers as much.
pub fn superseding(
    renewal: &Renewal,
    csr_name: &str,
    existing: Option<&CertificateRevocation>,
) -> Option<CertificateRevocation> {
    let until = Time::from_system_time(renewal.supersedes_until);
    if let Some(existing) = existing
        && existing
            .spec
            .issued_before
            .is_some_and(|before| before >= until)
    {
        return None;
    }
    let mut revocation = existing.cloned().unwrap_or_else(|| CertificateRevocation {
        metadata: ObjectMeta {
            name: revocation_name(&renewal.node),
            ..Default::default()
        },
        ..Default::default()
    });
    revocation.spec = CertificateRevocationSpec {
        serial_numbers: Vec::new(),
        user: Some(format!("{}{}", pki::signer::NODE_CN_PREFIX, renewal.node)),
        issued_before: Some(until),
        reason: Some(format!(
            "superseded: the node renewed its client certificate (serial {}, csr {csr_name})",
            renewal.serial
        )),
    };
    Some(revocation)
}

pub struct Superseder {
    client: Client,
    cache: Arc<CsrCache>,
    grace: Duration,
}

impl Superseder {
    pub fn new(client: Client, cache: Arc<CsrCache>, grace: Duration) -> Superseder {
        Superseder {
            client,
            cache,
            grace,
        }
    }

    async fn existing(&self, name: &str) -> Result<Option<CertificateRevocation>, ClientError> {
        match self.client.get::<CertificateRevocation>(None, name).await {
            Ok(revocation) => Ok(Some(revocation)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Handler for Superseder {
    fn name(&self) -> &'static str {
        crate::controllers::CSR_SUPERSEDE
    }

    async fn sync(&self, key: &str) -> Result<(), SyncError> {
        let Some(csr) = self.cache.get(key) else {
            return Ok(());
        };
        let Some(renewal) = renewal(&csr) else {
            return Ok(());
        };
        if let Ok(early) = (renewal.issued + self.grace).duration_since(SystemTime::now()) {
            return Err(SyncError::NotYet(early));
        }
        let name = revocation_name(&renewal.node);
        let existing = self.existing(&name).await.map_err(|e| {
            SyncError::Retry(format!(
                "unable to read certificaterevocation {name:?}: {e}"
            ))
        })?;
        let Some(revocation) = superseding(&renewal, key, existing.as_ref()) else {
            return Ok(());
        };
        let written = match existing {
            Some(_) => self.client.update(None, &revocation).await,
            None => self.client.create(None, &revocation).await,
        };
        match written {
            Ok(_) => {
                tracing::info!(csr = %key, node = %renewal.node, revocation = %name, "revoked the client certificates the renewal superseded");
                Ok(())
            }
            Err(e) if e.is_conflict() || e.is_already_exists() => Err(SyncError::Again),
            Err(e) => Err(SyncError::Retry(format!(
                "unable to write certificaterevocation {name:?}: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::certificates::v1::{
        CertificateSigningRequestSpec, CertificateSigningRequestStatus,
    };

    fn issued(requester: &str, cn: &str, signer: &str) -> CertificateSigningRequest {
        let ca = pki::CertificateAuthority::generate(
            "ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let key = pki::PrivateKey::generate_p256().unwrap();
        let request = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: cn.to_string(),
                organizations: vec!["system:nodes".to_string()],
            },
            &pki::SubjectAltNames::default(),
        )
        .unwrap();
        let parsed = pki::Csr::from_pem(request.as_bytes()).unwrap();
        let usages = [pki::Usage::DigitalSignature, pki::Usage::ClientAuth];
        let certificate = ca
            .sign_csr(
                &parsed,
                &usages,
                None,
                Duration::from_secs(3600),
                SystemTime::now(),
            )
            .unwrap();
        CertificateSigningRequest {
            metadata: ObjectMeta {
                name: "csr-1".to_string(),
                ..Default::default()
            },
            spec: CertificateSigningRequestSpec {
                request: request.into_bytes(),
                signer_name: signer.to_string(),
                username: requester.to_string(),
                ..Default::default()
            },
            status: CertificateSigningRequestStatus {
                certificate: certificate.into_bytes(),
                ..Default::default()
            },
        }
    }

    const CLIENT: &str = pki::signer::KUBE_APISERVER_CLIENT_KUBELET;

    #[test]
    fn only_a_node_s_own_issued_client_renewal_supersedes() {
        let own = renewal(&issued("system:node:a", "system:node:a", CLIENT)).expect("renewal");
        assert_eq!(own.node, "a");
        assert_eq!(
            own.issued,
            own.supersedes_until + Duration::from_secs(1) + pki::BACKDATE
        );
        // A bootstrap request, another node's name, another signer, or nothing issued yet.
        assert_eq!(
            renewal(&issued("system:bootstrap:abcdef", "system:node:a", CLIENT)),
            None
        );
        assert_eq!(
            renewal(&issued("system:node:b", "system:node:a", CLIENT)),
            None
        );
        let serving = issued(
            "system:node:a",
            "system:node:a",
            pki::signer::KUBELET_SERVING,
        );
        assert_eq!(renewal(&serving), None);
        let mut pending = issued("system:node:a", "system:node:a", CLIENT);
        pending.status.certificate.clear();
        assert_eq!(renewal(&pending), None);
    }

    #[test]
    fn the_revocation_only_moves_forward() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let renewal_at = |s: u64| Renewal {
            node: "a".to_string(),
            serial: format!("{s:x}"),
            supersedes_until: at(s),
            issued: at(s + 301),
        };
        let first = superseding(&renewal_at(1_800_000_000), "csr-1", None).expect("created");
        assert_eq!(first.metadata.name, "a-superseded");
        assert_eq!(first.spec.user.as_deref(), Some("system:node:a"));
        assert_eq!(
            first.spec.issued_before,
            Some(Time::from_system_time(at(1_800_000_000)))
        );
        assert!(
            first
                .spec
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("csr-1")
        );
        // An older renewal looked at late changes nothing; a newer one moves it forward.
        assert_eq!(
            superseding(&renewal_at(1_700_000_000), "csr-0", Some(&first)),
            None
        );
        assert_eq!(
            superseding(&renewal_at(1_800_000_000), "csr-1", Some(&first)),
            None
        );
        let moved = superseding(&renewal_at(1_900_000_000), "csr-2", Some(&first)).expect("moved");
        assert_eq!(
            moved.spec.issued_before,
            Some(Time::from_system_time(at(1_900_000_000)))
        );
        assert_eq!(
            moved.metadata, first.metadata,
            "an update of the same object"
        );
    }
}
