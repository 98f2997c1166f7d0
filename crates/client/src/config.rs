//! What a client needs to know: where the apiserver is, whom to trust, who we are, and how
//! patiently to retry.

use std::time::Duration;

use kubeconfig::{Identity, ResolvedConfig};
use url::Url;

use crate::error::ClientError;

/// Settings of a [`crate::Client`]. Build it by hand or with [`ClientConfig::from_kubeconfig`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://host:port`; a path prefix is kept (`https://lb/k8s` -> `https://lb/k8s/api/v1/..`).
    pub server: Url,
    /// PEM bundle of the CAs trusted for the server certificate. Required unless
    /// `insecure_skip_tls_verify`; system roots are never used.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any server certificate (the kubeconfig's `insecure-skip-tls-verify`).
    pub insecure_skip_tls_verify: bool,
    /// Client certificate, bearer token or anonymous; swappable later with `set_identity`.
    pub identity: Identity,
    /// Name checked against the server certificate (and sent as SNI) instead of the URL host.
    pub tls_server_name: Option<String>,
    /// `User-Agent` header, e.g. `controller-manager/0.1.0`.
    pub user_agent: String,
    /// Per-attempt limit for ordinary requests (the whole answer, body included). Watches
    /// use it only for the response head.
    pub request_timeout: Duration,
    /// Retries of connection errors, 5xx and 429.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Defaults: 30 s request timeout, [`RetryPolicy::default`].
    pub fn new(server: Url, ca_pem: Option<Vec<u8>>, identity: Identity, user_agent: &str) -> Self {
        ClientConfig {
            server,
            ca_pem,
            insecure_skip_tls_verify: false,
            identity,
            tls_server_name: None,
            user_agent: user_agent.to_string(),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }

    /// Everything the resolved kubeconfig says. A `proxy-url` is refused: this client does
    /// not proxy, and silently going direct could bypass a required egress path.
    pub fn from_kubeconfig(
        resolved: &ResolvedConfig,
        user_agent: &str,
    ) -> Result<ClientConfig, ClientError> {
        if let Some(proxy) = &resolved.proxy_url {
            return Err(ClientError::InvalidConfig(format!(
                "proxy-url {proxy:?} is not supported by this client"
            )));
        }
        let mut config = ClientConfig::new(
            resolved.server.clone(),
            resolved.ca_pem.clone(),
            resolved.identity.clone(),
            user_agent,
        );
        config.insecure_skip_tls_verify = resolved.insecure_skip_tls_verify;
        config.tls_server_name = resolved.tls_server_name.clone();
        Ok(config)
    }
}

/// Capped exponential backoff with full jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay bound of the first retry; doubles each attempt.
    pub initial_backoff: Duration,
    /// Largest delay between two attempts.
    pub max_backoff: Duration,
    /// Give up once this much time has passed since the first attempt (the last error is
    /// returned). `Duration::ZERO` means a single attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 100 ms doubling to 5 s, for up to 30 s: long enough to ride out an apiserver restart.
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        RetryPolicy {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_elapsed: Duration::ZERO,
        }
    }

    /// The jittered delay before retry number `attempt` (0-based): uniform in
    /// `[bound/2, bound]` with `bound = min(initial * 2^attempt, max)`, so a herd of clients
    /// spreads out but none retries immediately.
    pub fn backoff(&self, attempt: u32, rng: &mut impl rand::Rng) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        let bound = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = bound / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy::default();
        let mut rng = rand::rng();
        for _ in 0..100 {
            let first = policy.backoff(0, &mut rng);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(2, &mut rng);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(40, &mut rng);
            assert!(late >= Duration::from_millis(2500) && late <= Duration::from_secs(5));
        }
    }

    #[test]
    fn proxy_url_is_refused() {
        let yaml = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    proxy-url: http://proxy:3128
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: abc
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
"#;
        let kubeconfig =
            kubeconfig::Kubeconfig::from_yaml(yaml, std::path::Path::new("/")).expect("parse");
        let resolved = kubeconfig.resolve(None).expect("resolve");
        let err = ClientConfig::from_kubeconfig(&resolved, "test").unwrap_err();
        assert!(err.to_string().contains("proxy-url"), "{err}");
    }
}
