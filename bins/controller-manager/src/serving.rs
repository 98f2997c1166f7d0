//! The secure port: HTTPS `/healthz`, `/livez`, `/readyz` and `/metrics`, with the certificate
//! from `--tls-cert-file` or, as kube-controller-manager does, a self-signed one made in memory.
//! Client certificates are asked for (not required) when `--client-ca-file` is set; the file
//! is followed (`client::client_ca`), so a CA rotation needs no restart here either.
//!
//! Who may read what, as upstream's controller-manager (delegated authentication and
//! authorization, `client::delegated`): a verified client certificate, else a bearer token
//! reviewed through `--authentication-kubeconfig` (a refused token is a 401), else anonymous;
//! then `--authorization-always-allow-paths` (health) and `system:masters` pass, and anything
//! else needs a SubjectAccessReview through `--authorization-kubeconfig` -- without it, it is
//! forbidden.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::metrics::{self, Metrics};
use client::client_ca::{ClientCa, ClientCaError, ClientCaSource};
use client::delegated::{Attributes, Delegation, certificate_user};

/// A serving certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServingTlsError {
    #[error("--tls-cert-file and --tls-private-key-file must be specified together")]
    HalfPair,
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no valid PEM CERTIFICATE block found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no valid PEM private key found (expected PKCS#1, PKCS#8 or SEC1)")]
    NoPrivateKey { path: PathBuf },
    #[error("failed to use serving certificate with its key: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("failed to generate a self-signed serving certificate: {0}")]
    SelfSigned(#[from] pki::PkiError),
    #[error(transparent)]
    ClientCa(#[from] ClientCaError),
}

/// Where the port's client CAs come from (`--client-ca-file`, or the apiserver's published
/// bundle) and how often they are looked at for changes.
#[derive(Debug, Clone)]
pub struct PortClientCa {
    pub source: ClientCaSource,
    pub reload_interval: Duration,
}

/// Where and with what certificate to serve.
#[derive(Debug, Clone)]
pub struct ServingTls {
    pub address: SocketAddr,
    pub server_config: Arc<ServerConfig>,
}

impl ServingTls {
    /// `--tls-cert-file` / `--tls-private-key-file`.
    pub fn load(
        address: SocketAddr,
        cert: &Path,
        key: &Path,
        client_ca: Option<PortClientCa>,
    ) -> Result<ServingTls, ServingTlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ServingTlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .ok()
            .filter(|c: &Vec<_>| !c.is_empty())
            .ok_or_else(|| ServingTlsError::NoCertificate {
                path: cert.to_path_buf(),
            })?;
        let private_key =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| ServingTlsError::NoPrivateKey {
                path: key.to_path_buf(),
            })?;
        Ok(ServingTls {
            address,
            server_config: server_config(chain, private_key, client_ca)?,
        })
    }

    /// A certificate for `localhost` and the loopback address, signed by a throw-away CA made
    /// in memory (the CA goes along in the chain), as upstream's `MaybeDefaultWithSelfSignedCerts`.
    pub fn self_signed(
        address: SocketAddr,
        client_ca: Option<PortClientCa>,
    ) -> Result<ServingTls, ServingTlsError> {
        let validity = Duration::from_secs(365 * 24 * 3600);
        let ca = pki::CertificateAuthority::generate(
            &format!("localhost-ca@{}", unix_now()),
            pki::KeyAlgorithm::EcdsaP256,
            validity,
        )?;
        let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
        if !address.ip().is_unspecified() && !ips.contains(&address.ip()) {
            ips.push(address.ip());
        }
        let (cert_pem, key_pem) = ca.issue_leaf(&pki::LeafParams {
            common_name: format!("localhost@{}", unix_now()),
            organizations: Vec::new(),
            dns: vec!["localhost".to_string()],
            ips,
            usages: vec![
                pki::Usage::DigitalSignature,
                pki::Usage::KeyEncipherment,
                pki::Usage::ServerAuth,
            ],
            validity,
        })?;
        let chain_pem = format!("{cert_pem}{}", ca.cert_pem());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|_| ServingTlsError::NoCertificate {
                    path: PathBuf::from("(generated)"),
                })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
            ServingTlsError::NoPrivateKey {
                path: PathBuf::from("(generated)"),
            }
        })?;
        Ok(ServingTls {
            address,
            server_config: server_config(chain, key, client_ca)?,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<PortClientCa>,
) -> Result<Arc<ServerConfig>, ServingTlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(Arc::new(ClientCa::from_source(
            ca.source,
            provider,
            ca.reload_interval,
        )?)),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No session resumption, as the apiserver (decision 0015): a resumed session keeps the
    // client certificate it was verified with, so a CA retired from the file would still let
    // its clients in.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    metrics: Metrics,
    delegation: Arc<Delegation>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let metrics = metrics.clone();
        let delegation = Arc::clone(&delegation);
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            // Verified by the TLS layer against --client-ca-file, once per connection.
            let certificate = certificate_user(tls.get_ref().1.peer_certificates());
            let service = service_fn(move |request| {
                let metrics = metrics.clone();
                let delegation = Arc::clone(&delegation);
                let certificate = certificate.clone();
                async move {
                    Ok::<_, Infallible>(answer(&request, &delegation, certificate, &metrics).await)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// Authenticates and authorizes `request`, then routes it.
async fn answer<B>(
    request: &Request<B>,
    delegation: &Delegation,
    certificate: Option<protocol::authentication::v1::UserInfo>,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(user) = delegation.authenticate(certificate, header).await else {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".to_string(),
        );
    };
    let path = request.uri().path();
    let verb = request.method().as_str().to_ascii_lowercase();
    let attributes = Attributes::NonResource {
        path: path.to_string(),
        verb: verb.clone(),
    };
    if !delegation.allowed(&user, path, attributes).await {
        let message = format!(
            "forbidden: User {:?} cannot {verb} path {path:?}",
            user.username
        );
        return status(StatusCode::FORBIDDEN, "Forbidden", message);
    }
    route(request, metrics)
}

/// A `meta/v1.Status` answer, as upstream's authentication and authorization filters write.
fn status(code: StatusCode, reason: &str, message: String) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {},
        "code": code.as_u16(),
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

fn route<B>(request: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header("X-Content-Type-Options", "nosniff")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n".to_string(),
        );
    }
    match request.uri().path() {
        "/healthz" | "/livez" | "/readyz" => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok".to_string(),
        ),
        "/metrics" => text(StatusCode::OK, metrics::CONTENT_TYPE, metrics.render()),
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 page not found\n".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_health_and_metrics_and_404s_the_rest() {
        let metrics = Metrics::new();
        metrics.set_leader("kube-controller-manager", false);
        let get = |path: &str| {
            let request = Request::get(path).body(()).unwrap();
            route(&request, &metrics)
        };
        assert_eq!(get("/healthz").status(), StatusCode::OK);
        assert_eq!(get("/readyz").status(), StatusCode::OK);
        let m = get("/metrics");
        assert_eq!(m.status(), StatusCode::OK);
        assert_eq!(
            m.headers()[http::header::CONTENT_TYPE],
            metrics::CONTENT_TYPE
        );
        assert_eq!(get("/nope").status(), StatusCode::NOT_FOUND);
        let post = Request::post("/healthz").body(()).unwrap();
        assert_eq!(
            route(&post, &metrics).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn self_signed_and_file_certificates_load_and_bad_files_are_named() {
        let address: SocketAddr = "127.0.0.1:0".parse().unwrap();
        ServingTls::self_signed(address, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("serving.pem");
        let err = ServingTls::load(address, &missing, &missing, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("serving.pem"), "{err}");
        std::fs::write(&missing, "not pem").unwrap();
        assert!(matches!(
            ServingTls::load(address, &missing, &missing, None),
            Err(ServingTlsError::NoCertificate { .. })
        ));
        // --client-ca-file: a CA is read; a file without one is named.
        let ca = pki::CertificateAuthority::generate(
            "client-ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let ca_file = dir.path().join("client-ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let client_ca = |path: &Path| PortClientCa {
            source: ClientCaSource::File(path.to_path_buf()),
            reload_interval: Duration::from_secs(5),
        };
        ServingTls::self_signed(address, Some(client_ca(&ca_file))).unwrap();
        assert!(matches!(
            ServingTls::self_signed(address, Some(client_ca(&missing))),
            Err(ServingTlsError::ClientCa(
                ClientCaError::NoCertificate { .. }
            ))
        ));
    }
}
