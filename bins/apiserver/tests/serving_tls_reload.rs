//! Decision 0029 in-process: the apiserver follows `--client-ca-file`, `--tls-cert-file` and
//! `--tls-private-key-file` without a restart (new connections use the new files, a retired
//! CA's open connections close, a broken file keeps the running ones), and writes the issuer
//! of a node's client certificate on its Node.

mod serving_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiserver::tls::ServingTls;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pki::{CertificateAuthority, KeyAlgorithm};
use protocol::core::v1::{
    NODE_CLIENT_CERTIFICATE_ANNOTATION, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use serving_support::{Credential, Identity, Proto, TestPki, TestServer, client, serving_leaf};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// Short, so a test sees a change within a few ticks.
const RELOAD: Duration = Duration::from_millis(100);

/// The files the server reads, and a server started from them.
struct FileServer {
    server: TestServer,
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A second cluster CA with the first one's name, as a rotation makes it.
fn second_ca() -> CertificateAuthority {
    CertificateAuthority::generate("test-cluster-ca", KeyAlgorithm::EcdsaP256, DAY).expect("ca")
}

async fn start_from_files() -> FileServer {
    let pki = Arc::new(TestPki::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let ca_file = write("ca.crt", &pki.ca.cert_pem());
    let cert_file = write("apiserver.crt", &pki.serving.cert_pem);
    let key_file = write("apiserver.key", &pki.serving.key_pem);
    let tls = ServingTls::load(&cert_file, &key_file, Some(&ca_file)).expect("tls from files");
    let server = TestServer::start_with(pki, |config| {
        config.tls = tls;
        config.tls_reload_interval = RELOAD;
    })
    .await;
    FileServer {
        server,
        ca_file,
        cert_file,
        key_file,
        _dir: dir,
    }
}

/// Writes `text` to `path` in one step (as an operator's `mv` or a kubelet's atomic writer).
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// The status of one GET on a fresh HTTP/1.1 connection; `None` when it could not connect.
async fn status(server: &TestServer, identity: &Identity, path: &str) -> Option<StatusCode> {
    server
        .try_request(
            identity.clone(),
            Method::GET,
            path,
            Bytes::new(),
            Proto::Http1,
        )
        .await
        .ok()
        .map(|r| r.status)
}

/// Polls until `status` of a fresh connection is `wanted` (the reload runs every 100 ms).
async fn eventually(server: &TestServer, identity: &Identity, wanted: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = status(server, identity, "/api/v1/namespaces").await;
        if got == Some(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?}, wanted {wanted} for {identity:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HTTP/2 connection kept open, as kubectl's and client-go's are.
struct H2 {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

impl H2 {
    async fn open(server: &TestServer, credential: &Credential) -> H2 {
        H2::open_trusting(server, &server.pki.ca.cert_pem(), credential).await
    }

    /// The status of a GET on this connection; `None` once the server closed it.
    async fn get(&mut self, path: &str) -> Option<StatusCode> {
        let request = Request::builder()
            .uri(format!("https://localhost{path}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = self.sender.send_request(request).await.ok()?;
        let status = response.status();
        response.into_body().collect().await.ok()?;
        Some(status)
    }

    async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.sender.is_closed() || self.sender.ready().await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sender.is_closed()
    }
}

#[tokio::test]
async fn the_client_ca_and_serving_files_are_followed_without_a_restart() {
    let files = start_from_files().await;
    let server = &files.server;
    let ca2 = second_ca();
    let admin2 = Identity::Certificate(client(&ca2, "kubernetes-admin", &["system:masters"]));
    let admin1 = Identity::Admin;
    const PATH: &str = "/api/v1/namespaces";

    // Only CA1 is trusted: CA2's certificate is a 401.
    assert_eq!(status(server, &admin1, PATH).await, Some(StatusCode::OK));
    assert_eq!(
        status(server, &admin2, PATH).await,
        Some(StatusCode::UNAUTHORIZED)
    );
    let mut kept = H2::open(server, &server.pki.admin).await;
    assert_eq!(kept.get(PATH).await, Some(StatusCode::OK));

    // Both: CA2 authenticates within a few seconds; CA1's open connection stays.
    replace(
        &files.ca_file,
        &(server.pki.ca.cert_pem() + &ca2.cert_pem()),
    );
    eventually(server, &admin2, StatusCode::OK).await;
    assert_eq!(status(server, &admin1, PATH).await, Some(StatusCode::OK));
    tokio::time::sleep(RELOAD * 3).await;
    assert_eq!(kept.get(PATH).await, Some(StatusCode::OK));

    // A broken file: logged, the bundle in use kept.
    replace(&files.ca_file, "-----BEGIN CERTIFICATE-----\nbroken\n");
    tokio::time::sleep(RELOAD * 5).await;
    assert_eq!(status(server, &admin1, PATH).await, Some(StatusCode::OK));
    assert_eq!(status(server, &admin2, PATH).await, Some(StatusCode::OK));
    assert_eq!(kept.get(PATH).await, Some(StatusCode::OK));
    // And a missing one.
    std::fs::remove_file(&files.ca_file).expect("remove");
    tokio::time::sleep(RELOAD * 5).await;
    assert_eq!(status(server, &admin1, PATH).await, Some(StatusCode::OK));
    assert_eq!(kept.get(PATH).await, Some(StatusCode::OK));

    // CA1 retired: its open HTTP/2 connection is closed, new CA1 requests are 401.
    replace(&files.ca_file, &ca2.cert_pem());
    eventually(server, &admin1, StatusCode::UNAUTHORIZED).await;
    assert!(
        kept.closed_within(Duration::from_secs(5)).await,
        "the CA1 connection is still open"
    );
    assert_eq!(kept.get(PATH).await, None);
    assert_eq!(status(server, &admin2, PATH).await, Some(StatusCode::OK));
    let admin2_credential = match &admin2 {
        Identity::Certificate(credential) => credential.clone(),
        _ => unreachable!(),
    };

    // The serving pair moves to CA2: a new connection sees the new certificate.
    let serving2 = serving_leaf(&ca2);
    // The key first: in between the pair does not match, and the old one stays in use.
    replace(&files.key_file, &serving2.key_pem);
    tokio::time::sleep(RELOAD * 3).await;
    assert_eq!(
        served_certificate(server, &server.pki.ca.cert_pem()).await,
        Some(der(&server.pki.serving.cert_pem))
    );
    replace(&files.cert_file, &serving2.cert_pem);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if served_certificate(server, &ca2.cert_pem()).await == Some(der(&serving2.cert_pem)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new serving certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A client trusting only CA1 no longer connects; one trusting CA2 authenticates with CA2.
    assert_eq!(
        served_certificate(server, &server.pki.ca.cert_pem()).await,
        None
    );
    let mut fresh = H2::open_trusting(server, &ca2.cert_pem(), &admin2_credential).await;
    assert_eq!(fresh.get(PATH).await, Some(StatusCode::OK));
    files.server.stop().await.expect("clean stop");
}

impl H2 {
    async fn open_trusting(server: &TestServer, ca_pem: &str, credential: &Credential) -> H2 {
        let config = serving_support::client_config(ca_pem, Some(credential), Proto::Http2);
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("tls");
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("h2 handshake");
        tokio::spawn(connection);
        H2 { sender }
    }
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .to_vec()
}

/// The serving certificate a client trusting `ca_pem` is handed; `None` when the handshake
/// fails (not trusted).
async fn served_certificate(server: &TestServer, ca_pem: &str) -> Option<Vec<u8>> {
    let config = serving_support::client_config(ca_pem, None, Proto::Http1);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.ok()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .ok()?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.to_vec())
}

fn annotation<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node["metadata"]["annotations"][key].as_str()
}

async fn write(
    server: &TestServer,
    identity: &Identity,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    let response = server
        .request(
            identity.clone(),
            method.clone(),
            path,
            Bytes::from(serde_json::to_vec(&body).expect("json")),
        )
        .await;
    assert!(
        response.status.is_success(),
        "{method} {path}: {} {}",
        response.status,
        response.text()
    );
    response.json()
}

/// A PUT of the whole Node, as the node or another user.
async fn put_node(server: &TestServer, identity: &Identity, node: &Value) -> Value {
    write(
        server,
        identity,
        Method::PUT,
        "/api/v1/nodes/n1",
        node.clone(),
    )
    .await
}

#[tokio::test]
async fn the_issuer_of_a_nodes_client_certificate_is_written_by_the_apiserver() {
    let files = start_from_files().await;
    let server = &files.server;
    let ca1 = &server.pki.ca;
    let ca2 = second_ca();
    let ca1_id = pki::credential_id(&der(&ca1.cert_pem()));
    let ca2_id = pki::credential_id(&der(&ca2.cert_pem()));
    let node1 = client(ca1, "system:node:n1", &["system:nodes"]);
    let node1_id = pki::credential_id(&der(&node1.cert_pem));
    let as_node1 = Identity::Certificate(node1);

    // Created by the node naming its certificate, with a forged issuer: the real one is set.
    let created = write(
        server,
        &as_node1,
        Method::POST,
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "annotations": {
            NODE_CLIENT_CERTIFICATE_ANNOTATION: node1_id,
            NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION: "X509SHA256=forged",
        }}}),
    )
    .await;
    assert_eq!(
        annotation(&created, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        Some(ca1_id.as_str())
    );

    // Both CAs trusted; the node's next certificate comes from CA2 (same CA name): the
    // annotation follows it.
    replace(&files.ca_file, &(ca1.cert_pem() + &ca2.cert_pem()));
    let node2 = client(&ca2, "system:node:n1", &["system:nodes"]);
    let node2_id = pki::credential_id(&der(&node2.cert_pem));
    let as_node2 = Identity::Certificate(node2);
    eventually(server, &as_node2, StatusCode::FORBIDDEN).await; // namespaces: not a node's
    let mut next = created.clone();
    next["metadata"]["annotations"][NODE_CLIENT_CERTIFICATE_ANNOTATION] = json!(node2_id);
    next["metadata"]["annotations"][NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION] =
        json!("X509SHA256=forged");
    let moved = put_node(server, &as_node2, &next).await;
    assert_eq!(
        annotation(&moved, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        Some(ca2_id.as_str())
    );

    // The old certificate writes the Node again (leaving the newer name as it is) and sends
    // its own issuer: the stored issuer stays.
    let mut stale = moved.clone();
    stale["metadata"]["annotations"][NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION] = json!(ca1_id);
    let kept = put_node(server, &as_node1, &stale).await;
    assert_eq!(
        annotation(&kept, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        Some(ca2_id.as_str())
    );

    // An admin writes it as it likes.
    let mut by_admin = kept.clone();
    by_admin["metadata"]["annotations"][NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION] =
        json!("by-hand");
    let admin_written = put_node(server, &Identity::Admin, &by_admin).await;
    assert_eq!(
        annotation(&admin_written, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        Some("by-hand")
    );

    // The node removes its client-certificate annotation: the issuer goes with it.
    let mut removed = admin_written.clone();
    removed["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove(NODE_CLIENT_CERTIFICATE_ANNOTATION);
    let removed = put_node(server, &as_node2, &removed).await;
    assert_eq!(
        annotation(&removed, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        None
    );
    assert_eq!(
        annotation(&removed, NODE_CLIENT_CERTIFICATE_ANNOTATION),
        None
    );
    files.server.stop().await.expect("clean stop");
}

/// The Node authorizer lets a node read `kube-public/kube-root-ca.crt`, by get or by a list
/// or watch of that name, and no other ConfigMap.
#[tokio::test]
async fn a_node_reads_the_root_ca_config_map_and_no_other() {
    let server = TestServer::start(|_| {}).await;
    for (namespace, name) in [
        ("kube-public", "kube-root-ca.crt"),
        ("kube-public", "other"),
        ("default", "kube-root-ca.crt"),
    ] {
        write(
            &server,
            &Identity::Admin,
            Method::POST,
            &format!("/api/v1/namespaces/{namespace}/configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name}, "data": {"ca.crt": "bundle"}}),
        )
        .await;
    }
    let node = Identity::Certificate(client(&server.pki.ca, "system:node:n1", &["system:nodes"]));
    let get = |path: &'static str| {
        let server = &server;
        let node = node.clone();
        async move { server.get(node, path).await }
    };
    let read = get("/api/v1/namespaces/kube-public/configmaps/kube-root-ca.crt").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["data"]["ca.crt"], "bundle");
    let listed = get(
        "/api/v1/namespaces/kube-public/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt",
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let items = listed.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", listed.text());
    for refused in [
        "/api/v1/namespaces/kube-public/configmaps",
        "/api/v1/namespaces/kube-public/configmaps/other",
        "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        "/api/v1/namespaces/kube-public/configmaps?fieldSelector=metadata.name%3Dother",
        "/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt",
    ] {
        assert_eq!(
            get(refused).await.status,
            StatusCode::FORBIDDEN,
            "{refused}"
        );
    }
    server.stop().await.expect("clean stop");
}

const AUTHENTICATION_CONFIG_MAP: &str =
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";

/// The published ConfigMap's `client-ca-file` and resourceVersion.
async fn published_client_ca(server: &TestServer) -> (String, String) {
    let response = server.get(Identity::Admin, AUTHENTICATION_CONFIG_MAP).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let object = response.json();
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    (
        text(&object["data"]["client-ca-file"]),
        text(&object["metadata"]["resourceVersion"]),
    )
}

/// Polls until the ConfigMap holds `bundle` (the client CA file is re-read every 100 ms).
async fn published_eventually(server: &TestServer, bundle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (published, rv) = published_client_ca(server).await;
        if published == bundle {
            return rv;
        }
        assert!(
            Instant::now() < deadline,
            "still {published:?}, wanted {bundle:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// As kube-apiserver's ClientCARegistrationHook: the client CA bundle is published in
/// `kube-system/extension-apiserver-authentication` at start, again when the file changes,
/// and not rewritten while it does not.
#[tokio::test]
async fn the_client_ca_is_published_for_delegated_authentication() {
    let files = start_from_files().await;
    let server = &files.server;
    let ca1 = server.pki.ca.cert_pem();
    let (published, rv) = published_client_ca(server).await;
    assert_eq!(published, ca1);
    let response = server.get(Identity::Admin, AUTHENTICATION_CONFIG_MAP).await;
    assert_eq!(response.json()["kind"], "ConfigMap");

    // Unchanged files, or only a new serving certificate: no write.
    tokio::time::sleep(RELOAD * 5).await;
    assert_eq!(published_client_ca(server).await, (ca1.clone(), rv.clone()));
    let serving = serving_leaf(&server.pki.ca);
    replace(&files.key_file, &serving.key_pem);
    replace(&files.cert_file, &serving.cert_pem);
    tokio::time::sleep(RELOAD * 5).await;
    assert_eq!(published_client_ca(server).await, (ca1.clone(), rv.clone()));

    // A bundle of two CAs: published as the file holds it, then left alone.
    let ca2 = second_ca().cert_pem();
    let bundle = ca1.clone() + &ca2;
    replace(&files.ca_file, &bundle);
    let rv = published_eventually(server, &bundle).await;
    tokio::time::sleep(RELOAD * 5).await;
    assert_eq!(published_client_ca(server).await, (bundle.clone(), rv));

    // Edited by hand: put back at the next client CA change (the admin's CA still in it).
    let mut edited = server
        .get(Identity::Admin, AUTHENTICATION_CONFIG_MAP)
        .await
        .json();
    edited["data"] = json!({"client-ca-file": "edited"});
    write(
        server,
        &Identity::Admin,
        Method::PUT,
        AUTHENTICATION_CONFIG_MAP,
        edited,
    )
    .await;
    assert_eq!(published_client_ca(server).await.0, "edited");
    let reordered = ca2 + &ca1;
    replace(&files.ca_file, &reordered);
    published_eventually(server, &reordered).await;
    files.server.stop().await.expect("clean stop");
}

/// Without a client CA there is nothing to publish.
#[tokio::test]
async fn nothing_is_published_without_a_client_ca() {
    let pki = Arc::new(TestPki::new());
    let tls = ServingTls::from_pem(
        pki.serving.cert_pem.as_bytes(),
        pki.serving.key_pem.as_bytes(),
        None,
    )
    .expect("tls");
    let server = TestServer::start_with(pki, |config| config.tls = tls).await;
    let key = store::Key::new(
        "core/configmaps",
        "kube-system",
        "extension-apiserver-authentication",
    );
    assert!(matches!(
        server.store.get(&key).await,
        Err(store::StoreError::NotFound(_))
    ));
    server.stop().await.expect("clean stop");
}
