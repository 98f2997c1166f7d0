//! The certificate manager (client-go `util/certificate`), once for the client certificate
//! and once for the serving one: sleep until the jittered 70-90 % deadline (at once when
//! there is no certificate or it no longer fits the template), then request a new one with
//! a fresh key and `generateName: csr-`, retrying 2, 4, 8, 16, 32 s and then every 32 s.
//! The old certificate stays in use until the new one is written and published.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use client::Client;
use pki::PrivateKey;
use tokio::sync::watch;

use crate::backoff::Backoff;
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
    /// Used to ask for a client certificate once ours has expired (the bootstrap token).
    pub fallback_client: Option<Client>,
    /// Test-only shortening of the wait until the deadline (1.0 in production).
    pub deadline_scale: f64,
    pub state: Arc<AgentState>,
    pub current: watch::Sender<Option<Arc<KeyedCertificate>>>,
}

impl CertManager {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // A request that is still pending survives failed waits (no second CSR for a
        // transient error); a verdict or a timeout starts over with a new key.
        let mut pending: Option<(PrivateKey, Submitted)> = None;
        loop {
            let wait = self.wait_before_rotation(SystemTime::now());
            if !wait.is_zero() {
                tracing::info!(
                    certificate = self.name(),
                    wait = ?wait,
                    "waiting until the certificate rotation deadline"
                );
            }
            if sleep_or_shutdown(wait, &mut shutdown).await {
                return;
            }
            let mut backoff = Backoff::certificate();
            loop {
                let attempt = tokio::select! {
                    result = self.rotate(&mut pending) => result,
                    _ = shutdown.changed() => return,
                };
                match attempt {
                    Ok(()) => break,
                    Err(e) => {
                        self.errors().fetch_add(1, Ordering::Relaxed);
                        let delay = backoff.next_delay();
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
        pending: &mut Option<(PrivateKey, Submitted)>,
    ) -> Result<(), RotateError> {
        let client = self.request_client();
        let (key, submitted) = match pending.take().or_else(|| self.saved_request()) {
            Some(p) => p,
            None => {
                let key = PrivateKey::generate_p256().map_err(CsrError::Build)?;
                let submitted =
                    csr::submit(client, &key, &self.template, Naming::Generated).await?;
                tracing::info!(certificate = self.name(), csr = %submitted.name, "requested a new certificate");
                if let Err(e) = self.store.save_pending(&key, &submitted) {
                    // Only a restart would then send a second request.
                    tracing::warn!(certificate = self.name(), error = %e, "cannot remember the pending request");
                }
                (key, submitted)
            }
        };
        let name = submitted.name.clone();
        let role = self.role;
        let waited = csr::wait_for_certificate(client, &submitted, CERTIFICATE_WAIT_TIMEOUT, |condition| {
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
            Err(e @ CsrError::Watch { .. }) => {
                *pending = Some((key, submitted));
                return Err(e.into());
            }
            Err(e) => {
                // A verdict, a deleted request or a timeout: the next attempt starts afresh.
                self.store.remove_pending_key();
                return Err(e.into());
            }
        };
        let keyed = self.store.update(&certificate, &key, SystemTime::now())?;
        self.store.remove_pending_key();
        let keyed = Arc::new(keyed);
        self.install(&keyed);
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
    fn saved_request(&self) -> Option<(PrivateKey, Submitted)> {
        let (key, submitted) = self.store.load_pending()?;
        tracing::info!(
            certificate = self.name(),
            csr = %submitted.name,
            "waiting again for the certificate request sent before a restart"
        );
        Some((key, submitted))
    }

    /// Ourselves while our certificate is valid, else the bootstrap credentials if any.
    fn request_client(&self) -> &Client {
        let expired = self
            .current
            .borrow()
            .as_ref()
            .is_none_or(|c| c.is_expired(SystemTime::now()));
        match (&self.fallback_client, self.role, expired) {
            (Some(fallback), Role::Client, true) => fallback,
            _ => &self.client,
        }
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
                self.state.set_client_cert(lifetime);
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
