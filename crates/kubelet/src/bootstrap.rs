//! Getting the first client certificate (kubelet `bootstrap.LoadClientCert`): use
//! `--kubeconfig` when its certificate is still valid (with `--bootstrap-kubeconfig`, only
//! once the apiserver has not refused it: a CA retired or a revocation made while the machine
//! was off); when it has expired (a node powered off for longer than its certificate lived),
//! first ask the apiserver to renew it with itself (decision 0027); otherwise request one with
//! the `--bootstrap-kubeconfig` credentials. The new certificate goes to the cert dir and
//! `--kubeconfig` is written pointing at `kubelet-client-current.pem`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use client::{Client, ClientError, RetryPolicy};
use kubeconfig::{Identity, Kubeconfig, ResolvedConfig};
use protocol::authentication::v1::SelfSubjectReview;

use crate::backoff::Backoff;
use crate::cert_store::{CertStore, KeyedCertificate, StoreError};
use crate::clock::rfc3339;
use crate::csr::{self, CsrError, Naming, Template};

/// How long the bootstrap waits for its CSR to be issued (upstream: one hour).
pub const BOOTSTRAP_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long a request made with an expired client certificate may stay unapproved before the
/// bootstrap credentials are used instead, when there are any. csrapproving answers within
/// seconds; a request it leaves Pending (the certificate is not the newest the Node names)
/// would wait for a person.
pub const EXPIRED_RENEWAL_WAIT: Duration = Duration::from_secs(60);

/// Per-attempt limit of the start-up check of a valid `--kubeconfig` ([`probe_kubeconfig`]).
const PROBE_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Retries of that check: an apiserver that is down must not hold the start for long (the
/// kubeconfig is then used as it is), so at most about 4 s in all with the timeout above.
const PROBE_RETRY: RetryPolicy = RetryPolicy {
    initial_backoff: Duration::from_millis(200),
    max_backoff: Duration::from_secs(1),
    max_elapsed: Duration::from_secs(2),
};

/// Why no client certificate could be found or obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    #[error("failed to use kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kubeconfig::KubeconfigError,
    },
    #[error("kubeconfig {path} does not authenticate with a client certificate")]
    NotACertificateKubeconfig { path: PathBuf },
    #[error(
        "no valid client certificate in --kubeconfig {kubeconfig} and no --bootstrap-kubeconfig to request one"
    )]
    NoCredentials { kubeconfig: PathBuf },
    /// The certificate expired, the apiserver did not renew it with itself (decision 0027)
    /// and there is no bootstrap token to fall back on.
    #[error(
        "the client certificate in --kubeconfig {kubeconfig} expired at {not_after} and was not renewed ({source}); give the agent a --bootstrap-kubeconfig with a token for this node (e.g. from `lab token create --node-name {node} --single-use`), or run `lab node replace {node}` and start the agent with the bootstrap kubeconfig it writes"
    )]
    ExpiredNotRenewed {
        kubeconfig: PathBuf,
        node: String,
        /// RFC 3339.
        not_after: String,
        /// Boxed: it would make every `BootstrapError` large.
        #[source]
        source: Box<RenewalError>,
    },
    #[error(transparent)]
    Store(#[from] crate::cert_store::StoreError),
    #[error(transparent)]
    Csr(#[from] csr::CsrError),
    #[error("failed to build the API client: {0}")]
    Client(#[source] client::ClientError),
    /// The apiserver does not know the bootstrap credentials (pain point #4: "poor error
    /// messages" when a token expired or is gone).
    #[error(
        "the apiserver refused the bootstrap credentials in {path} ({source}): their token is unknown, expired or used up (a single-use bootstrap token is deleted once its node is up); ask for a new one, e.g. `lab token create --node-name {node} --single-use`, or `lab node replace {node}` for a machine that replaces another"
    )]
    BootstrapRefused {
        path: PathBuf,
        node: String,
        #[source]
        source: client::ClientError,
    },
    /// The apiserver's certificate is expired or not yet valid by our clock; `diagnosis`
    /// compares the clocks (`clock`).
    #[error("failed to create certificate signing request: {source}; {diagnosis}")]
    CertificateTime {
        #[source]
        source: client::ClientError,
        diagnosis: String,
    },
}

/// Why an expired client certificate was not renewed with itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenewalError {
    #[error(
        "the apiserver refused the expired certificate ({0}): it expired longer ago than the apiserver's --client-certificate-max-offline-window, that window is off (0), or the certificate is revoked"
    )]
    Unauthorized(#[source] ClientError),
    #[error(
        "the apiserver does not let an expired certificate request its renewal ({0}): RBAC must grant it to the group {group}",
        group = protocol::authentication::v1::EXPIRED_CLIENT_CERTIFICATE_GROUP
    )]
    Forbidden(#[source] ClientError),
    #[error(
        "certificate signing request {name} was not approved within {} s: only the certificate the Node names as its newest is renewed; `kubectl describe csr {name}` says why",
        .after.as_secs()
    )]
    NotApproved { name: String, after: Duration },
    #[error(transparent)]
    Csr(CsrError),
    #[error(transparent)]
    Store(StoreError),
    #[error("failed to build the API client: {0}")]
    Client(#[source] ClientError),
}

/// The kubeconfig the agent runs with and the certificate in it.
#[derive(Debug)]
pub struct Credentials {
    pub config: ResolvedConfig,
    pub certificate: KeyedCertificate,
    /// The bootstrap credentials, kept for a renewal after our certificate expired.
    pub bootstrap: Option<ResolvedConfig>,
}

/// `User-Agent` of every API call.
pub fn user_agent() -> String {
    format!("kubelet-agent/{}", crate::VERSION)
}

/// Finds or obtains a client certificate.
pub async fn client_credentials(
    kubeconfig_path: &Path,
    bootstrap_path: Option<&Path>,
    store: &CertStore,
    node_name: &str,
) -> Result<Credentials, BootstrapError> {
    let bootstrap = bootstrap_path.map(load_resolved).transpose()?;
    // The kubeconfig's certificate the apiserver refused: never to be used again.
    let mut refused = None;
    match existing_kubeconfig(kubeconfig_path, SystemTime::now()) {
        Ok(Existing::Valid {
            config,
            certificate,
        }) => {
            // Without bootstrap credentials a refusal would leave nothing better: no check.
            if bootstrap.is_none() || !refuses(kubeconfig_path, &config, &certificate).await {
                tracing::info!(kubeconfig = %kubeconfig_path.display(), "kubeconfig exists and is valid, skipping bootstrap");
                return Ok(Credentials {
                    config,
                    certificate,
                    bootstrap,
                });
            }
            refused = Some(certificate);
        }
        Ok(Existing::Missing) => {}
        Ok(Existing::Expired {
            config,
            certificate,
        }) => {
            let renewed = renew_expired_kubeconfig(
                kubeconfig_path,
                &config,
                &certificate,
                bootstrap.is_some(),
                store,
                node_name,
            )
            .await?;
            if let Some((config, certificate)) = renewed {
                return Ok(Credentials {
                    config,
                    certificate,
                    bootstrap,
                });
            }
        }
        Err(e) if bootstrap.is_some() => {
            tracing::warn!(error = %e, "ignoring the unusable --kubeconfig; bootstrapping");
        }
        Err(e) => return Err(e),
    }
    let Some(bootstrap) = bootstrap else {
        return Err(BootstrapError::NoCredentials {
            kubeconfig: kubeconfig_path.to_path_buf(),
        });
    };

    let reusable = reusable_pair(store, refused.as_ref(), SystemTime::now())?;
    let certificate = match reusable {
        Some(current) => {
            tracing::info!(file = %current.path.display(), "using the valid client certificate found in the cert dir");
            current
        }
        None => request_certificate(&bootstrap, store, node_name, refused.as_ref())
            .await
            .map_err(|e| match e {
                BootstrapError::Csr(csr::CsrError::Create(source)) if source.is_unauthorized() => {
                    BootstrapError::BootstrapRefused {
                        path: bootstrap_path.map(Path::to_path_buf).unwrap_or_default(),
                        node: node_name.to_string(),
                        source,
                    }
                }
                e => e,
            })?,
    };
    let config = write_kubeconfig(&bootstrap, kubeconfig_path, store)?;
    Ok(Credentials {
        config,
        certificate,
        bootstrap: Some(bootstrap),
    })
}

/// Whether the apiserver refuses the valid certificate of `--kubeconfig` (401), logged with
/// what the agent does about it. Anything short of a 401 (an apiserver down or unreachable, a
/// TLS failure, a 403, a 5xx) keeps the kubeconfig: only a refusal warrants a new bootstrap.
async fn refuses(
    kubeconfig_path: &Path,
    config: &ResolvedConfig,
    certificate: &KeyedCertificate,
) -> bool {
    match probe_kubeconfig(config).await {
        Probe::Accepted => false,
        Probe::Unknown(error) => {
            tracing::debug!(kubeconfig = %kubeconfig_path.display(), error = %error, "could not check the kubeconfig's client certificate with the apiserver; using it as it is");
            false
        }
        Probe::Refused(error) => {
            tracing::warn!(
                kubeconfig = %kubeconfig_path.display(),
                serial = %certificate.leaf().serial_hex(),
                not_after = %rfc3339(certificate.not_after()),
                error = %error,
                "the apiserver refuses the client certificate in the kubeconfig although it has not expired (its CA may have been retired while this machine was off, or it was revoked); bootstrapping with --bootstrap-kubeconfig"
            );
            true
        }
    }
}

/// What the apiserver said of a kubeconfig's credentials.
#[derive(Debug)]
enum Probe {
    /// It told us who we are.
    Accepted,
    /// 401: it does not authenticate them.
    Refused(ClientError),
    /// No verdict on them: not reached, TLS, timeout, 403 (authenticated, not allowed to ask),
    /// 5xx.
    Unknown(ClientError),
}

impl Probe {
    fn from_result<T>(result: Result<T, ClientError>) -> Probe {
        match result {
            Ok(_) => Probe::Accepted,
            Err(e) if e.is_unauthorized() => Probe::Refused(e),
            Err(e) => Probe::Unknown(e),
        }
    }
}

/// Asks the apiserver who `config`'s credentials are (one SelfSubjectReview, `kubectl auth
/// whoami`; every authenticated user may), within a few seconds ([`PROBE_RETRY`]).
async fn probe_kubeconfig(config: &ResolvedConfig) -> Probe {
    let client = client::ClientConfig::from_kubeconfig(config, &user_agent()).and_then(|mut c| {
        c.request_timeout = PROBE_REQUEST_TIMEOUT;
        c.retry = PROBE_RETRY;
        Client::new(c)
    });
    let review = match client {
        Ok(client) => client.create(None, &SelfSubjectReview::default()).await,
        Err(e) => Err(e),
    };
    Probe::from_result(review)
}

/// A valid pair already in the cert dir (the kubeconfig was lost): no new request needed,
/// unless it is the very certificate the apiserver just refused.
fn reusable_pair(
    store: &CertStore,
    refused: Option<&KeyedCertificate>,
    now: SystemTime,
) -> Result<Option<KeyedCertificate>, BootstrapError> {
    let current = store.load_current().map_err(BootstrapError::Store)?;
    Ok(current.filter(|c| c.leaf().is_valid_at(now) && !is_refused(c, refused)))
}

/// Whether `pair` is the certificate the apiserver refused at start.
fn is_refused(pair: &KeyedCertificate, refused: Option<&KeyedCertificate>) -> bool {
    refused.is_some_and(|r| r.leaf().der() == pair.leaf().der())
}

/// The start with an expired certificate in `--kubeconfig` (decision 0027): a valid pair in
/// the cert dir, else a renewal by the expired certificate itself. `Ok(None)`: not renewed,
/// bootstrap instead (`can_bootstrap`; without, that is an error saying what to do).
async fn renew_expired_kubeconfig(
    kubeconfig_path: &Path,
    config: &ResolvedConfig,
    expired: &KeyedCertificate,
    can_bootstrap: bool,
    store: &CertStore,
    node_name: &str,
) -> Result<Option<(ResolvedConfig, KeyedCertificate)>, BootstrapError> {
    // A valid pair in the cert dir (a kubeconfig with embedded data gone stale): no request
    // needed, as on the bootstrap path.
    if let Ok(Some(current)) = store.load_current()
        && current.leaf().is_valid_at(SystemTime::now())
    {
        tracing::info!(file = %current.path.display(), "using the valid client certificate found in the cert dir");
        let config = write_kubeconfig(config, kubeconfig_path, store)?;
        return Ok(Some((config, current)));
    }
    let not_after = rfc3339(expired.not_after());
    tracing::info!(
        kubeconfig = %kubeconfig_path.display(),
        expired_at = %not_after,
        serial = %expired.leaf().serial_hex(),
        "the client certificate in the kubeconfig has expired; asking the apiserver to renew it with itself"
    );
    // With a token to fall back on, a request the approver leaves Pending is not worth an
    // hour; without, it is the only way back.
    let wait = if can_bootstrap {
        EXPIRED_RENEWAL_WAIT
    } else {
        BOOTSTRAP_WAIT_TIMEOUT
    };
    match renew_expired(config, store, node_name, wait).await {
        Ok(certificate) => {
            let config = write_kubeconfig(config, kubeconfig_path, store)?;
            Ok(Some((config, certificate)))
        }
        Err(NotRenewed::Stop(e)) => Err(e),
        Err(NotRenewed::Refused(reason)) => {
            // The next request (bootstrap, or a later start) begins with a new key.
            store.remove_pending_key();
            if !can_bootstrap {
                return Err(BootstrapError::ExpiredNotRenewed {
                    kubeconfig: kubeconfig_path.to_path_buf(),
                    node: node_name.to_string(),
                    not_after,
                    source: Box::new(reason),
                });
            }
            tracing::warn!(
                reason = %reason,
                "the apiserver does not renew the expired client certificate; bootstrapping with --bootstrap-kubeconfig"
            );
            Ok(None)
        }
    }
}

/// Writes `--kubeconfig` as the kubelet does, with `cluster`'s server and CA (the bootstrap
/// kubeconfig's, or the expired kubeconfig's after a renewal with itself) and the cert dir's
/// current pair; returns it read back.
fn write_kubeconfig(
    cluster: &ResolvedConfig,
    path: &Path,
    store: &CertStore,
) -> Result<ResolvedConfig, BootstrapError> {
    Kubeconfig::for_kubelet(cluster, &store.current_path())
        .save(path)
        .map_err(|source| BootstrapError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    tracing::info!(kubeconfig = %path.display(), "wrote the kubeconfig");
    load_resolved(path)
}

fn load_resolved(path: &Path) -> Result<ResolvedConfig, BootstrapError> {
    let kubeconfig_error = |source| BootstrapError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    };
    Kubeconfig::load(path)
        .map_err(kubeconfig_error)?
        .resolve(None)
        .map_err(kubeconfig_error)
}

/// What `--kubeconfig` holds.
#[derive(Debug)]
enum Existing {
    Missing,
    Valid {
        config: ResolvedConfig,
        certificate: KeyedCertificate,
    },
    /// A certificate of its chain is past its NotAfter: the apiserver may still renew it.
    Expired {
        config: ResolvedConfig,
        certificate: KeyedCertificate,
    },
}

/// Reads `--kubeconfig`; an error when it exists but is unusable or is not a client
/// certificate kubeconfig.
fn existing_kubeconfig(path: &Path, now: SystemTime) -> Result<Existing, BootstrapError> {
    if !path.exists() {
        return Ok(Existing::Missing);
    }
    let config = load_resolved(path)?;
    let Identity::ClientCertificate { cert_pem, key_pem } = &config.identity else {
        return Err(BootstrapError::NotACertificateKubeconfig {
            path: path.to_path_buf(),
        });
    };
    let mut combined = cert_pem.clone();
    combined.push(b'\n');
    combined.extend_from_slice(key_pem);
    let certificate =
        KeyedCertificate::from_combined_pem(&combined, path).map_err(BootstrapError::Store)?;
    if certificate.chain.iter().all(|c| c.not_after() > now) {
        Ok(Existing::Valid {
            config,
            certificate,
        })
    } else {
        Ok(Existing::Expired {
            config,
            certificate,
        })
    }
}

/// How [`renew_expired`] ended without a certificate.
#[derive(Debug)]
enum NotRenewed {
    /// Ends the start: the bootstrap would fail the same way (our clock).
    Stop(BootstrapError),
    /// Fall back to the bootstrap credentials, or report this.
    Refused(RenewalError),
}

impl From<RenewalError> for NotRenewed {
    fn from(e: RenewalError) -> NotRenewed {
        NotRenewed::Refused(e)
    }
}

/// Asks for a client certificate with the expired one (`expired` is the kubeconfig that holds
/// it; our TLS client does not check its own certificate's dates): the apiserver maps it to a
/// restricted identity within its offline window, and csrapproving approves the request if the
/// Node names this certificate (decision 0027). A new key, `generateName` and at most `wait`
/// for the answer; an unreachable apiserver is retried without end, as the bootstrap is.
async fn renew_expired(
    expired: &ResolvedConfig,
    store: &CertStore,
    node_name: &str,
    wait: Duration,
) -> Result<KeyedCertificate, NotRenewed> {
    let config = client::ClientConfig::from_kubeconfig(expired, &user_agent())
        .map_err(RenewalError::Client)?;
    let client = Client::new(config.clone()).map_err(RenewalError::Client)?;
    // Never the expired key: a renewal is a new credential.
    let key = store
        .load_or_create_pending_key()
        .map_err(RenewalError::Store)?;
    let template = Template::kubelet_client(node_name);
    let submitted = submit_retrying(
        &client,
        &config,
        &key,
        &template,
        Naming::Generated,
        "renew the expired client certificate",
    )
    .await
    .map_err(|e| match e {
        BootstrapError::Csr(CsrError::Create(e)) if e.is_unauthorized() => {
            NotRenewed::Refused(RenewalError::Unauthorized(e))
        }
        BootstrapError::Csr(CsrError::Create(e)) if e.is_forbidden() => {
            NotRenewed::Refused(RenewalError::Forbidden(e))
        }
        BootstrapError::Csr(e) => NotRenewed::Refused(RenewalError::Csr(e)),
        e => NotRenewed::Stop(e),
    })?;
    tracing::info!(csr = %submitted.name, "requested the renewal of the expired client certificate; waiting for approval");
    let name = submitted.name.clone();
    let certificate = csr::wait_for_certificate(&client, &submitted, wait, |condition| {
        tracing::info!("waiting for approval of csr {name} ({condition})");
    })
    .await
    .map_err(|e| match e {
        CsrError::Timeout { name, after } => RenewalError::NotApproved { name, after },
        e => RenewalError::Csr(e),
    })?;
    let keyed = store
        .update(&certificate, &key, SystemTime::now())
        .map_err(RenewalError::Store)?;
    store.remove_pending_key();
    tracing::info!(
        csr = %submitted.name,
        file = %keyed.path.display(),
        serial = %keyed.leaf().serial_hex(),
        expires = %rfc3339(keyed.not_after()),
        "renewed the expired client certificate with itself"
    );
    Ok(keyed)
}

/// Sends the CSR, retrying with backoff while the apiserver cannot be reached (a node may
/// start before it). A clock that makes the apiserver's certificate look invalid is a
/// [`BootstrapError::CertificateTime`] with the diagnosis (nothing was sent: the handshake
/// failed first); any other refusal is [`BootstrapError::Csr`] for the caller to judge.
async fn submit_retrying(
    client: &Client,
    config: &client::ClientConfig,
    key: &pki::PrivateKey,
    template: &Template,
    naming: Naming,
    what: &str,
) -> Result<csr::Submitted, BootstrapError> {
    let mut backoff = Backoff::certificate();
    loop {
        match csr::submit(client, key, template, naming).await {
            Ok(submitted) => return Ok(submitted),
            Err(CsrError::Create(e)) if e.is_certificate_time() => {
                return Err(BootstrapError::CertificateTime {
                    source: e,
                    diagnosis: crate::clock::diagnose(config).await,
                });
            }
            Err(e @ CsrError::Create(_)) if e.retry_after().is_some() => {
                let delay = backoff
                    .next_delay()
                    .max(e.retry_after().unwrap_or_default());
                tracing::warn!(error = %e, retry_in = ?delay, "the apiserver limits this node's certificate requests; waiting to {what}");
                tokio::time::sleep(delay).await;
            }
            Err(CsrError::Create(e)) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach the apiserver to {what}");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(BootstrapError::Csr(e)),
        }
    }
}

/// Sends (or finds again) the bootstrap CSR and waits for its certificate.
async fn request_certificate(
    bootstrap: &ResolvedConfig,
    store: &CertStore,
    node_name: &str,
    refused: Option<&KeyedCertificate>,
) -> Result<KeyedCertificate, BootstrapError> {
    let config = client::ClientConfig::from_kubeconfig(bootstrap, &user_agent())
        .map_err(BootstrapError::Client)?;
    let client = Client::new(config.clone()).map_err(BootstrapError::Client)?;
    let key = bootstrap_key(store, refused)?;
    let template = Template::kubelet_client(node_name);
    let submitted = submit_retrying(
        &client,
        &config,
        &key,
        &template,
        Naming::Digested,
        "request a client certificate",
    )
    .await?;
    tracing::info!(csr = %submitted.name, "requested a client certificate; waiting for approval");
    let name = submitted.name.clone();
    let certificate =
        csr::wait_for_certificate(&client, &submitted, BOOTSTRAP_WAIT_TIMEOUT, |condition| {
            tracing::info!("waiting for approval of csr {name} ({condition})");
        })
        .await
        .map_err(BootstrapError::Csr)?;
    let keyed = store
        .update(&certificate, &key, SystemTime::now())
        .map_err(BootstrapError::Store)?;
    store.remove_pending_key();
    tracing::info!(
        csr = %submitted.name,
        file = %keyed.path.display(),
        serial = %keyed.leaf().serial_hex(),
        "client certificate issued"
    );
    Ok(keyed)
}

/// The key of the bootstrap request: an expired pair's is reused, as upstream does, but never
/// the refused certificate's (its digested CSR name would find the old request and its
/// certificate again); else the one kept for a pending request.
fn bootstrap_key(
    store: &CertStore,
    refused: Option<&KeyedCertificate>,
) -> Result<pki::PrivateKey, BootstrapError> {
    match store.load_current() {
        Ok(Some(current)) if !is_refused(&current, refused) => {
            pki::PrivateKey::from_pem(&current.key_pem)
                .map_err(|e| BootstrapError::Csr(csr::CsrError::Build(e)))
        }
        _ => store
            .load_or_create_pending_key()
            .map_err(BootstrapError::Store),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert_store::CLIENT_PREFIX;
    use pki::PrivateKey;

    const HOUR: Duration = Duration::from_secs(3600);

    fn ca() -> pki::CertificateAuthority {
        pki::CertificateAuthority::generate("ca", pki::KeyAlgorithm::EcdsaP256, 24 * HOUR).unwrap()
    }

    /// A `system:node:n1` client certificate and its key, signed as if at `signed_at`.
    fn pair(ca: &pki::CertificateAuthority, signed_at: SystemTime) -> (String, PrivateKey) {
        let key = PrivateKey::generate_p256().unwrap();
        let template = Template::kubelet_client("n1");
        let csr_pem = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        let cert = ca
            .sign_csr(&csr, &template.usages, None, HOUR, signed_at)
            .unwrap();
        (cert, key)
    }

    /// A kubeconfig whose certificate and key are in `<dir>/<name>.pem`, for a server nobody
    /// listens on.
    fn kubeconfig_with(
        dir: &Path,
        name: &str,
        ca: &pki::CertificateAuthority,
        cert: &str,
        key: &PrivateKey,
    ) -> PathBuf {
        kubeconfig_for("https://127.0.0.1:1", dir, name, ca, cert, key)
    }

    /// [`kubeconfig_with`] for `server`.
    fn kubeconfig_for(
        server: &str,
        dir: &Path,
        name: &str,
        ca: &pki::CertificateAuthority,
        cert: &str,
        key: &PrivateKey,
    ) -> PathBuf {
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, format!("{cert}{}", key.to_pem())).unwrap();
        let path = dir.join(format!("{name}.kubeconfig"));
        Kubeconfig::with_client_certificate_files(
            "c",
            &server.parse().unwrap(),
            Some(ca.cert_pem().as_bytes()),
            "u",
            &pem,
            &pem,
        )
        .save(&path)
        .unwrap();
        path
    }

    /// A bootstrap (token) kubeconfig for `server`.
    fn bootstrap_kubeconfig_for(
        server: &str,
        dir: &Path,
        ca: &pki::CertificateAuthority,
    ) -> PathBuf {
        let path = dir.join("bootstrap.kubeconfig");
        Kubeconfig::with_token(
            "c",
            &server.parse().unwrap(),
            Some(ca.cert_pem().as_bytes()),
            "kubelet-bootstrap",
            "abcdef.0123456789abcdef",
        )
        .save(&path)
        .unwrap();
        path
    }

    #[test]
    fn an_expired_kubeconfig_is_told_from_a_missing_or_a_valid_one() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        assert!(matches!(
            existing_kubeconfig(&dir.path().join("absent"), now).unwrap(),
            Existing::Missing
        ));
        let ca = ca();
        let (cert, key) = pair(&ca, now);
        let path = kubeconfig_with(dir.path(), "kubelet", &ca, &cert, &key);
        let Existing::Valid { certificate, .. } = existing_kubeconfig(&path, now).unwrap() else {
            panic!("a fresh certificate is valid");
        };
        let serial = certificate.leaf().serial_hex();
        let Existing::Expired {
            config,
            certificate,
        } = existing_kubeconfig(&path, now + 2 * HOUR).unwrap()
        else {
            panic!("past its NotAfter the certificate is expired");
        };
        // Kept as it is, to make the renewal request with.
        assert_eq!(certificate.leaf().serial_hex(), serial);
        assert!(matches!(
            config.identity,
            Identity::ClientCertificate { .. }
        ));
        assert_eq!(config.server.as_str(), "https://127.0.0.1:1/");
    }

    #[test]
    fn a_token_kubeconfig_is_not_a_certificate_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.kubeconfig");
        Kubeconfig::with_token(
            "c",
            &"https://127.0.0.1:1".parse().unwrap(),
            Some(ca().cert_pem().as_bytes()),
            "u",
            "abcdef.0123456789abcdef",
        )
        .save(&path)
        .unwrap();
        let err = existing_kubeconfig(&path, SystemTime::now()).unwrap_err();
        assert!(matches!(
            err,
            BootstrapError::NotACertificateKubeconfig { .. }
        ));
    }

    #[tokio::test]
    async fn an_expired_kubeconfig_uses_a_valid_pair_in_the_cert_dir_without_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let (old, old_key) = pair(&ca, SystemTime::now() - 3 * HOUR);
        let kubeconfig = kubeconfig_with(dir.path(), "kubelet", &ca, &old, &old_key);
        let store = CertStore::new(&dir.path().join("pki"), CLIENT_PREFIX);
        let (cert, key) = pair(&ca, SystemTime::now());
        let stored = store
            .update(cert.as_bytes(), &key, SystemTime::now())
            .unwrap();
        // Nobody listens on the server: any request would fail or hang.
        let credentials = tokio::time::timeout(
            Duration::from_secs(5),
            client_credentials(&kubeconfig, None, &store, "n1"),
        )
        .await
        .expect("no request is made")
        .unwrap();
        assert_eq!(
            credentials.certificate.leaf().serial_hex(),
            stored.leaf().serial_hex()
        );
        // The kubeconfig now names the cert dir's pair and keeps its own server and CA.
        let written = Kubeconfig::load(&kubeconfig).unwrap();
        let user = &written.users[0].user;
        assert_eq!(
            user.client_certificate.as_deref(),
            Some(store.current_path().to_str().unwrap())
        );
        assert_eq!(credentials.config.server.as_str(), "https://127.0.0.1:1/");
        assert_eq!(
            credentials.config.ca_pem.as_deref(),
            Some(ca.cert_pem().as_bytes())
        );
        assert!(credentials.bootstrap.is_none());
    }

    #[tokio::test]
    async fn an_unreachable_apiserver_is_retried_with_a_new_key_not_taken_as_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let (old, old_key) = pair(&ca, SystemTime::now() - 3 * HOUR);
        let kubeconfig = kubeconfig_with(dir.path(), "kubelet", &ca, &old, &old_key);
        let store = CertStore::new(&dir.path().join("pki"), CLIENT_PREFIX);
        // Without a bootstrap kubeconfig a refusal would be an error at once; an outage
        // keeps the agent trying.
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            client_credentials(&kubeconfig, None, &store, "n1"),
        )
        .await;
        assert!(attempt.is_err(), "gave up: {attempt:?}");
        let pending = std::fs::read(store.pending_key_path()).expect("a key for the request");
        let pending = PrivateKey::from_pem(&pending).unwrap();
        assert_ne!(pending.public_key_der(), old_key.public_key_der());
    }

    #[test]
    fn not_renewed_without_a_bootstrap_kubeconfig_says_what_to_do() {
        let err = BootstrapError::ExpiredNotRenewed {
            kubeconfig: PathBuf::from("/var/lib/kubelet/kubeconfig"),
            node: "n1".into(),
            not_after: "2024-05-01T10:00:00Z".into(),
            source: Box::new(RenewalError::Unauthorized(ClientError::api(
                protocol::meta::Status::unauthorized(),
            ))),
        };
        let text = err.to_string();
        for part in [
            "--kubeconfig /var/lib/kubelet/kubeconfig expired at 2024-05-01T10:00:00Z",
            "--client-certificate-max-offline-window",
            "--bootstrap-kubeconfig",
            "lab token create --node-name n1 --single-use",
            "lab node replace n1",
        ] {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
        let pending = RenewalError::NotApproved {
            name: "csr-abcde".into(),
            after: EXPIRED_RENEWAL_WAIT,
        };
        assert_eq!(
            pending.to_string(),
            "certificate signing request csr-abcde was not approved within 60 s: only the certificate the Node names as its newest is renewed; `kubectl describe csr csr-abcde` says why"
        );
    }

    #[test]
    fn only_a_401_is_taken_as_a_refusal_of_the_kubeconfig() {
        let ok: Result<(), ClientError> = Ok(());
        assert!(matches!(Probe::from_result(ok), Probe::Accepted));
        let unauthorized = ClientError::api(protocol::meta::Status::unauthorized());
        assert!(matches!(
            Probe::from_result::<()>(Err(unauthorized)),
            Probe::Refused(_)
        ));
        // An apiserver that is down, slow, unreachable over TLS, failing, or authenticating
        // us but not letting us ask: no verdict, the kubeconfig is kept.
        for error in [
            ClientError::Transport("connection refused".into()),
            ClientError::Timeout(PROBE_REQUEST_TIMEOUT),
            ClientError::Tls("invalid peer certificate: UnknownIssuer".into()),
            ClientError::api(protocol::meta::Status::internal_error("boom")),
            ClientError::api(protocol::meta::Status::failure(403, "Forbidden", "no")),
            ClientError::UnexpectedResponse {
                code: 502,
                body: "bad gateway".into(),
            },
        ] {
            let text = error.to_string();
            assert!(
                matches!(Probe::from_result::<()>(Err(error)), Probe::Unknown(_)),
                "{text}"
            );
        }
    }

    /// `client_credentials` with a valid kubeconfig for `server` (and a bootstrap kubeconfig
    /// for it too, `with_bootstrap`); checks that the kubeconfig is used as it is and returns
    /// how long the start took.
    async fn start_with_valid_kubeconfig(server: &str, with_bootstrap: bool) -> Duration {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let (cert, key) = pair(&ca, SystemTime::now());
        let kubeconfig = kubeconfig_for(server, dir.path(), "kubelet", &ca, &cert, &key);
        let bootstrap = with_bootstrap.then(|| bootstrap_kubeconfig_for(server, dir.path(), &ca));
        let before = std::fs::read(&kubeconfig).unwrap();
        let store = CertStore::new(&dir.path().join("pki"), CLIENT_PREFIX);
        let started = std::time::Instant::now();
        let credentials = tokio::time::timeout(
            Duration::from_secs(20),
            client_credentials(&kubeconfig, bootstrap.as_deref(), &store, "n1"),
        )
        .await
        .expect("the start is not held up")
        .unwrap();
        let elapsed = started.elapsed();
        // Not rewritten, nothing requested with the bootstrap credentials.
        assert_eq!(std::fs::read(&kubeconfig).unwrap(), before);
        assert!(!store.pending_key_path().exists());
        assert_eq!(credentials.bootstrap.is_some(), with_bootstrap);
        let expected = pki::Certificate::from_pem(cert.as_bytes()).unwrap();
        assert_eq!(credentials.certificate.leaf().der(), expected.der());
        elapsed
    }

    #[tokio::test]
    async fn a_valid_kubeconfig_is_kept_when_the_apiserver_cannot_be_reached() {
        // Nobody listens: connections are refused, retried for about 2 s.
        let elapsed = start_with_valid_kubeconfig("https://127.0.0.1:1", true).await;
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_silent_apiserver_delays_the_start_by_a_few_seconds_only() {
        // Connections are taken (the listen backlog) but never answered: the TLS handshake
        // hangs until the per-attempt timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = format!("https://{}", silent.local_addr().unwrap());
        let elapsed = start_with_valid_kubeconfig(&server, true).await;
        assert!(
            elapsed >= PROBE_REQUEST_TIMEOUT && elapsed < Duration::from_secs(6),
            "took {elapsed:?}"
        );
        // Without bootstrap credentials nothing is asked: no wait at all.
        let elapsed = start_with_valid_kubeconfig(&server, false).await;
        assert!(elapsed < PROBE_REQUEST_TIMEOUT, "took {elapsed:?}");
    }

    #[test]
    fn the_refused_certificate_is_not_reused_nor_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let store = CertStore::new(&dir.path().join("pki"), CLIENT_PREFIX);
        let (cert, key) = pair(&ca, SystemTime::now());
        let refused = store
            .update(cert.as_bytes(), &key, SystemTime::now())
            .unwrap();
        let now = SystemTime::now();

        // Nothing refused (the kubeconfig was lost): the cert dir's pair and its key.
        let reused = reusable_pair(&store, None, now).unwrap().unwrap();
        assert_eq!(reused.leaf().der(), refused.leaf().der());
        assert_eq!(
            bootstrap_key(&store, None).unwrap().public_key_der(),
            key.public_key_der()
        );
        assert!(!store.pending_key_path().exists());

        // The apiserver refused that very certificate: a new request, with a new key.
        assert!(
            reusable_pair(&store, Some(&refused), now)
                .unwrap()
                .is_none()
        );
        let new_key = bootstrap_key(&store, Some(&refused)).unwrap();
        assert_ne!(new_key.public_key_der(), key.public_key_der());
        assert!(store.pending_key_path().exists());

        // Another certificate refused (the kubeconfig's own copy, not the cert dir's): the
        // cert dir's valid pair is still used.
        let (other, other_key) = pair(&ca, SystemTime::now());
        let other = KeyedCertificate::from_combined_pem(
            format!("{other}{}", other_key.to_pem()).as_bytes(),
            &dir.path().join("other.pem"),
        )
        .unwrap();
        let reused = reusable_pair(&store, Some(&other), now).unwrap().unwrap();
        assert_eq!(reused.leaf().der(), refused.leaf().der());
    }
}
