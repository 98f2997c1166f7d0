//! The kubelet port over TLS. The serving certificate is looked up per handshake through a
//! `ResolvesServerCert` that always hands out the newest one, so a rotated certificate is
//! used by the next connection without a restart. The `--client-ca-file` is followed the same
//! way (`client::client_ca`), as the kubelet's dynamic client CA.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use client::client_ca::ClientCa;
use client::delegated::certificate_user;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::PortAuth;
use crate::cert_manager::CertificateWatch;
use crate::cert_store::KeyedCertificate;
use crate::http::{Endpoints, Guard, serve_connection};
use crate::state::AgentState;

/// The certificate currently served.
#[derive(Debug, Default)]
pub struct CurrentCert {
    key: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CurrentCert {
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self
            .key
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key);
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// rustls' form of a certificate chain and key.
pub fn certified_key(keyed: &KeyedCertificate) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(keyed.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(keyed.key_pem.as_bytes())
        .map_err(|e| format!("key PEM: {e}"))?;
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| format!("key: {e}"))?;
    Ok(CertifiedKey::new(chain, signing_key))
}

/// A TLS server config resolving through `current` (HTTP/2 and HTTP/1.1 by ALPN), asking for
/// (not requiring) a client certificate from the CAs in `client_ca`, a file looked at for
/// changes at most every `client_ca_interval`.
pub fn server_config(
    current: Arc<CurrentCert>,
    client_ca: Option<&Path>,
    client_ca_interval: Duration,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(Arc::new(
            ClientCa::with_interval(path, provider, client_ca_interval)
                .map_err(|e| e.to_string())?,
        )),
    };
    let mut config = builder.with_cert_resolver(current);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No session resumption, as the apiserver (decision 0015): a resumed session keeps the
    // client certificate it was verified with, so a CA retired from the file would still let
    // its clients in.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// Keeps `current` in step with the manager's published certificate.
pub async fn follow(
    mut certificates: CertificateWatch,
    current: Arc<CurrentCert>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let latest = certificates.borrow_and_update().clone();
        if let Some(keyed) = latest {
            match certified_key(&keyed) {
                Ok(key) => current.set(Arc::new(key)),
                Err(e) => tracing::error!(error = %e, "cannot use the new serving certificate"),
            }
        }
        tokio::select! {
            changed = certificates.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Accepts TLS connections until shutdown.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    state: Arc<AgentState>,
    auth: Arc<PortAuth>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let acceptor = acceptor.clone();
                    let state = state.clone();
                    let auth = auth.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => {
                                // Verified by the TLS layer against --client-ca-file.
                                let certificate = certificate_user(tls.get_ref().1.peer_certificates());
                                let guard = Guard { auth, certificate };
                                serve_connection(tls, Endpoints::Kubelet, state, Some(guard)).await
                            }
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn issue(
        ca: &pki::CertificateAuthority,
        store: &crate::cert_store::CertStore,
    ) -> KeyedCertificate {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let template = crate::csr::Template::kubelet_serving(
            "n1",
            pki::SubjectAltNames {
                dns: vec!["n1".into()],
                ips: vec!["127.0.0.1".parse().unwrap()],
            },
        );
        let csr_pem = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        let cert = ca
            .sign_csr(
                &csr,
                &template.usages,
                None,
                Duration::from_secs(3600),
                SystemTime::now(),
            )
            .unwrap();
        store
            .update(cert.as_bytes(), &key, SystemTime::now())
            .unwrap()
    }

    /// Connects, verifies the server against `ca`, GETs /healthz; returns the served serial.
    async fn served_serial(port: u16, ca: &pki::CertificateAuthority) -> String {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.certificate().der().to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::IpAddress(
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap().into(),
        );
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.unwrap();
        assert!(
            String::from_utf8_lossy(&response).starts_with("HTTP/1.1 500"),
            "no client cert yet"
        );
        let peer = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        pki::Certificate::from_der(&peer).unwrap().serial_hex()
    }

    #[tokio::test]
    async fn a_new_certificate_is_served_to_the_next_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::cert_store::CertStore::new(dir.path(), crate::cert_store::SERVER_PREFIX);
        let ca = pki::CertificateAuthority::generate(
            "ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(86400),
        )
        .unwrap();
        let first = issue(&ca, &store);
        let (tx, rx) = tokio::sync::watch::channel(Some(Arc::new(first.clone())));
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let current = Arc::new(CurrentCert::default());
        tokio::spawn(follow(rx, current.clone(), stop.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = server_config(current, None, Duration::ZERO).unwrap();
        let open = client::delegated::Delegation::new(
            None,
            true,
            client::delegated::Authorizer::AlwaysAllow,
        );
        tokio::spawn(serve_tls(
            listener,
            config,
            Arc::new(AgentState::default()),
            Arc::new(PortAuth::new(open, "n1".into())),
            stop,
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(served_serial(port, &ca).await, first.leaf().serial_hex());

        let second = issue(&ca, &store);
        tx.send_replace(Some(Arc::new(second.clone())));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(served_serial(port, &ca).await, second.leaf().serial_hex());
    }

    /// A client trusting `server_ca`, presenting `client` (certificate and key PEM) or no
    /// certificate. One config keeps its TLS sessions, to resume them if the server let it.
    fn client_config(
        server_ca: &pki::CertificateAuthority,
        client: Option<(String, String)>,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(server_ca.certificate().der().to_vec()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    /// GETs /metrics; the status line, or why there is none.
    async fn metrics_status(port: u16, config: &Arc<rustls::ClientConfig>) -> String {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::IpAddress(
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap().into(),
        );
        let mut tls = match connector.connect(name, tcp).await {
            Ok(tls) => tls,
            Err(e) => return format!("handshake: {e}"),
        };
        // Over TLS 1.3 a refused client certificate shows up on the first read.
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if let Err(e) = tls.write_all(request).await {
            return format!("write: {e}");
        }
        let mut response = Vec::new();
        if let Err(e) = tls.read_to_end(&mut response).await {
            return format!("read: {e}");
        }
        let response = String::from_utf8_lossy(&response);
        response.lines().next().unwrap_or_default().to_string()
    }

    fn client_pair(ca: &pki::CertificateAuthority) -> (String, String) {
        ca.issue_leaf(&pki::LeafParams {
            common_name: "kube-apiserver-kubelet-client".into(),
            organizations: vec!["system:masters".into()],
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: Duration::from_secs(3600),
        })
        .unwrap()
    }

    /// Writes aside and renames over, as deployment tools do.
    fn replace(path: &Path, contents: String) {
        let aside = path.with_extension("new");
        std::fs::write(&aside, contents).unwrap();
        std::fs::rename(&aside, path).unwrap();
    }

    #[tokio::test]
    async fn the_client_ca_file_is_followed_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::cert_store::CertStore::new(dir.path(), crate::cert_store::SERVER_PREFIX);
        let day = Duration::from_secs(86400);
        let generate = |name: &str| {
            pki::CertificateAuthority::generate(name, pki::KeyAlgorithm::EcdsaP256, day).unwrap()
        };
        let server_ca = generate("ca");
        let current = Arc::new(CurrentCert::default());
        current.set(Arc::new(certified_key(&issue(&server_ca, &store)).unwrap()));
        let (old, new) = (generate("old"), generate("new"));
        let client_ca = dir.path().join("client-ca.pem");
        replace(&client_ca, old.cert_pem());
        // Looked at on every handshake here (every 5 s in the agent).
        let config = server_config(current, Some(&client_ca), Duration::ZERO).unwrap();
        // As kubeadm sets the kubelet up: no anonymous requests.
        let closed = client::delegated::Delegation::new(
            None,
            false,
            client::delegated::Authorizer::AlwaysAllow,
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(serve_tls(
            listener,
            config,
            Arc::new(AgentState::default()),
            Arc::new(PortAuth::new(closed, "n1".into())),
            stop,
        ));

        let old_client = client_config(&server_ca, Some(client_pair(&old)));
        let new_client = client_config(&server_ca, Some(client_pair(&new)));
        let ok = "HTTP/1.1 200 OK";
        assert_eq!(metrics_status(port, &old_client).await, ok);
        assert_eq!(
            metrics_status(port, &client_config(&server_ca, None)).await,
            "HTTP/1.1 401 Unauthorized"
        );
        let refused = metrics_status(port, &new_client).await;
        assert!(refused.contains("UnknownCA"), "{refused}");

        // The file trusts both CAs: the new CA's certificate is authenticated.
        replace(&client_ca, format!("{}{}", old.cert_pem(), new.cert_pem()));
        assert_eq!(metrics_status(port, &new_client).await, ok);
        assert_eq!(metrics_status(port, &old_client).await, ok);

        // The old CA retired: its certificate is refused, a session it held not resumed.
        replace(&client_ca, new.cert_pem());
        let refused = metrics_status(port, &old_client).await;
        assert!(refused.contains("UnknownCA"), "{refused}");
        assert_eq!(metrics_status(port, &new_client).await, ok);
    }
}
