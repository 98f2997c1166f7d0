//! A real apiserver (the `apiserver` library, in this process) on loopback with a test PKI,
//! stoppable and restartable on the same port and data directory, and clients for it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use client::{Client, ClientConfig, Identity};
use pki::{CertificateAuthority, KeyAlgorithm, LeafParams, Usage};
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::meta::ObjectMeta;
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DAY: Duration = Duration::from_secs(24 * 3600);

pub struct TestPki {
    pub ca: CertificateAuthority,
    serving: (String, String),
}

impl TestPki {
    pub fn new() -> Arc<TestPki> {
        let ca = CertificateAuthority::generate("client-test-ca", KeyAlgorithm::EcdsaP256, DAY)
            .expect("ca");
        let serving = ca
            .issue_leaf(&LeafParams {
                common_name: "apiserver".into(),
                organizations: vec![],
                dns: vec!["localhost".into(), "kubernetes.default.svc".into()],
                ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                usages: vec![Usage::DigitalSignature, Usage::ServerAuth],
                validity: DAY,
            })
            .expect("serving cert");
        Arc::new(TestPki { ca, serving })
    }

    /// A client certificate identity for `cn` in `orgs`.
    pub fn identity(&self, cn: &str, orgs: &[&str]) -> Identity {
        let (cert_pem, key_pem) = self
            .ca
            .issue_leaf(&LeafParams {
                common_name: cn.into(),
                organizations: orgs.iter().map(|o| o.to_string()).collect(),
                dns: vec![],
                ips: vec![],
                usages: vec![Usage::DigitalSignature, Usage::ClientAuth],
                validity: DAY,
            })
            .expect("client cert");
        Identity::ClientCertificate {
            cert_pem: cert_pem.into_bytes(),
            key_pem: key_pem.into_bytes(),
        }
    }

    pub fn admin(&self) -> Identity {
        self.identity("kubernetes-admin", &["system:masters"])
    }

    fn serving_tls(&self) -> apiserver::tls::ServingTls {
        apiserver::tls::ServingTls::from_pem(
            self.serving.0.as_bytes(),
            self.serving.1.as_bytes(),
            Some(self.ca.cert_pem().as_bytes()),
        )
        .expect("serving tls")
    }
}

/// An apiserver running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub pki: Arc<TestPki>,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), apiserver::ServeError>>>,
    store: Store,
}

impl TestServer {
    /// Starts on a fresh port with a fresh data directory inside `dir`.
    pub async fn start(pki: Arc<TestPki>, dir: &Path) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        TestServer::start_on(pki, dir.join("data"), listener).await
    }

    /// Starts on `addr` (e.g. the port of a stopped server) with the given data directory.
    pub async fn start_at(pki: Arc<TestPki>, data_dir: PathBuf, addr: SocketAddr) -> TestServer {
        let mut last = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => return TestServer::start_on(pki, data_dir, listener).await,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot bind {addr} again: {last:?}");
    }

    async fn start_on(
        pki: Arc<TestPki>,
        data_dir: PathBuf,
        listener: tokio::net::TcpListener,
    ) -> TestServer {
        let mut config = apiserver::Config::new(pki.serving_tls(), &data_dir);
        config.bootstrap_token_auth = true;
        config.shutdown_grace = Duration::from_secs(1);
        let store = Store::open(&data_dir).expect("store");
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
        TestServer {
            addr,
            pki,
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
            store,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Requests shutdown, waits for the server to return and closes its store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server stopped in time")
                .expect("server did not panic");
            result.expect("server ran cleanly");
        }
        self.store.close().await.expect("close store");
    }

    pub fn url(&self) -> url::Url {
        format!("https://127.0.0.1:{}", self.addr.port())
            .parse()
            .expect("url")
    }

    pub fn client(&self, identity: Identity) -> Client {
        client_for(&self.pki, self.addr, identity)
    }
}

pub fn client_for(pki: &TestPki, addr: SocketAddr, identity: Identity) -> Client {
    let config = ClientConfig::new(
        format!("https://127.0.0.1:{}", addr.port())
            .parse()
            .expect("url"),
        Some(pki.ca.cert_pem().into_bytes()),
        identity,
        "client-tests/0.1",
    );
    Client::new(config).expect("client")
}

/// A kubelet-style client CSR named `name`.
pub fn kubelet_csr(name: &str, node: &str) -> CertificateSigningRequest {
    let key = pki::PrivateKey::generate_p256().expect("key");
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: format!("system:node:{node}"),
            organizations: vec!["system:nodes".into()],
        },
        &pki::SubjectAltNames::default(),
    )
    .expect("csr");
    let mut csr = CertificateSigningRequest {
        metadata: ObjectMeta::named(name),
        ..Default::default()
    };
    csr.spec.request = pem.into_bytes();
    csr.spec.signer_name = "kubernetes.io/kube-apiserver-client-kubelet".into();
    csr.spec.usages = vec!["digital signature".into(), "client auth".into()];
    csr
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}
