//! TLS and HTTP for the floor's clients (HTTP/2, or HTTP/1.1 when that is all a client
//! offers), and its PKI (a P-256 CA, the server's and the controller's certificates).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::server::{Body, full};

/// ALPN offers: HTTP/2 first, as client-go; or HTTP/1.1 alone (`--http1`).
pub(super) const H2_FIRST: &[&[u8]] = &[b"h2", b"http/1.1"];
pub(super) const HTTP1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// A connection's request side, in the protocol ALPN chose.
pub(super) enum Sender {
    H2(hyper::client::conn::http2::SendRequest<Body>),
    Http1(hyper::client::conn::http1::SendRequest<Body>),
}

pub(super) async fn connect(
    address: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(config)
        .connect(ServerName::IpAddress(address.ip().into()), tcp)
        .await?;
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(Sender::H2(sender))
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(Sender::Http1(sender))
    }
}

pub(super) async fn call(
    sender: &mut Sender,
    method: http::Method,
    path_and_query: &str,
    body: Bytes,
) -> anyhow::Result<Incoming> {
    let request = http::Request::builder().method(method);
    // HTTP/2 takes :scheme and :authority from the URI; HTTP/1.1 sends the path and a Host.
    let request = match sender {
        Sender::H2(_) => request.uri(format!("https://127.0.0.1{path_and_query}")),
        Sender::Http1(_) => request
            .uri(path_and_query)
            .header(http::header::HOST, "127.0.0.1"),
    };
    let request = request
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::AUTHORIZATION,
            "Bearer 07401b.f395accd246ae52d",
        )
        .body(full(body))?;
    let response = match sender {
        Sender::H2(h2) => {
            h2.ready().await?;
            h2.send_request(request).await?
        }
        Sender::Http1(http1) => {
            http1.ready().await?;
            http1.send_request(request).await?
        }
    };
    if !response.status().is_success() {
        bail!("{path_and_query}: HTTP {}", response.status());
    }
    Ok(response.into_body())
}

pub(super) async fn call_whole(
    sender: &mut Sender,
    method: http::Method,
    path_and_query: &str,
    body: Bytes,
) -> anyhow::Result<Bytes> {
    Ok(call(sender, method, path_and_query, body)
        .await?
        .collect()
        .await?
        .to_bytes())
}

pub(super) struct Pki {
    pub(super) ca: pki::CertificateAuthority,
    pub(super) roots: Arc<rustls::RootCertStore>,
    pub(super) server: Arc<rustls::ServerConfig>,
    /// What the kubelets offer by ALPN.
    pub(super) kubelet_alpn: &'static [&'static [u8]],
    pub(super) bootstrap: Arc<rustls::ClientConfig>,
    pub(super) controller: Arc<rustls::ClientConfig>,
}

fn chain_and_key(
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    use rustls::pki_types::pem::PemObject as _;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    Ok((chain, key))
}

pub(super) fn client_config(
    roots: &Arc<rustls::RootCertStore>,
    identity: Option<(&str, &str)>,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots.clone());
    let mut config = match identity {
        Some((cert, key)) => {
            let (chain, key) = chain_and_key(cert, key)?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

impl Pki {
    pub(super) fn new(kubelet_alpn: &'static [&'static [u8]]) -> anyhow::Result<Pki> {
        let day = Duration::from_secs(86_400);
        let ca =
            pki::CertificateAuthority::generate("floor-ca", pki::KeyAlgorithm::EcdsaP256, day)?;
        let leaf = |common_name: &str, usage: pki::Usage| {
            ca.issue_leaf(&pki::LeafParams {
                common_name: common_name.to_string(),
                organizations: vec![],
                dns: vec!["localhost".to_string()],
                ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                usages: vec![pki::Usage::DigitalSignature, usage],
                validity: day,
            })
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.certificate().der().to_vec()))?;
        let roots = Arc::new(roots);

        let (server_cert, server_key) = leaf("kube-apiserver", pki::Usage::ServerAuth)?;
        let (chain, key) = chain_and_key(&server_cert, &server_key)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder(roots.clone())
            .allow_unauthenticated()
            .build()?;
        let mut server = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let (cm_cert, cm_key) = leaf("system:kube-controller-manager", pki::Usage::ClientAuth)?;
        Ok(Pki {
            server: Arc::new(server),
            bootstrap: client_config(&roots, None, kubelet_alpn)?,
            controller: client_config(&roots, Some((&cm_cert, &cm_key)), H2_FIRST)?,
            kubelet_alpn,
            roots,
            ca,
        })
    }
}
