//! csrsigning (upstream `signer/signer.go`): an approved, not denied, not failed CSR without a
//! certificate, for a signer we hold a CA for, is checked against the signer's rules and
//! signed; a rule it breaks becomes a `Failed` condition (`SignerValidationFailure`).
//!
//! Signing once: every write carries the resourceVersion we read, and the apiserver takes a
//! certificate only once. A conflict (or "may not modify existing certificate content") means
//! someone wrote first: we re-read and look again, and then see the certificate and stop. A
//! crash before the write loses only a certificate nobody ever saw.
//!
//! An approved CSR for a `kubernetes.io` signer we hold no CA for is not signed; it gets a
//! `SignerNotConfigured` event saying which flags are missing (see `explain`).
//!
//! Ours: a client certificate for a user a CertificateRevocation blocks (its `issuedBefore`
//! still to come, decision 0023) would be refused by the apiserver, so the CSR is marked Failed
//! (`SubjectRevoked`) instead of signed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use client::{Client, ClientError};
use protocol::certificates::v1::{CONDITION_FAILED, CertificateSigningRequest};
use protocol::meta::Time;

use crate::approver::refresh;
use crate::ca_provider::DynamicCa;
use crate::csr::{is_approved, is_denied, is_failed, is_issued, true_condition};
use crate::explain::{Cause, Explainer, is_built_in_signer};
use crate::informer::CsrCache;
use crate::metrics::Metrics;
use crate::revoked_users::{Revoked, RevokedUsers};
use crate::worker::{Handler, SyncError};

/// The apiserver's answer when a certificate is already there.
const CERTIFICATE_ALREADY_SET: &str = "may not modify existing certificate content";

/// What to do with a CSR, decided from the cached copy alone.
#[derive(Debug)]
pub enum Decision {
    /// Not ours, not ready, or done.
    Skip,
    /// Approved and waiting, but we hold no CA for its signer.
    NoCa,
    /// Breaks the signer's rules: mark it Failed with this message.
    Fail(String),
    /// Sign this (verified) request for these usages with this signer's CA.
    Sign {
        request: Box<pki::Csr>,
        usages: Vec<pki::Usage>,
    },
}

/// Upstream's `handle` up to the signing itself.
pub fn decide(csr: &CertificateSigningRequest, has_ca: bool) -> Result<Decision, String> {
    if is_issued(csr) || !is_approved(csr) || is_denied(csr) || is_failed(csr) {
        return Ok(Decision::Skip);
    }
    if !has_ca {
        return Ok(Decision::NoCa);
    }
    let x509 = pki::Csr::from_pem(&csr.spec.request)
        .map_err(|e| format!("unable to parse csr {:?}: {e}", csr.metadata.name))?;
    let usages = pki::parse_usages(&csr.spec.usages).map_err(|e| e.to_string())?;
    if let Err(breach) = pki::signer::validate(&csr.spec.signer_name, &x509, &usages) {
        return Ok(Decision::Fail(breach.to_string()));
    }
    Ok(Decision::Sign {
        request: Box::new(x509),
        usages,
    })
}

pub struct Signer {
    client: Client,
    cache: Arc<CsrCache>,
    cas: HashMap<&'static str, Arc<DynamicCa>>,
    duration: Duration,
    metrics: Metrics,
    explainer: Arc<Explainer>,
    revoked_users: Arc<RevokedUsers>,
}

/// The Failed reason of a CSR for a user a revocation blocks (ours).
pub const SUBJECT_REVOKED: &str = "SubjectRevoked";

impl Signer {
    pub fn new(
        client: Client,
        cache: Arc<CsrCache>,
        cas: &[(&'static str, Arc<DynamicCa>)],
        duration: Duration,
        metrics: Metrics,
        explainer: Arc<Explainer>,
        revoked_users: Arc<RevokedUsers>,
    ) -> Signer {
        Signer {
            revoked_users,
            client,
            cache,
            cas: cas.iter().map(|(s, ca)| (*s, Arc::clone(ca))).collect(),
            duration,
            metrics,
            explainer,
        }
    }

    /// A client certificate's user's latest revocation, so its NotBefore starts after that
    /// (`revoked_users`). Other certificates never authenticate to the apiserver, so they are
    /// signed as upstream signs them. Unreadable revocations (no RBAC to list them, say) leave
    /// the upstream backdate, with a warning.
    async fn revoked(&self, request: &pki::Csr, usages: &[pki::Usage]) -> Option<Revoked> {
        let user = request.common_name()?;
        if !usages.contains(&pki::Usage::ClientAuth) {
            return None;
        }
        match self.revoked_users.latest(user).await {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::warn!(%error, "could not read the certificate revocations; signing with the full backdate");
                None
            }
        }
    }

    /// Marks `csr` Failed with `reason` and `message`, as upstream's signer does.
    async fn fail(
        &self,
        csr: &CertificateSigningRequest,
        reason: &'static str,
        message: &str,
    ) -> Result<(), SyncError> {
        let key = &csr.metadata.name;
        let signer = &csr.spec.signer_name;
        let mut failed = csr.clone();
        failed.status.conditions.push(true_condition(
            CONDITION_FAILED,
            reason,
            message,
            Some(Time::now()),
        ));
        match self.write_status(&failed).await {
            Ok(stored) => {
                if let Some(stored) = stored {
                    self.cache.upsert(stored);
                }
                self.metrics.signing_failed(signer, reason);
                tracing::info!(csr = %key, %signer, %reason, %message, "certificate signing request failed");
                Ok(())
            }
            Err(e) => self.after_write_error(key, e).await,
        }
    }

    async fn write_status(
        &self,
        updated: &CertificateSigningRequest,
    ) -> Result<Option<CertificateSigningRequest>, ClientError> {
        match self
            .client
            .update_subresource(None, &updated.metadata.name, "status", updated)
            .await
        {
            Ok(stored) => Ok(Some(stored)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn after_write_error(&self, name: &str, error: ClientError) -> Result<(), SyncError> {
        let someone_else_wrote = error.is_conflict()
            || (error.status_code() == Some(422)
                && error.to_string().contains(CERTIFICATE_ALREADY_SET));
        if someone_else_wrote {
            return refresh(&self.client, &self.cache, name).await;
        }
        Err(SyncError::Retry(format!(
            "error updating signature for csr {name:?}: {error}"
        )))
    }
}

/// Waits until `not_before` when it is still to come (at most the one second a revocation
/// floor adds, as a revocation dated in the future blocks instead), so the node's first
/// requests with its new certificate are not refused as "not yet valid".
async fn wait_until_valid(not_before: SystemTime) {
    if let Ok(early) = not_before.duration_since(SystemTime::now()) {
        tokio::time::sleep(early.min(Duration::from_secs(1))).await;
    }
}

impl Handler for Signer {
    fn name(&self) -> &'static str {
        crate::controllers::CSR_SIGNING
    }

    async fn sync(&self, key: &str) -> Result<(), SyncError> {
        let Some(csr) = self.cache.get(key) else {
            return Ok(());
        };
        let signer_name = csr.spec.signer_name.as_str();
        let ca = self.cas.get(signer_name).cloned();
        let decision = decide(&csr, ca.is_some()).map_err(SyncError::Retry)?;
        let signer_label = signer_name.to_string();
        match (decision, ca) {
            (Decision::Skip, _) | (Decision::Sign { .. }, None) => Ok(()),
            (Decision::NoCa, _) => {
                if is_built_in_signer(signer_name) {
                    self.explainer.tell(&csr, Cause::SignerNotConfigured).await;
                }
                Ok(())
            }
            (Decision::Fail(message), _) => {
                self.fail(&csr, "SignerValidationFailure", &message).await
            }
            (Decision::Sign { request, usages }, Some(ca)) => {
                let revoked = self.revoked(&request, &usages).await;
                if let Some(revoked) = revoked.as_ref().filter(|r| r.blocks(SystemTime::now())) {
                    let user = request.common_name().unwrap_or_default();
                    let message = crate::explain::blocked_message(user, revoked);
                    return self.fail(&csr, SUBJECT_REVOKED, &message).await;
                }
                let revoked_until = revoked.map(|r| r.until);
                if let Some(until) = revoked_until {
                    wait_until_valid(until + Duration::from_secs(1)).await;
                }
                let ca = ca.current();
                let expiration = csr.spec.expiration_seconds;
                let duration = self.duration;
                let signed = tokio::task::spawn_blocking(move || {
                    let now = SystemTime::now();
                    ca.sign_csr_starting_after(
                        &request,
                        &usages,
                        expiration,
                        duration,
                        now,
                        revoked_until,
                    )
                })
                .await
                .map_err(|e| SyncError::Retry(format!("signing task failed: {e}")))?;
                let certificate = match signed {
                    Ok(pem) => pem,
                    Err(e) => {
                        self.metrics.signing_failed(&signer_label, "error");
                        return Err(SyncError::Retry(format!("error auto signing csr: {e}")));
                    }
                };
                let mut issued = (*csr).clone();
                issued.status.certificate = certificate.into_bytes();
                match self.write_status(&issued).await {
                    Ok(stored) => {
                        if let Some(stored) = stored {
                            self.cache.upsert(stored);
                            self.metrics.signed(&signer_label);
                            tracing::info!(csr = %key, signer = %signer_label, "issued certificate");
                        }
                        Ok(())
                    }
                    Err(e) => self.after_write_error(key, e).await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::tests::with_conditions;

    fn request(sans: pki::SubjectAltNames) -> Vec<u8> {
        let key = pki::PrivateKey::generate_p256().unwrap();
        pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: "system:node:a".into(),
                organizations: vec!["system:nodes".into()],
            },
            &sans,
        )
        .unwrap()
        .into_bytes()
    }

    fn approved_client_csr(sans: pki::SubjectAltNames) -> CertificateSigningRequest {
        let mut csr = with_conditions(&[("Approved", "True")]);
        csr.metadata.name = "csr-1".into();
        csr.spec.signer_name = pki::signer::KUBE_APISERVER_CLIENT_KUBELET.into();
        csr.spec.usages = vec!["digital signature".into(), "client auth".into()];
        csr.spec.request = request(sans);
        csr
    }

    #[test]
    fn only_approved_unsigned_csrs_with_a_ca_are_signed() {
        let csr = approved_client_csr(Default::default());
        assert!(matches!(decide(&csr, true).unwrap(), Decision::Sign { .. }));
        assert!(matches!(decide(&csr, false).unwrap(), Decision::NoCa));
        let mut issued = csr.clone();
        issued.status.certificate = b"x".to_vec();
        assert!(matches!(decide(&issued, true).unwrap(), Decision::Skip));
        let mut pending = csr.clone();
        pending.status.conditions.clear();
        assert!(matches!(decide(&pending, true).unwrap(), Decision::Skip));
        let mut denied = csr.clone();
        denied.status.conditions = with_conditions(&[("Denied", "True")]).status.conditions;
        assert!(matches!(decide(&denied, true).unwrap(), Decision::Skip));
        let mut failed = csr.clone();
        failed.status.conditions = with_conditions(&[("Approved", "True"), ("Failed", "True")])
            .status
            .conditions;
        assert!(matches!(decide(&failed, true).unwrap(), Decision::Skip));
    }

    #[test]
    fn a_san_on_a_kubelet_client_request_fails_with_upstream_s_message() {
        let csr = approved_client_csr(pki::SubjectAltNames {
            dns: vec!["a.example".into()],
            ips: Vec::new(),
        });
        assert!(matches!(
            decide(&csr, true).unwrap(),
            Decision::Fail(m) if m == "DNS subjectAltNames are not allowed"
        ));
    }

    #[test]
    fn an_unparsable_request_is_an_error_to_retry() {
        let mut csr = approved_client_csr(Default::default());
        csr.spec.request = b"junk".to_vec();
        assert!(
            decide(&csr, true)
                .unwrap_err()
                .starts_with("unable to parse csr \"csr-1\"")
        );
    }
}
