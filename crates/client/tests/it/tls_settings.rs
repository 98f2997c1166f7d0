//! TLS settings from a kubeconfig: files, HTTP/2 by ALPN, tls-server-name,
//! insecure-skip-tls-verify.

use client::{Client, ClientConfig, ClientError, Identity, RetryPolicy};
use http::Method;
use kubeconfig::Kubeconfig;

use crate::support::{TestPki, TestServer};

#[tokio::test]
async fn kubeconfig_with_certificate_files_speaks_http2() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let Identity::ClientCertificate { cert_pem, key_pem } = server.pki.admin() else {
        unreachable!()
    };
    std::fs::write(dir.path().join("admin.crt"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("admin.key"), &key_pem).unwrap();
    let kubeconfig = Kubeconfig::with_client_certificate_files(
        "test",
        &server.url(),
        Some(server.pki.ca.cert_pem().as_bytes()),
        "admin",
        std::path::Path::new("admin.crt"),
        std::path::Path::new("admin.key"),
    );
    let path = dir.path().join("admin.kubeconfig");
    kubeconfig.save(&path).unwrap();
    let resolved = Kubeconfig::load(&path).unwrap().resolve(None).unwrap();
    let client = Client::from_kubeconfig(&resolved, "client-tests/0.1").unwrap();
    let response = client
        .request_raw(Method::GET, "/version", None)
        .await
        .expect("version");
    assert_eq!(response.status, 200);
    assert_eq!(response.version, http::Version::HTTP_2);
    server.stop().await;
}

fn config(server: &TestServer, ca: Option<Vec<u8>>) -> ClientConfig {
    let mut config = ClientConfig::new(server.url(), ca, server.pki.admin(), "client-tests/0.1");
    config.retry = RetryPolicy::none();
    config
}

#[tokio::test]
async fn tls_server_name_is_what_the_certificate_is_checked_against() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let ca = Some(server.pki.ca.cert_pem().into_bytes());

    let mut named = config(&server, ca.clone());
    named.tls_server_name = Some("kubernetes.default.svc".into());
    let ok = Client::new(named).unwrap();
    assert_eq!(
        ok.request_raw(Method::GET, "/version", None)
            .await
            .unwrap()
            .status,
        200
    );

    let mut wrong = config(&server, ca);
    wrong.tls_server_name = Some("not-the-apiserver.example".into());
    let err = Client::new(wrong)
        .unwrap()
        .request_raw(Method::GET, "/version", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn insecure_skip_tls_verify_needs_no_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let mut insecure = config(&server, None);
    insecure.insecure_skip_tls_verify = true;
    let client = Client::new(insecure).unwrap();
    assert_eq!(
        client
            .request_raw(Method::GET, "/version", None)
            .await
            .unwrap()
            .status,
        200
    );
    server.stop().await;
}
