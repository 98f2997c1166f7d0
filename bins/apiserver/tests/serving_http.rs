//! The server in-process over real TLS: health, version, metrics, ALPN, body limit, 403 form,
//! graceful shutdown.

mod serving_support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serving_support::{Identity, Proto, TestServer};

#[tokio::test]
async fn health_endpoints_answer_ok_over_http1_and_http2() {
    let server = TestServer::start(|_| {}).await;
    for path in ["/healthz", "/livez", "/readyz"] {
        for proto in [Proto::Http1, Proto::Http2] {
            let response = server
                .try_request(Identity::Anonymous, Method::GET, path, Bytes::new(), proto)
                .await
                .expect("request");
            assert_eq!(response.status, StatusCode::OK, "{path} {proto:?}");
            assert_eq!(response.text(), "ok");
            let expected = match proto {
                Proto::Http1 => (b"http/1.1".to_vec(), http::Version::HTTP_11),
                Proto::Http2 => (b"h2".to_vec(), http::Version::HTTP_2),
            };
            assert_eq!(response.alpn.as_deref(), Some(expected.0.as_slice()));
            assert_eq!(response.version, expected.1);
        }
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn version_reads_like_kubernetes() {
    let server = TestServer::start(|_| {}).await;
    let response = server.get(Identity::Anonymous, "/version").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["content-type"], "application/json");
    let json = response.json();
    assert_eq!(json["major"], "1");
    assert_eq!(json["minor"], "32");
    assert_eq!(json["gitVersion"], "v1.32.0-tlsboot");
    assert!(json["platform"].as_str().is_some_and(|p| p.contains('/')));
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn metrics_need_authorization_and_carry_the_series() {
    let server = TestServer::start(|_| {}).await;
    let anonymous = server.get(Identity::Anonymous, "/metrics").await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    let status = anonymous.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        r#"forbidden: User "system:anonymous" cannot get path "/metrics""#
    );
    // One failed authentication to count.
    let unauthorized = server.get(Identity::Token("nope".into()), "/healthz").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);

    let response = server.get(Identity::Admin, "/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    let text = response.text();
    for series in [
        r#"apiserver_request_total{verb="GET",resource="",code="200"}"#,
        r#"apiserver_request_total{verb="GET",resource="",code="403"} 1"#,
        r#"apiserver_request_duration_seconds_bucket{le="+Inf",verb="GET",resource=""}"#,
        r#"apiserver_authentication_failures_total{reason="token_unknown"} 1"#,
        r#"apiserver_certificatesigningrequests{state="pending"} 0"#,
        r#"apiserver_certificatesigningrequests{state="issued"} 0"#,
    ] {
        assert!(text.contains(series), "missing {series} in:\n{text}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn forbidden_status_names_user_verb_resource_and_scope() {
    let server = TestServer::start(|_| {}).await;
    let response = server
        .get(
            Identity::Bob,
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef",
        )
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let status = response.json();
    assert_eq!(status["code"], 403);
    assert_eq!(
        status["message"],
        r#"secrets "bootstrap-token-abcdef" is forbidden: User "bob" cannot get resource "secrets" in API group "" in the namespace "kube-system""#
    );
    assert_eq!(status["details"]["name"], "bootstrap-token-abcdef");
    assert_eq!(status["details"]["kind"], "secrets");
    assert_eq!(
        status.get("details").and_then(|d| d.get("group")),
        None,
        "empty group is omitted"
    );

    let csr = server
        .request(
            Identity::Bob,
            Method::POST,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests",
            Bytes::from_static(b"{}"),
        )
        .await;
    assert_eq!(csr.status, StatusCode::FORBIDDEN);
    assert_eq!(
        csr.json()["message"],
        r#"certificatesigningrequests.certificates.k8s.io is forbidden: User "bob" cannot create resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope"#
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let server = TestServer::start(|_| {}).await;
    let big = Bytes::from(vec![b' '; 3 * 1024 * 1024 + 1]);
    let response = server
        .request(Identity::Admin, Method::POST, "/api/v1/namespaces", big)
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    let status = response.json();
    assert_eq!(status["reason"], "RequestEntityTooLarge");
    assert_eq!(status["code"], 413);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn many_concurrent_connections_and_a_clean_shutdown() {
    let server = std::sync::Arc::new(TestServer::start(|_| {}).await);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let server = std::sync::Arc::clone(&server);
        let proto = if i % 2 == 0 {
            Proto::Http1
        } else {
            Proto::Http2
        };
        tasks.push(tokio::spawn(async move {
            server
                .try_request(Identity::Admin, Method::GET, "/readyz", Bytes::new(), proto)
                .await
                .expect("request")
                .status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::OK);
    }
    let server = std::sync::Arc::into_inner(server).expect("sole owner");
    let addr = server.addr;
    server.stop().await.expect("clean stop");
    // The listener is closed once run returns.
    let connect =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(connect, Ok(Err(_))),
        "port still accepting: {connect:?}"
    );
}

#[tokio::test]
async fn open_watches_end_cleanly_and_do_not_hold_up_a_shutdown() {
    use http_body_util::BodyExt as _;

    let server = TestServer::start(|_| {}).await;
    let mut watches = Vec::new();
    for proto in [Proto::Http1, Proto::Http2] {
        let (response, _) = server
            .send(
                Identity::Admin,
                Method::GET,
                "/api/v1/namespaces?watch=true",
                Bytes::new(),
                proto,
            )
            .await
            .expect("watch");
        assert_eq!(response.status(), StatusCode::OK);
        // Read in the background; the body must end without an error.
        watches.push(tokio::spawn(async move {
            response
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes())
        }));
    }
    // Both watches are being served (the default namespaces arrive as ADDED first).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    server.stop().await.expect("clean stop");
    // The test server's grace period is 2 s; a watch left open would use all of it.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stop took {took:?}");
    for watch in watches {
        let body = tokio::time::timeout(Duration::from_secs(2), watch)
            .await
            .expect("watch ended")
            .expect("task")
            .expect("the watch body ends cleanly, not cut");
        assert!(
            String::from_utf8_lossy(&body).contains(r#""type":"ADDED""#),
            "{body:?}"
        );
    }
}
