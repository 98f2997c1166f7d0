//! Retries: a request made before the apiserver is up succeeds once it is; and connection
//! reuse (many requests, HTTP/2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{ClientError, ListParams, RetryPolicy};
use protocol::certificates::v1::CertificateSigningRequest;

use crate::support::{TestPki, TestServer, client_for};

async fn free_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn retries_connection_refused_until_the_server_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let addr = free_port().await;
    let client = client_for(&pki, addr, pki.admin());

    let started = Instant::now();
    let request = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .list::<CertificateSigningRequest>(None, &ListParams::default())
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!request.is_finished(), "the request waits for the server");
    let server = TestServer::start_at(pki.clone(), dir.path().join("data"), addr).await;
    let list = request.await.unwrap().expect("succeeds after retries");
    assert!(list.items.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(1500));
    server.stop().await;

    // Without retries the same failure is reported at once, as a transport error.
    let once = client.with_retry(RetryPolicy::none());
    let err = once
        .list::<CertificateSigningRequest>(None, &ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("onnect"), "{err}");
}

#[tokio::test]
async fn many_concurrent_requests_share_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let admin = server.client(server.pki.admin());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .create(
                        None,
                        &crate::support::kubelet_csr(&format!("burst-{i}"), &format!("n{i}")),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("create in burst");
    }
    let all = admin
        .list_all::<CertificateSigningRequest>(None, &ListParams::default().limit(50))
        .await
        .expect("paged list");
    assert_eq!(all.items.len(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_ca_is_a_tls_failure_not_a_retry_loop() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let other = TestPki::new();
    let client = client_for(&other, server.addr, other.admin());
    let started = Instant::now();
    let err = client
        .list::<CertificateSigningRequest>(None, &ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    server.stop().await;
}

#[tokio::test]
async fn set_trust_swaps_the_server_ca_and_keeps_the_old_one_on_a_bad_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let server = TestServer::start(Arc::clone(&pki), dir.path()).await;
    let other = TestPki::new();
    // Trusts only another CA: the server's certificate is refused.
    let client = client_for(&other, server.addr, pki.admin());
    let params = ListParams::default();
    let list = || client.list::<CertificateSigningRequest>(None, &params);
    assert!(matches!(list().await, Err(ClientError::Tls(_))));

    // A bundle of both (a CA rotation's middle stage) verifies it.
    let bundle = format!("{}{}", other.ca.cert_pem(), pki.ca.cert_pem());
    client.set_trust(bundle.as_bytes()).unwrap();
    list().await.expect("trusted now");

    // Garbage is refused and the working trust stays.
    let err = client.set_trust(b"not a certificate").unwrap_err();
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    list().await.expect("still trusted");

    // Back to the other CA alone: refused again, on new connections.
    client.set_trust(other.ca.cert_pem().as_bytes()).unwrap();
    assert!(matches!(list().await, Err(ClientError::Tls(_))));
    server.stop().await;
}
