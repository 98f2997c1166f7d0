//! The certificate manager (client-go `util/certificate`), once for the client certificate
//! and once for the serving one: sleep until the jittered 70-90 % deadline (at once when
//! there is no certificate or it no longer fits the template), then request a new one with
//! a fresh key and `generateName: csr-`, retrying 2, 4, 8, 16, 32 s and then every 32 s.
//! The old certificate stays in use until the new one is written and published.
//!
//! [`CertManager::rotate_now`] cuts the wait short: the agent rotates at once when the
//! signer moved to another CA during a CA rotation (decision 0029, `root_ca`).
//!
//! Once the client certificate has expired (the agent ran on past a failed rotation), the
//! request is first made with that certificate, which the apiserver may still accept for
//! a renewal (decision 0027); the bootstrap credentials are used when it does not.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use client::Client;
use pki::PrivateKey;
use tokio::sync::{Notify, watch};

use crate::backoff::Backoff;
use crate::bootstrap::EXPIRED_RENEWAL_WAIT;
use crate::cert_store::{CertStore, KeyedCertificate};
use crate::csr::{self, CsrError, Naming, Submitted, Template};
use crate::node::sleep_or_shutdown;
use crate::state::{AgentState, Lifetime};

/// How long one request may stay unanswered before a new one is made (upstream: 15 min).
pub const CERTIFICATE_WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Which certificate a manager keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Serving,
}

/// Publishes the current certificate (`None` until there is one).
pub type CertificateWatch = watch::Receiver<Option<Arc<KeyedCertificate>>>;

pub struct CertManager {
    pub role: Role,
    pub store: CertStore,
    pub template: Template,
    /// The API client; for [`Role::Client`] its identity is the one being rotated.
    pub client: Client,
    /// Used to ask for a client certificate once ours has expired and the apiserver does not
    /// renew it with itself (the bootstrap token).
    pub fallback_client: Option<Client>,
    /// Test-only shortening of the wait until the deadline (1.0 in production).
    pub deadline_scale: f64,
    pub state: Arc<AgentState>,
    pub current: watch::Sender<Option<Arc<KeyedCertificate>>>,
    /// Notified to rotate now instead of at the deadline (a stored permit counts: a request
    /// made while a rotation runs starts another one after it).
    pub rotate_now: Arc<Notify>,
}

/// Who sends a request, and so which client waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requester {
    /// Our certificate while it is valid; always, for the serving certificate.
    Own,
    /// Our expired client certificate (the same client): the apiserver maps it to a
    /// restricted identity that may request its renewal.
    Expired,
    /// The bootstrap credentials.
    Fallback,
}

/// A request sent and not answered yet, with the key it certifies.
struct Pending {
    key: PrivateKey,
    submitted: Submitted,
    requester: Requester,
}

impl CertManager {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // A request that is still pending survives failed waits (no second CSR for a
        // transient error); a verdict or a timeout starts over with a new key.
        let mut pending: Option<Pending> = None;
        // Set when the apiserver did not renew our expired client certificate: the fallback
        // is asked from then on, until a new certificate is installed.
        let mut expired_refused = false;
        loop {
            let wait = self.wait_before_rotation(SystemTime::now());
            if !wait.is_zero() {
                tracing::info!(
                    certificate = self.name(),
                    wait = ?wait,
                    "waiting until the certificate rotation deadline"
                );
            }
            tokio::select! {
                stop = sleep_or_shutdown(wait, &mut shutdown) => if stop { return },
                () = self.rotate_now.notified() => tracing::info!(
                    certificate = self.name(),
                    "rotating the certificate now, before its deadline"
                ),
            }
            let mut backoff = Backoff::certificate();
            loop {
                let attempt = tokio::select! {
                    result = self.rotate(&mut pending, &mut expired_refused) => result,
                    _ = shutdown.changed() => return,
                };
                match attempt {
                    Ok(()) => break,
                    Err(e) => {
                        self.errors().fetch_add(1, Ordering::Relaxed);
                        // A request refused as one too many says when the next may come.
                        let delay = backoff
                            .next_delay()
                            .max(e.retry_after().unwrap_or_default());
                        tracing::warn!(
                            certificate = self.name(),
                            error = %e,
                            retry_in = ?delay,
                            "certificate rotation failed"
                        );
                        if sleep_or_shutdown(delay, &mut shutdown).await {
                            return;
                        }
                    }
                }
            }
        }
    }

    fn name(&self) -> &'static str {
        match self.role {
            Role::Client => "kubelet-client",
            Role::Serving => "kubelet-serving",
        }
    }

    fn errors(&self) -> &std::sync::atomic::AtomicU64 {
        match self.role {
            Role::Client => &self.state.client_renew_errors,
            Role::Serving => &self.state.server_renew_errors,
        }
    }

    /// Zero when there is no certificate or it does not fit the template.
    pub fn wait_before_rotation(&self, now: SystemTime) -> Duration {
        let current = self.current.borrow().clone();
        if let Some(current) = &current
            && !fits_template(current, &self.template)
        {
            tracing::info!(
                certificate = self.name(),
                "current certificate does not match the requested one; rotating now"
            );
        }
        rotation_wait(current.as_deref(), &self.template, self.deadline_scale, now)
    }

    async fn rotate(
        &self,
        pending: &mut Option<Pending>,
        expired_refused: &mut bool,
    ) -> Result<(), RotateError> {
        let Pending {
            key,
            submitted,
            requester,
        } = match pending.take().or_else(|| self.saved_request()) {
            Some(p) => p,
            None => {
                let requester = self.requester(*expired_refused, SystemTime::now());
                if requester == Requester::Expired {
                    tracing::info!(
                        certificate = self.name(),
                        "the client certificate has expired; asking the apiserver to renew it with itself"
                    );
                }
                let key = PrivateKey::generate_p256().map_err(CsrError::Build)?;
                let submitted = match csr::submit(
                    self.client_of(requester),
                    &key,
                    &self.template,
                    Naming::Generated,
                )
                .await
                {
                    Ok(submitted) => submitted,
                    Err(e) => {
                        self.note_expired_refusal(requester, &e, expired_refused);
                        return Err(e.into());
                    }
                };
                tracing::info!(certificate = self.name(), csr = %submitted.name, "requested a new certificate");
                if let Err(e) = self.store.save_pending(&key, &submitted) {
                    // Only a restart would then send a second request.
                    tracing::warn!(certificate = self.name(), error = %e, "cannot remember the pending request");
                }
                Pending {
                    key,
                    submitted,
                    requester,
                }
            }
        };
        // The identity that made the request waits for it: only it may be allowed to read it.
        let client = self.client_of(requester);
        let timeout = wait_timeout(requester, self.fallback_client.is_some());
        let name = submitted.name.clone();
        let role = self.role;
        let waited = csr::wait_for_certificate(client, &submitted, timeout, |condition| {
            match role {
                Role::Serving => tracing::info!(
                    "waiting for a serving certificate: {name} is {condition}; approve it with kubectl certificate approve {name}"
                ),
                Role::Client => tracing::info!("waiting for approval of csr {name} ({condition})"),
            }
        })
        .await;
        let certificate = match waited {
            Ok(certificate) => certificate,
            Err(e) => {
                let refused = self.note_expired_refusal(requester, &e, expired_refused);
                if matches!(e, CsrError::Watch { .. }) && !refused {
                    // The same request is waited for again.
                    *pending = Some(Pending {
                        key,
                        submitted,
                        requester,
                    });
                } else {
                    // A verdict, a deleted request, a timeout, or the expired certificate
                    // refused: the next attempt starts afresh (after a refusal, with the
                    // fallback).
                    self.store.remove_pending_key();
                }
                return Err(e.into());
            }
        };
        let keyed = self.store.update(&certificate, &key, SystemTime::now())?;
        self.store.remove_pending_key();
        let keyed = Arc::new(keyed);
        self.install(&keyed);
        *expired_refused = false;
        tracing::info!(
            certificate = self.name(),
            csr = %submitted.name,
            serial = %keyed.leaf().serial_hex(),
            expires = %protocol::meta::Time::from_system_time(keyed.not_after()).0,
            "installed a new certificate"
        );
        Ok(())
    }

    /// The request a previous run sent and saw no answer to: waited for again, not re-sent.
    /// Our own certificate sent it: a start with an expired one renews it (or bootstraps)
    /// before this manager runs, and both clear the saved request.
    fn saved_request(&self) -> Option<Pending> {
        let (key, submitted) = self.store.load_pending()?;
        tracing::info!(
            certificate = self.name(),
            csr = %submitted.name,
            "waiting again for the certificate request sent before a restart"
        );
        Some(Pending {
            key,
            submitted,
            requester: Requester::Own,
        })
    }

    /// Who asks now (see [`choose_requester`]).
    fn requester(&self, expired_refused: bool, now: SystemTime) -> Requester {
        let expired = self
            .current
            .borrow()
            .as_ref()
            .is_none_or(|c| c.is_expired(now));
        choose_requester(
            self.role,
            expired,
            self.fallback_client.is_some(),
            expired_refused,
        )
    }

    fn client_of(&self, requester: Requester) -> &Client {
        match (requester, &self.fallback_client) {
            (Requester::Fallback, Some(fallback)) => fallback,
            _ => &self.client,
        }
    }

    /// Records that the apiserver does not renew our expired certificate with itself, when
    /// `error` says so for a request it made and there is a fallback; true if it did.
    fn note_expired_refusal(
        &self,
        requester: Requester,
        error: &CsrError,
        expired_refused: &mut bool,
    ) -> bool {
        if requester != Requester::Expired
            || self.fallback_client.is_none()
            || !expired_renewal_refused(error)
        {
            return false;
        }
        tracing::warn!(
            certificate = self.name(),
            error = %error,
            "the apiserver does not renew the expired client certificate; asking with the bootstrap credentials"
        );
        *expired_refused = true;
        true
    }

    /// Make the new certificate the one in use.
    fn install(&self, keyed: &Arc<KeyedCertificate>) {
        let lifetime = Lifetime {
            not_before: keyed.leaf().not_before(),
            not_after: keyed.not_after(),
        };
        match self.role {
            Role::Client => {
                if let Err(e) = self.client.set_identity(keyed.identity()) {
                    // The files are written; the running client keeps the old identity.
                    tracing::error!(error = %e, "cannot switch the API client to the new certificate");
                    return;
                }
                self.state.set_client_cert(lifetime, keyed.credential_id());
                self.state.client_rotations.fetch_add(1, Ordering::Relaxed);
            }
            Role::Serving => {
                self.state.set_server_cert(lifetime);
                self.state.server_rotations.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.current.send_replace(Some(keyed.clone()));
    }
}

#[derive(Debug, thiserror::Error)]
enum RotateError {
    #[error(transparent)]
    Csr(#[from] CsrError),
    #[error(transparent)]
    Store(#[from] crate::cert_store::StoreError),
}

impl RotateError {
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RotateError::Csr(e) => e.retry_after(),
            RotateError::Store(_) => None,
        }
    }
}

/// Who asks for a certificate: ourselves while our certificate is valid (and always for the
/// serving one); once the client certificate expired, ourselves still, unless the apiserver
/// did not renew it that way and there is a fallback.
fn choose_requester(
    role: Role,
    expired: bool,
    has_fallback: bool,
    expired_refused: bool,
) -> Requester {
    match (role, expired) {
        (Role::Serving, _) | (Role::Client, false) => Requester::Own,
        (Role::Client, true) if has_fallback && expired_refused => Requester::Fallback,
        (Role::Client, true) => Requester::Expired,
    }
}

/// How long a request waits: a renewal by the expired certificate only briefly when the
/// fallback can take over.
fn wait_timeout(requester: Requester, has_fallback: bool) -> Duration {
    if requester == Requester::Expired && has_fallback {
        EXPIRED_RENEWAL_WAIT
    } else {
        CERTIFICATE_WAIT_TIMEOUT
    }
}

/// Whether a failed request by the expired certificate means the apiserver will not renew it
/// that way: refused (401: beyond the offline window, off, revoked; 403: no RBAC), not
/// approved in time, or denied or failed.
fn expired_renewal_refused(error: &CsrError) -> bool {
    let refused = |e: &client::ClientError| e.is_unauthorized() || e.is_forbidden();
    match error {
        CsrError::Create(e) | CsrError::Watch { source: e, .. } => refused(e),
        CsrError::Timeout { .. } => true,
        other => other.is_terminal(),
    }
}

/// upstream's template check: same CN and O, every requested SAN present.
pub fn fits_template(current: &KeyedCertificate, template: &Template) -> bool {
    let leaf = current.leaf();
    leaf.common_name() == Some(template.subject.common_name.as_str())
        && leaf.organizations() == template.subject.organizations.as_slice()
        && template
            .sans
            .dns
            .iter()
            .all(|d| leaf.dns_names().contains(d))
        && template
            .sans
            .ips
            .iter()
            .all(|ip| leaf.ip_addresses().contains(ip))
}

/// How long to sleep before rotating: until the jittered 70-90 % deadline (scaled by
/// `scale`), or not at all without a certificate or with one that misses the template.
pub fn rotation_wait(
    current: Option<&KeyedCertificate>,
    template: &Template,
    scale: f64,
    now: SystemTime,
) -> Duration {
    let Some(current) = current.filter(|c| fits_template(c, template)) else {
        return Duration::ZERO;
    };
    let leaf = current.leaf();
    let deadline = pki::rotation::deadline(leaf.not_before(), leaf.not_after(), &mut rand::rng());
    deadline
        .duration_since(now)
        .unwrap_or_default()
        .mul_f64(scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert_store::{CLIENT_PREFIX, CertStore};

    fn issued(template: &Template, validity: Duration) -> KeyedCertificate {
        let dir = tempfile::tempdir().unwrap();
        let ca = pki::CertificateAuthority::generate(
            "ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(86400),
        )
        .unwrap();
        let key = PrivateKey::generate_p256().unwrap();
        let csr_pem = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        let cert = ca
            .sign_csr(&csr, &template.usages, None, validity, SystemTime::now())
            .unwrap();
        CertStore::new(dir.path(), CLIENT_PREFIX)
            .update(cert.as_bytes(), &key, SystemTime::now())
            .unwrap()
    }

    #[test]
    fn waits_until_70_to_90_percent_of_the_lifetime() {
        let template = Template::kubelet_client("n1");
        // 10 h of TTL: NotBefore 5 min ago, NotAfter pulled in by 5 min, 10 h in total.
        let cert = issued(&template, Duration::from_secs(10 * 3600));
        let now = SystemTime::now();
        let since_start = now.duration_since(cert.leaf().not_before()).unwrap();
        for _ in 0..50 {
            let wait = rotation_wait(Some(&cert), &template, 1.0, now) + since_start;
            assert!(
                wait >= Duration::from_secs(7 * 3600) - Duration::from_secs(2),
                "{wait:?}"
            );
            assert!(
                wait <= Duration::from_secs(9 * 3600) + Duration::from_secs(2),
                "{wait:?}"
            );
        }
        let scaled = rotation_wait(Some(&cert), &template, 0.001, now);
        assert!(scaled < Duration::from_secs(33), "{scaled:?}");
        assert_eq!(rotation_wait(None, &template, 1.0, now), Duration::ZERO);
    }

    #[test]
    fn an_expired_client_certificate_asks_itself_until_refused() {
        use Requester::*;
        // (role, expired, has fallback, refused before) -> who asks
        let table = [
            (Role::Client, false, true, false, Own),
            (Role::Client, false, true, true, Own),
            (Role::Client, true, true, false, Expired),
            (Role::Client, true, true, true, Fallback),
            // Nobody else to ask: the expired certificate keeps asking.
            (Role::Client, true, false, false, Expired),
            (Role::Client, true, false, true, Expired),
            (Role::Serving, true, true, true, Own),
        ];
        for (role, expired, fallback, refused, want) in table {
            assert_eq!(
                choose_requester(role, expired, fallback, refused),
                want,
                "{role:?} expired={expired} fallback={fallback} refused={refused}"
            );
        }
        assert_eq!(wait_timeout(Expired, true), EXPIRED_RENEWAL_WAIT);
        assert_eq!(wait_timeout(Expired, false), CERTIFICATE_WAIT_TIMEOUT);
        assert_eq!(wait_timeout(Fallback, true), CERTIFICATE_WAIT_TIMEOUT);
        assert_eq!(wait_timeout(Own, true), CERTIFICATE_WAIT_TIMEOUT);
    }

    #[test]
    fn refusals_timeouts_and_verdicts_end_the_renewal_by_the_expired_certificate() {
        use client::ClientError;
        use protocol::meta::Status;
        let create = |status: Status| CsrError::Create(ClientError::api(status));
        assert!(expired_renewal_refused(&create(Status::unauthorized())));
        assert!(expired_renewal_refused(&create(Status::forbidden(
            "certificates.k8s.io",
            "certificatesigningrequests",
            "",
            "no"
        ))));
        assert!(expired_renewal_refused(&CsrError::Timeout {
            name: "csr-x".into(),
            after: EXPIRED_RENEWAL_WAIT,
        }));
        assert!(expired_renewal_refused(&CsrError::Denied {
            name: "csr-x".into(),
            reason: "r".into(),
            message: "m".into(),
        }));
        assert!(expired_renewal_refused(&CsrError::Watch {
            name: "csr-x".into(),
            source: ClientError::api(Status::unauthorized()),
        }));
        // An outage or a lost request is no answer: the expired certificate asks again.
        assert!(!expired_renewal_refused(&CsrError::Create(
            ClientError::Transport("connection refused".into())
        )));
        assert!(!expired_renewal_refused(&create(Status::internal_error(
            "boom"
        ))));
        assert!(!expired_renewal_refused(&CsrError::Deleted {
            name: "csr-x".into()
        }));
    }

    #[test]
    fn a_certificate_missing_a_requested_san_rotates_at_once() {
        let old = Template::kubelet_serving(
            "n1",
            pki::SubjectAltNames {
                dns: vec!["n1".into()],
                ips: vec!["10.0.0.1".parse().unwrap()],
            },
        );
        let cert = issued(&old, Duration::from_secs(3600));
        assert!(fits_template(&cert, &old));
        let moved = Template::kubelet_serving(
            "n1",
            pki::SubjectAltNames {
                dns: vec!["n1".into()],
                ips: vec!["10.0.0.2".parse().unwrap()],
            },
        );
        assert!(!fits_template(&cert, &moved));
        assert_eq!(
            rotation_wait(Some(&cert), &moved, 1.0, SystemTime::now()),
            Duration::ZERO
        );
        assert!(!fits_template(&cert, &Template::kubelet_client("n2")));
    }
}
