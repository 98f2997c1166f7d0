//! Shared fixtures of the serving tests: a PKI made with `pki`, an in-process server on
//! 127.0.0.1:0, and a small HTTPS client (HTTP/1.1 or HTTP/2) with an optional client cert.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apiserver::Config;
use apiserver::tls::ServingTls;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pki::{CertificateAuthority, KeyAlgorithm, LeafParams, Usage};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Credential {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The test PKI: cluster CA, serving cert, client certs, and a foreign CA's client cert.
pub struct TestPki {
    pub ca: CertificateAuthority,
    pub serving: Credential,
    /// CN=kubernetes-admin, O=system:masters.
    pub admin: Credential,
    /// CN=bob, no groups.
    pub bob: Credential,
    /// CN=kubernetes-admin, O=system:masters, but signed by another CA.
    pub foreign: Credential,
}

/// A certificate of `ca` for localhost and 127.0.0.1 with `usages`.
/// An apiserver serving certificate of `ca`.
pub fn serving_leaf(ca: &CertificateAuthority) -> Credential {
    leaf(
        ca,
        "apiserver",
        &[],
        vec![
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ServerAuth,
        ],
    )
}

pub fn leaf(ca: &CertificateAuthority, cn: &str, orgs: &[&str], usages: Vec<Usage>) -> Credential {
    let (cert_pem, key_pem) = ca
        .issue_leaf(&LeafParams {
            common_name: cn.to_string(),
            organizations: orgs.iter().map(|o| o.to_string()).collect(),
            dns: vec!["localhost".to_string()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            usages,
            validity: DAY,
        })
        .expect("issue leaf");
    Credential { cert_pem, key_pem }
}

/// A client certificate of `ca`.
pub fn client(ca: &CertificateAuthority, cn: &str, orgs: &[&str]) -> Credential {
    leaf(
        ca,
        cn,
        orgs,
        vec![Usage::DigitalSignature, Usage::ClientAuth],
    )
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca = CertificateAuthority::generate("test-cluster-ca", KeyAlgorithm::EcdsaP256, DAY)
            .expect("ca");
        let other = CertificateAuthority::generate("other-ca", KeyAlgorithm::EcdsaP256, DAY)
            .expect("other ca");
        TestPki {
            serving: serving_leaf(&ca),
            admin: client(&ca, "kubernetes-admin", &["system:masters"]),
            bob: client(&ca, "bob", &[]),
            foreign: client(&other, "kubernetes-admin", &["system:masters"]),
            ca,
        }
    }

    /// Serving TLS with this PKI's client CA.
    pub fn serving_tls(&self) -> ServingTls {
        ServingTls::from_pem(
            self.serving.cert_pem.as_bytes(),
            self.serving.key_pem.as_bytes(),
            Some(self.ca.cert_pem().as_bytes()),
        )
        .expect("serving tls")
    }

    /// Writes the PEM files the binary's flags need into `dir`.
    pub fn write_files(&self, dir: &Path) -> PkiFiles {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write pem");
            path
        };
        PkiFiles {
            ca: write("ca.crt", &self.ca.cert_pem()),
            serving_cert: write("apiserver.crt", &self.serving.cert_pem),
            serving_key: write("apiserver.key", &self.serving.key_pem),
            admin_cert: write("admin.crt", &self.admin.cert_pem),
            admin_key: write("admin.key", &self.admin.key_pem),
            foreign_cert: write("foreign.crt", &self.foreign.cert_pem),
            foreign_key: write("foreign.key", &self.foreign.key_pem),
        }
    }
}

pub struct PkiFiles {
    pub ca: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub foreign_cert: PathBuf,
    pub foreign_key: PathBuf,
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Store,
    pub pki: Arc<TestPki>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), apiserver::ServeError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with the default flags, adjusted by `configure`.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with(Arc::new(TestPki::new()), configure).await
    }

    /// The same with a PKI the caller made (e.g. to write it to files first).
    pub async fn start_with(pki: Arc<TestPki>, configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(pki.serving_tls(), dir.path().join("data"));
        config.shutdown_grace = Duration::from_secs(2);
        configure(&mut config);
        let store = Store::open(&config.data_dir).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(apiserver::run_with_store(
            config,
            store.clone(),
            listener,
            async {
                let _ = rx.await;
            },
        ));
        let server = TestServer {
            addr,
            store,
            pki,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            // Any HTTP answer means the server is serving (anonymous may be disabled).
            let probe = self
                .try_request(
                    Identity::Admin,
                    Method::GET,
                    "/healthz",
                    Bytes::new(),
                    Proto::Http1,
                )
                .await;
            if probe.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server did not become ready");
    }

    /// Requests the shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), apiserver::ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        let result = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("run returned in time")
            .expect("run did not panic");
        self.store.close().await.expect("close store");
        result
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub async fn get(&self, identity: Identity, path: &str) -> TestResponse {
        self.request(identity, Method::GET, path, Bytes::new())
            .await
    }

    pub async fn request(
        &self,
        identity: Identity,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> TestResponse {
        self.try_request(identity, method, path, body, Proto::Http1)
            .await
            .expect("request")
    }

    /// One request on a fresh connection.
    pub async fn try_request(
        &self,
        identity: Identity,
        method: Method,
        path: &str,
        body: Bytes,
        proto: Proto,
    ) -> Result<TestResponse, String> {
        let (response, negotiated) = self.send(identity, method, path, body, proto).await?;
        TestResponse::read(response, negotiated).await
    }

    /// One request on a fresh connection; the body is left to the caller to read (a watch).
    pub async fn send(
        &self,
        identity: Identity,
        method: Method,
        path: &str,
        body: Bytes,
        proto: Proto,
    ) -> Result<(http::Response<hyper::body::Incoming>, Option<Vec<u8>>), String> {
        let token = match &identity {
            Identity::Token(token) | Identity::ForeignWithToken(token) => Some(token.clone()),
            _ => None,
        };
        let stream = self.tls_stream(&identity, proto).await?;
        let negotiated = stream.get_ref().1.alpn_protocol().map(|p| p.to_vec());
        let mut builder = Request::builder().method(method).uri(path);
        if proto == Proto::Http1 {
            builder = builder.header(http::header::HOST, "localhost");
        } else {
            builder = builder.uri(format!("https://localhost{path}"));
        }
        if let Some(token) = token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder.body(Full::new(body)).expect("request");
        let io = TokioIo::new(stream);
        let response = match proto {
            Proto::Http1 => {
                let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?
            }
            Proto::Http2 => {
                let (mut sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        Ok((response, negotiated))
    }
}

impl TestServer {
    /// A TLS connection presenting `identity`'s client certificate, if it has one.
    async fn tls_stream(
        &self,
        identity: &Identity,
        proto: Proto,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let credential = match identity {
            Identity::Admin => Some(self.pki.admin.clone()),
            Identity::Bob => Some(self.pki.bob.clone()),
            Identity::Foreign | Identity::ForeignWithToken(_) => Some(self.pki.foreign.clone()),
            Identity::Certificate(credential) => Some(credential.clone()),
            Identity::Anonymous | Identity::Token(_) => None,
        };
        let tls = client_config(&self.pki.ca.cert_pem(), credential.as_ref(), proto);
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .map_err(|e| format!("tls: {e}"))
    }

    /// An HTTP/1.1 connection kept open across requests (send with [`KeptConnection::get`]).
    pub async fn keep_connection(&self, identity: Identity) -> KeptConnection {
        let stream = self
            .tls_stream(&identity, Proto::Http1)
            .await
            .expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        KeptConnection { sender }
    }
}

/// One connection, so a test can see what changes for a client that stays connected.
pub struct KeptConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl KeptConnection {
    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// GET `path` on this connection.
    pub async fn get(&mut self, path: &str) -> TestResponse {
        let request = Request::builder()
            .uri(path)
            .header(http::header::HOST, "localhost")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = self.sender.send_request(request).await.expect("send");
        TestResponse::read(response, None).await.expect("body")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Clone, Debug)]
pub enum Identity {
    Anonymous,
    Admin,
    Bob,
    Foreign,
    Token(String),
    ForeignWithToken(String),
    /// Any client certificate, e.g. one dated to start or end in a moment.
    Certificate(Credential),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Http1,
    Http2,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
    pub alpn: Option<Vec<u8>>,
}

impl TestResponse {
    /// Reads the whole body of `response`.
    async fn read(
        response: http::Response<hyper::body::Incoming>,
        alpn: Option<Vec<u8>>,
    ) -> Result<TestResponse, String> {
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(TestResponse {
            status,
            headers,
            body,
            version,
            alpn,
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A client trusting `ca_pem`, presenting `credential` when given, offering `proto` by ALPN.
pub fn client_config(
    ca_pem: &str,
    credential: Option<&Credential>,
    proto: Proto,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let mut config = match credential {
        Some(credential) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(credential.cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .expect("cert pem");
            let key =
                PrivateKeyDer::from_pem_slice(credential.key_pem.as_bytes()).expect("key pem");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match proto {
        Proto::Http1 => vec![b"http/1.1".to_vec()],
        Proto::Http2 => vec![b"h2".to_vec()],
    };
    config
}
