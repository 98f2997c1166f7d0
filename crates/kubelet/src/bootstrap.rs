//! Getting the first client certificate (kubelet `bootstrap.LoadClientCert`): use
//! `--kubeconfig` when its certificate is still valid; when it has expired (a node powered
//! off for longer than its certificate lived), first ask the apiserver to renew it with
//! itself (decision 0027); otherwise request one with the `--bootstrap-kubeconfig`
//! credentials. The new certificate goes to the cert dir and `--kubeconfig` is written
//! pointing at `kubelet-client-current.pem`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use client::{Client, ClientError};
use kubeconfig::{Identity, Kubeconfig, ResolvedConfig};

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
    match existing_kubeconfig(kubeconfig_path, SystemTime::now()) {
        Ok(Existing::Valid {
            config,
            certificate,
        }) => {
            tracing::info!(kubeconfig = %kubeconfig_path.display(), "kubeconfig exists and is valid, skipping bootstrap");
            return Ok(Credentials {
                config,
                certificate,
                bootstrap,
            });
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

    // A valid pair already in the cert dir (the kubeconfig was lost): no new request needed.
    let existing = store.load_current().map_err(BootstrapError::Store)?;
    let now = SystemTime::now();
    let certificate = match existing {
        Some(current) if current.leaf().is_valid_at(now) => {
            tracing::info!(file = %current.path.display(), "using the valid client certificate found in the cert dir");
            current
        }
        _ => request_certificate(&bootstrap, store, node_name)
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
) -> Result<KeyedCertificate, BootstrapError> {
    let config = client::ClientConfig::from_kubeconfig(bootstrap, &user_agent())
        .map_err(BootstrapError::Client)?;
    let client = Client::new(config.clone()).map_err(BootstrapError::Client)?;
    // The key of an expired pair is reused, else the one kept for a pending request.
    let key = match store.load_current() {
        Ok(Some(current)) => pki::PrivateKey::from_pem(&current.key_pem)
            .map_err(|e| BootstrapError::Csr(csr::CsrError::Build(e)))?,
        _ => store
            .load_or_create_pending_key()
            .map_err(BootstrapError::Store)?,
    };
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
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, format!("{cert}{}", key.to_pem())).unwrap();
        let path = dir.join(format!("{name}.kubeconfig"));
        Kubeconfig::with_client_certificate_files(
            "c",
            &"https://127.0.0.1:1".parse().unwrap(),
            Some(ca.cert_pem().as_bytes()),
            "u",
            &pem,
            &pem,
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
}
