//! Authentication end to end: client certificates (ours and a foreign CA's), the static token
//! file, bootstrap tokens backed by Secrets in the store, anonymous on and off. Who the server
//! thinks the caller is shows in the 403 message of a request nobody is allowed.

mod serving_support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use apiserver::authn::token_file::TokenFile;
use base64::Engine as _;
use http::StatusCode;
use serde_json::json;
use serving_support::{Identity, TestResponse, TestServer};
use store::Key;

/// Nobody but system:masters may list kube-system secrets.
const PROBE: &str = "/api/v1/namespaces/kube-system/secrets";

fn forbidden_user(response: &TestResponse) -> Option<String> {
    if response.status != StatusCode::FORBIDDEN {
        return None;
    }
    let message = response.json()["message"].as_str()?.to_string();
    let start = message.find("User \"")? + 6;
    let end = start + message[start..].find('"')?;
    Some(message[start..end].to_string())
}

fn assert_unauthorized(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        response.text()
    );
    assert_eq!(
        response.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
    );
}

#[tokio::test]
async fn client_certificates_from_our_ca_only() {
    let server = TestServer::start(|_| {}).await;
    assert_eq!(
        server.get(Identity::Admin, "/metrics").await.status,
        StatusCode::OK
    );
    assert_eq!(
        forbidden_user(&server.get(Identity::Bob, PROBE).await).as_deref(),
        Some("bob")
    );

    // Same subject (system:masters!) but another CA: rejected with 401, never trusted.
    assert_unauthorized(&server.get(Identity::Foreign, "/metrics").await);
    assert_unauthorized(&server.get(Identity::Foreign, "/healthz").await);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn token_file_users() {
    let server = TestServer::start(|config| {
        let file = TokenFile::parse(
            "alice-token,alice,1001,\"dev,qa\"\nroot-token,root,0,system:masters\n",
            Path::new("tokens.csv"),
        )
        .expect("token file");
        config.token_file = Some(file);
    })
    .await;
    let alice = server
        .get(Identity::Token("alice-token".into()), PROBE)
        .await;
    assert_eq!(forbidden_user(&alice).as_deref(), Some("alice"));
    let root = server
        .get(Identity::Token("root-token".into()), "/metrics")
        .await;
    assert_eq!(root.status, StatusCode::OK);
    assert_unauthorized(
        &server
            .get(Identity::Token("alice-token2".into()), "/healthz")
            .await,
    );
    // A rejected certificate does not stop a good token.
    let both = server
        .get(Identity::ForeignWithToken("alice-token".into()), PROBE)
        .await;
    assert_eq!(forbidden_user(&both).as_deref(), Some("alice"));
    server.stop().await.expect("clean stop");
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn bootstrap_secret(id: &str, secret: &str, expiration: &str, usage: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {
            "token-id": b64(id),
            "token-secret": b64(secret),
            "expiration": b64(expiration),
            "usage-bootstrap-authentication": b64(usage),
            "usage-bootstrap-signing": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
        }
    })
}

/// Polls until `check` holds: the Secret cache follows the store by watch, not synchronously.
async fn eventually(
    server: &TestServer,
    token: &str,
    check: impl Fn(&TestResponse) -> bool,
) -> TestResponse {
    let mut last = None;
    for _ in 0..100 {
        let response = server.get(Identity::Token(token.to_string()), PROBE).await;
        if check(&response) {
            return response;
        }
        last = Some(response);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition never held, last response: {last:?}");
}

#[tokio::test]
async fn bootstrap_tokens_follow_their_secrets() {
    let server = TestServer::start(|config| config.bootstrap_token_auth = true).await;
    let secrets = |id: &str| {
        Key::new(
            "core/secrets",
            "kube-system",
            format!("bootstrap-token-{id}"),
        )
    };
    let future = "2999-01-01T00:00:00Z";
    let cases = [
        ("abcdef", "0123456789abcdef", future, "true"),
        ("expird", "0123456789abcdef", "2001-01-01T00:00:00Z", "true"),
        ("nouse0", "0123456789abcdef", future, "false"),
    ];
    for (id, secret, expiration, usage) in cases {
        server
            .store
            .create(
                &secrets(id),
                bootstrap_secret(id, secret, expiration, usage),
            )
            .await
            .expect("create secret");
    }

    let valid = "abcdef.0123456789abcdef";
    let ok = eventually(&server, valid, |r| r.status == StatusCode::FORBIDDEN).await;
    assert_eq!(
        forbidden_user(&ok).as_deref(),
        Some("system:bootstrap:abcdef")
    );

    assert_unauthorized(
        &server
            .get(Identity::Token("expird.0123456789abcdef".into()), PROBE)
            .await,
    );
    assert_unauthorized(
        &server
            .get(Identity::Token("nouse0.0123456789abcdef".into()), PROBE)
            .await,
    );
    assert_unauthorized(
        &server
            .get(Identity::Token("abcdef.0123456789abcdee".into()), PROBE)
            .await,
    );
    assert_unauthorized(
        &server
            .get(Identity::Token("zzzzzz.0123456789abcdef".into()), PROBE)
            .await,
    );

    server
        .store
        .delete(&secrets("abcdef"), None)
        .await
        .expect("delete");
    let gone = eventually(&server, valid, |r| r.status == StatusCode::UNAUTHORIZED).await;
    assert_unauthorized(&gone);

    let metrics = server.get(Identity::Admin, "/metrics").await.text();
    for series in [
        r#"apiserver_authentication_failures_total{reason="bootstrap_token_expired"} 1"#,
        r#"apiserver_authentication_failures_total{reason="bootstrap_token_mismatch"} 1"#,
    ] {
        assert!(metrics.contains(series), "missing {series} in:\n{metrics}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bootstrap_tokens_are_ignored_unless_enabled() {
    let server = TestServer::start(|_| {}).await;
    let id = "abcdef";
    server
        .store
        .create(
            &Key::new("core/secrets", "kube-system", "bootstrap-token-abcdef"),
            bootstrap_secret(id, "0123456789abcdef", "2999-01-01T00:00:00Z", "true"),
        )
        .await
        .expect("create");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_unauthorized(
        &server
            .get(Identity::Token("abcdef.0123456789abcdef".into()), PROBE)
            .await,
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn anonymous_can_be_disabled() {
    let server = TestServer::start(|config| config.anonymous_auth = false).await;
    assert_unauthorized(&server.get(Identity::Anonymous, "/healthz").await);
    assert_eq!(
        server.get(Identity::Admin, "/healthz").await.status,
        StatusCode::OK
    );
    server.stop().await.expect("clean stop");
}

/// TokenReview: a component asks whose a token is. Answered by the same authenticators a
/// request carrying the token meets; asking needs `create tokenreviews` (Bob has nothing).
#[tokio::test]
async fn token_reviews_answer_with_the_request_authenticators() {
    let server = TestServer::start(|config| {
        let file = TokenFile::parse(
            "alice-token,alice,1001,\"dev,qa\"\n",
            Path::new("tokens.csv"),
        )
        .expect("token file");
        config.token_file = Some(file);
    })
    .await;
    let review = |token: &str| {
        let body = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": ["https://kubernetes.default.svc"]}
        });
        bytes::Bytes::from(serde_json::to_vec(&body).unwrap())
    };
    const PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

    let known = server
        .request(
            Identity::Admin,
            http::Method::POST,
            PATH,
            review("alice-token"),
        )
        .await;
    assert_eq!(known.status, StatusCode::CREATED, "{}", known.text());
    let status = &known.json()["status"];
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(
        status["user"],
        json!({"username": "alice", "uid": "1001", "groups": ["dev", "qa", "system:authenticated"]})
    );
    assert_eq!(
        status["audiences"],
        json!(["https://kubernetes.default.svc"])
    );
    assert_eq!(known.json()["kind"], "TokenReview");

    let unknown = server
        .request(Identity::Admin, http::Method::POST, PATH, review("nobody"))
        .await;
    assert_eq!(unknown.status, StatusCode::CREATED, "{}", unknown.text());
    let status = &unknown.json()["status"];
    assert!(status.get("authenticated").is_none(), "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("invalid bearer token"),
        "{status}"
    );

    let empty = server
        .request(Identity::Admin, http::Method::POST, PATH, review(""))
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.text());

    let not_allowed = server
        .request(
            Identity::Bob,
            http::Method::POST,
            PATH,
            review("alice-token"),
        )
        .await;
    assert_eq!(
        not_allowed.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_allowed.text()
    );
    server.stop().await.expect("clean stop");
}

/// CN=carol from the cluster CA, valid from `not_before` for 65 minutes (`pki` backdates its
/// `issue_leaf_at` time by 5 minutes and adds a short validity to that time).
fn carol(server: &TestServer, not_before: SystemTime) -> serving_support::Credential {
    let (cert_pem, key_pem) = server
        .pki
        .ca
        .issue_leaf_at(
            &pki::LeafParams {
                common_name: "carol".to_string(),
                organizations: Vec::new(),
                dns: Vec::new(),
                ips: Vec::new(),
                usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
                validity: Duration::from_secs(3600),
            },
            not_before + Duration::from_secs(300),
        )
        .expect("carol's certificate");
    serving_support::Credential { cert_pem, key_pem }
}

/// Waits until `connection` answers `PROBE` as `carol` (`accepted`) or with a 401.
async fn until_on_same_connection(
    connection: &mut serving_support::KeptConnection,
    accepted: bool,
) {
    for _ in 0..400 {
        let response = connection.get(PROBE).await;
        let carol = forbidden_user(&response).as_deref() == Some("carol");
        if carol == accepted && (accepted || response.status == StatusCode::UNAUTHORIZED) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the connection never turned {}",
        if accepted { "accepted" } else { "refused" }
    );
}

/// As Go's x509 authenticator, which verifies on every request: a certificate presented a
/// moment before its NotBefore authenticates on the same connection once that time comes, and
/// one that expires stops authenticating on a connection opened before.
#[tokio::test]
async fn certificate_validity_is_judged_per_request() {
    let server = TestServer::start(|_| {}).await;
    let now = SystemTime::now();

    let early = carol(&server, now + Duration::from_secs(3));
    let mut connection = server.keep_connection(Identity::Certificate(early)).await;
    assert_unauthorized(&connection.get(PROBE).await);
    until_on_same_connection(&mut connection, true).await;
    assert!(SystemTime::now() >= now + Duration::from_secs(1));

    // Valid until three seconds from now.
    let now = SystemTime::now();
    let ending = carol(
        &server,
        now + Duration::from_secs(3) - Duration::from_secs(3900),
    );
    let mut connection = server.keep_connection(Identity::Certificate(ending)).await;
    assert_eq!(
        forbidden_user(&connection.get(PROBE).await).as_deref(),
        Some("carol")
    );
    until_on_same_connection(&mut connection, false).await;
    assert!(!connection.is_closed(), "refused per request, not cut off");
    server.stop().await.expect("clean stop");
}

const REVOCATIONS: &str =
    "/apis/revocation.kubelet-tls-bootstrap.io/v1alpha1/certificaterevocations";

/// Waits until the server closes `connection` (the revocation cache follows a watch).
async fn until_closed(connection: &serving_support::KeptConnection) {
    for _ in 0..200 {
        if connection.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the connection of a revoked certificate stayed open");
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_and_its_open_connections_closed() {
    let server = TestServer::start(|_| {}).await;
    let mut bob = server.keep_connection(Identity::Bob).await;
    assert_eq!(
        forbidden_user(&bob.get(PROBE).await).as_deref(),
        Some("bob")
    );

    // Revoked by serial, written as `openssl x509 -text` prints it (uppercase, colons).
    let serial = pki::Certificate::from_pem(server.pki.bob.cert_pem.as_bytes())
        .expect("bob's certificate")
        .serial_hex();
    let openssl_form = serial
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let revocation = |name: &str, spec: serde_json::Value| {
        bytes::Bytes::from(
            json!({"apiVersion": "revocation.kubelet-tls-bootstrap.io/v1alpha1",
                "kind": "CertificateRevocation", "metadata": {"name": name}, "spec": spec})
            .to_string(),
        )
    };
    let created = server
        .request(
            Identity::Admin,
            http::Method::POST,
            REVOCATIONS,
            revocation("bob-leak", json!({"serialNumbers": [openssl_form]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["spec"]["serialNumbers"], json!([serial]));

    // The open connection is closed (a watch on it would otherwise stream on), and a new
    // one is refused.
    until_closed(&bob).await;
    assert_unauthorized(&server.get(Identity::Bob, PROBE).await);
    assert_eq!(
        server.get(Identity::Admin, "/metrics").await.status,
        StatusCode::OK,
        "other certificates are unaffected"
    );

    let deleted = server
        .request(
            Identity::Admin,
            http::Method::DELETE,
            &format!("{REVOCATIONS}/bob-leak"),
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    let mut again = server.keep_connection(Identity::Bob).await;
    let mut back = false;
    for _ in 0..200 {
        if forbidden_user(&again.get(PROBE).await).as_deref() == Some("bob") {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(back, "bob is accepted again once the revocation is deleted");

    // By user: every certificate of bob valid from before the revocation's creation.
    let created = server
        .request(
            Identity::Admin,
            http::Method::POST,
            REVOCATIONS,
            revocation(
                "bob-gone",
                json!({"user": "bob", "reason": "left the team"}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(
        created.json()["spec"]["issuedBefore"],
        created.json()["metadata"]["creationTimestamp"]
    );
    until_closed(&again).await;
    assert_unauthorized(&server.get(Identity::Bob, PROBE).await);

    // A revocation that revokes nothing is refused with the field named.
    let invalid = server
        .request(
            Identity::Admin,
            http::Method::POST,
            REVOCATIONS,
            revocation("nothing", json!({"serialNumbers": ["not-hex"]})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid.text().contains("spec.serialNumbers[0]"),
        "{}",
        invalid.text()
    );
    server.stop().await.expect("clean stop");
}
