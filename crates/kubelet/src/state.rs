//! What the agent's endpoints report: certificate lifetimes and error counters, shared by
//! the tasks that change them and the HTTP handlers that read them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::clock::rfc3339;

/// Validity window of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// Heartbeat calls refused in a row (401) before `/healthz` fails: one could be a moment of
/// an apiserver reloading its CAs; three, about half a minute, are not.
pub const REFUSALS_BEFORE_UNHEALTHY: u32 = 3;

/// The apiserver answering 401 to the client certificate in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refused {
    since: SystemTime,
    times: u32,
}

#[derive(Debug, Default)]
pub struct AgentState {
    client_cert: Mutex<Option<Lifetime>>,
    /// The heartbeats' 401s in a row since the last accepted call (reset by a new client
    /// certificate): a certificate the apiserver refuses while it runs, revoked or of a
    /// retired CA, fails `/healthz` (peers-and-pain-points #12: health must fail when the
    /// identity is unusable, not only when it has expired).
    client_refused: Mutex<Option<Refused>>,
    /// Credential ID (`X509SHA256=...`) of the client certificate in use: the Node records it
    /// (decision 0027), so that the apiserver may renew this certificate after it expired.
    client_credential_id: Mutex<Option<String>>,
    /// Bundle ID (`SHA256=...`, [`pki::bundle_id`]) of the CA bundle trusted for the
    /// apiserver: the Node reports it (decision 0029) so a CA rotation can count the nodes
    /// that follow it.
    root_ca_bundle: Mutex<Option<String>>,
    server_cert: Mutex<Option<Lifetime>>,
    /// Failed attempts to renew the client certificate (upstream
    /// `kubelet_certificate_manager_client_expiration_renew_errors`).
    pub client_renew_errors: AtomicU64,
    /// Failed attempts to renew the serving certificate (`kubelet_server_expiration_renew_errors`).
    pub server_renew_errors: AtomicU64,
    /// Node status and Lease calls that failed.
    pub heartbeat_errors: AtomicU64,
    /// Node Lease renewals that succeeded.
    pub lease_renewals: AtomicU64,
    /// Client certificates installed without a restart.
    pub client_rotations: AtomicU64,
    /// Serving certificates installed.
    pub server_rotations: AtomicU64,
}

impl AgentState {
    /// The client certificate now in use: its lifetime and credential ID
    /// ([`crate::cert_store::KeyedCertificate::credential_id`]).
    pub fn set_client_cert(&self, lifetime: Lifetime, credential_id: String) {
        *lock(&self.client_cert) = Some(lifetime);
        *lock(&self.client_credential_id) = Some(credential_id);
        *lock(&self.client_refused) = None;
    }

    /// A heartbeat call was answered 401: the apiserver does not take the client certificate.
    pub fn note_client_refused(&self, now: SystemTime) {
        let mut refused = lock(&self.client_refused);
        *refused = Some(match *refused {
            Some(Refused { since, times }) => Refused {
                since,
                times: times.saturating_add(1),
            },
            None => Refused {
                since: now,
                times: 1,
            },
        });
    }

    /// A heartbeat call went through: the client certificate is taken.
    pub fn note_client_accepted(&self) {
        *lock(&self.client_refused) = None;
    }

    /// The CA bundle now trusted for the apiserver (its [`pki::bundle_id`]).
    pub fn set_root_ca_bundle(&self, bundle_id: String) {
        *lock(&self.root_ca_bundle) = Some(bundle_id);
    }

    /// `None` while no bundle is known (then the Node's annotation is left alone).
    pub fn root_ca_bundle(&self) -> Option<String> {
        lock(&self.root_ca_bundle).clone()
    }

    pub fn set_server_cert(&self, lifetime: Lifetime) {
        *lock(&self.server_cert) = Some(lifetime);
    }

    pub fn client_cert(&self) -> Option<Lifetime> {
        *lock(&self.client_cert)
    }

    /// `None` until a client certificate is known (then the Node's annotation is left alone).
    pub fn client_credential_id(&self) -> Option<String> {
        lock(&self.client_credential_id).clone()
    }

    pub fn server_cert(&self) -> Option<Lifetime> {
        *lock(&self.server_cert)
    }

    /// `Err(reason)` when the agent has no usable client certificate.
    pub fn health(&self, now: SystemTime) -> Result<(), String> {
        match self.client_cert() {
            None => Err("no client certificate yet".to_owned()),
            Some(cert) if cert.not_after <= now => Err(format!(
                "the client certificate expired at {}",
                rfc3339(cert.not_after)
            )),
            Some(_) => match *lock(&self.client_refused) {
                Some(Refused { since, times }) if times >= REFUSALS_BEFORE_UNHEALTHY => {
                    Err(format!(
                        "the apiserver has refused the client certificate (401) {times} times in a row since {}: it was revoked or its CA retired; restarting the agent bootstraps again with --bootstrap-kubeconfig",
                        rfc3339(since)
                    ))
                }
                _ => Ok(()),
            },
        }
    }

    /// Prometheus text exposition of the certificate gauges and counters.
    pub fn render_metrics(&self, now: SystemTime) -> String {
        let mut out = String::new();
        let unix = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        };
        let ttl = |t: SystemTime| match t.duration_since(now) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let mut gauge = |name: &str, help: &str, value: Option<f64>| {
            if let Some(value) = value {
                out.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
                ));
            }
        };
        let client = self.client_cert();
        let server = self.server_cert();
        gauge(
            "kubelet_certificate_manager_client_ttl_seconds",
            "Gauge of the TTL (time-to-live) of the Kubelet's client certificate. The value is in seconds until certificate expiry (negative if already expired).",
            client.map(|c| ttl(c.not_after)),
        );
        gauge(
            "kubelet_certificate_manager_client_expiration_seconds",
            "Gauge of the lifetime of a certificate. The value is the date the certificate will expire in seconds since January 1, 1970 UTC.",
            client.map(|c| unix(c.not_after)),
        );
        gauge(
            "kubelet_certificate_manager_server_ttl_seconds",
            "Gauge of the shortest TTL (time-to-live) of the Kubelet's serving certificate. The value is in seconds until certificate expiry (negative if already expired).",
            server.map(|c| ttl(c.not_after)),
        );
        gauge(
            "kubelet_certificate_manager_server_expiration_seconds",
            "Gauge of the serving certificate's expiry in seconds since January 1, 1970 UTC.",
            server.map(|c| unix(c.not_after)),
        );
        let counters = [
            (
                "kubelet_certificate_manager_client_expiration_renew_errors",
                "Counter of certificate renewal errors.",
                &self.client_renew_errors,
            ),
            (
                "kubelet_server_expiration_renew_errors",
                "Counter of certificate renewal errors.",
                &self.server_renew_errors,
            ),
            (
                "kubelet_agent_certificate_rotations_total",
                "Client certificates installed without a restart.",
                &self.client_rotations,
            ),
            (
                "kubelet_agent_serving_certificate_rotations_total",
                "Serving certificates installed.",
                &self.server_rotations,
            ),
            (
                "kubelet_agent_heartbeat_errors_total",
                "Node status and Lease requests that failed.",
                &self.heartbeat_errors,
            ),
            (
                "kubelet_agent_lease_renewals_total",
                "Node Lease renewals that succeeded.",
                &self.lease_renewals,
            ),
        ];
        for (name, help, counter) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock leaves plain data behind: keep using it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn health_fails_once_the_apiserver_keeps_refusing_the_certificate() {
        let state = AgentState::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        let lifetime = Lifetime {
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(3600),
        };
        state.set_client_cert(lifetime, "X509SHA256=00".to_owned());
        for i in 0..REFUSALS_BEFORE_UNHEALTHY - 1 {
            state.note_client_refused(now + Duration::from_secs(u64::from(i) * 10));
            assert!(
                state.health(now).is_ok(),
                "one refusal is not yet a verdict"
            );
        }
        state.note_client_refused(now + Duration::from_secs(30));
        assert_eq!(
            state.health(now).unwrap_err(),
            "the apiserver has refused the client certificate (401) 3 times in a row since 2024-05-01T10:00:00Z: it was revoked or its CA retired; restarting the agent bootstraps again with --bootstrap-kubeconfig"
        );
        // An accepted call, or a new certificate, makes it healthy again.
        state.note_client_accepted();
        assert!(state.health(now).is_ok());
        for _ in 0..REFUSALS_BEFORE_UNHEALTHY {
            state.note_client_refused(now);
        }
        assert!(state.health(now).is_err());
        state.set_client_cert(lifetime, "X509SHA256=01".to_owned());
        assert!(state.health(now).is_ok());
    }

    #[test]
    fn health_fails_without_or_with_an_expired_certificate() {
        let state = AgentState::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        assert_eq!(state.health(now).unwrap_err(), "no client certificate yet");
        state.set_client_cert(
            Lifetime {
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(60),
            },
            "X509SHA256=00".to_owned(),
        );
        assert!(state.health(now).is_ok());
        assert_eq!(
            state.health(now + Duration::from_secs(61)).unwrap_err(),
            "the client certificate expired at 2024-05-01T10:01:00Z"
        );
    }

    #[test]
    fn metrics_show_gauges_only_for_known_certificates() {
        let state = AgentState::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let text = state.render_metrics(now);
        assert!(!text.contains("client_ttl_seconds"));
        assert!(text.contains("kubelet_server_expiration_renew_errors 0\n"));
        state.set_client_cert(
            Lifetime {
                not_before: now,
                not_after: now + Duration::from_secs(30),
            },
            "X509SHA256=00".to_owned(),
        );
        let text = state.render_metrics(now);
        assert!(text.contains("kubelet_certificate_manager_client_ttl_seconds 30\n"));
        assert!(text.contains("kubelet_certificate_manager_client_expiration_seconds 1030\n"));
        assert!(text.contains("# TYPE kubelet_certificate_manager_client_ttl_seconds gauge\n"));
    }

    #[test]
    fn the_client_credential_id_follows_the_certificate_in_use() {
        let state = AgentState::default();
        assert_eq!(state.client_credential_id(), None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let lifetime = Lifetime {
            not_before: now,
            not_after: now + Duration::from_secs(30),
        };
        state.set_client_cert(lifetime, "X509SHA256=aa".to_owned());
        state.set_client_cert(lifetime, "X509SHA256=bb".to_owned());
        assert_eq!(
            state.client_credential_id().as_deref(),
            Some("X509SHA256=bb")
        );
    }
}
