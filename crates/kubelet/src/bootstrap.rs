//! Getting the first client certificate (kubelet `bootstrap.LoadClientCert`): use
//! `--kubeconfig` when its certificate is still valid; otherwise request one with the
//! `--bootstrap-kubeconfig` credentials, write it to the cert dir and write `--kubeconfig`
//! pointing at `kubelet-client-current.pem`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use client::Client;
use kubeconfig::{Identity, Kubeconfig, ResolvedConfig};

use crate::backoff::Backoff;
use crate::cert_store::{CertStore, KeyedCertificate};
use crate::csr::{self, Naming, Template};

/// How long the bootstrap waits for its CSR to be issued (upstream: one hour).
pub const BOOTSTRAP_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

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
    match valid_kubeconfig(kubeconfig_path) {
        Ok(Some((config, certificate))) => {
            tracing::info!(kubeconfig = %kubeconfig_path.display(), "kubeconfig exists and is valid, skipping bootstrap");
            return Ok(Credentials {
                config,
                certificate,
                bootstrap,
            });
        }
        Ok(None) => {}
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
    let written = Kubeconfig::for_kubelet(&bootstrap, &store.current_path());
    written
        .save(kubeconfig_path)
        .map_err(|source| BootstrapError::Kubeconfig {
            path: kubeconfig_path.to_path_buf(),
            source,
        })?;
    tracing::info!(kubeconfig = %kubeconfig_path.display(), "wrote the kubeconfig");
    let config = load_resolved(kubeconfig_path)?;
    Ok(Credentials {
        config,
        certificate,
        bootstrap: Some(bootstrap),
    })
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

/// `Ok(None)` when the file is missing or its certificate has expired.
fn valid_kubeconfig(
    path: &Path,
) -> Result<Option<(ResolvedConfig, KeyedCertificate)>, BootstrapError> {
    if !path.exists() {
        return Ok(None);
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
    let now = SystemTime::now();
    if certificate.chain.iter().all(|c| c.not_after() > now) {
        Ok(Some((config, certificate)))
    } else {
        tracing::info!(kubeconfig = %path.display(), "the client certificate in the kubeconfig has expired");
        Ok(None)
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
    let mut backoff = Backoff::certificate();
    let submitted = loop {
        match csr::submit(&client, &key, &template, Naming::Digested).await {
            Ok(submitted) => break submitted,
            Err(csr::CsrError::Create(e)) if e.is_certificate_time() => {
                // Nothing was sent yet: the handshake failed before the token left.
                return Err(BootstrapError::CertificateTime {
                    source: e,
                    diagnosis: crate::clock::diagnose(&config).await,
                });
            }
            Err(csr::CsrError::Create(e)) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach the apiserver to request a client certificate");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(BootstrapError::Csr(e)),
        }
    };
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
