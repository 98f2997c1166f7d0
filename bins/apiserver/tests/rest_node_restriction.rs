//! NodeRestriction: the Node authorizer cannot see the name in a create body, so admission makes
//! sure a node creates only its own Node and its own Lease in `kube-node-lease`.

mod rest_common;

use apiserver::request_info::RequestInfo;
use http_body_util::BodyExt;
use rest_common::{JSON, TestApi, lease, node};
use serde_json::Value;

async fn create_as(t: &TestApi, user: &rbac::UserInfo, uri: &str, body: &Value) -> (u16, Value) {
    send_as(t, user, "POST", uri, body).await
}

fn node_a() -> rbac::UserInfo {
    rbac::UserInfo::new("system:node:a", ["system:nodes", "system:authenticated"])
}

#[tokio::test]
async fn a_node_creates_only_its_own_node() {
    let t = TestApi::new().await;
    let (code, body) = create_as(&t, &node_a(), "/api/v1/nodes", &node("b")).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "node \"a\" is not allowed to modify node \"b\""
    );

    let (code, body) = create_as(&t, &node_a(), "/api/v1/nodes", &node("a")).await;
    assert_eq!(code, 201, "{body}");
}

#[tokio::test]
async fn a_node_creates_only_its_own_lease_in_the_node_lease_namespace() {
    let t = TestApi::new().await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let (code, body) = create_as(&t, &node_a(), leases, &lease("b")).await;
    assert_eq!(code, 403, "{body}");
    let elsewhere = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let (code, body) = create_as(&t, &node_a(), elsewhere, &lease("a")).await;
    assert_eq!(code, 403, "{body}");

    let (code, body) = create_as(&t, &node_a(), leases, &lease("a")).await;
    assert_eq!(code, 201, "{body}");
    // Anyone else (here an admin) is not restricted by this admission step.
    let (code, body) = create_as(&t, &TestApi::admin(), leases, &lease("b")).await;
    assert_eq!(code, 201, "{body}");
}

async fn send_as(
    t: &TestApi,
    user: &rbac::UserInfo,
    method: &str,
    uri: &str,
    body: &Value,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", JSON)
        .body(bytes::Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let info = RequestInfo::parse(req.method(), req.uri());
    let response = t.api.handle(req, &info, user).await;
    let code = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap())
}

/// Node "a" authenticated with the client certificate whose credential ID is `id`.
fn node_a_with_certificate(id: &str) -> rbac::UserInfo {
    let mut user = node_a();
    user.extra.insert(
        protocol::authentication::v1::CREDENTIAL_ID_EXTRA.to_string(),
        vec![id.to_string()],
    );
    user
}

fn with_certificate_annotation(mut node: Value, id: &str) -> Value {
    node["metadata"]["annotations"] = serde_json::json!({
        protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION: id
    });
    node
}

#[tokio::test]
async fn a_node_names_only_the_client_certificate_it_authenticates_with() {
    let t = TestApi::new().await;
    let (old, new) = ("X509SHA256=01", "X509SHA256=02");
    // Another certificate's ID, or any ID without a certificate (a token): 403.
    let claimed = with_certificate_annotation(node("a"), old);
    let (code, body) =
        create_as(&t, &node_a_with_certificate(new), "/api/v1/nodes", &claimed).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| m
            .contains("kubelet-tls-bootstrap/client-certificate")
            && m.contains(new)),
        "{body}"
    );
    let (code, body) = create_as(&t, &node_a(), "/api/v1/nodes", &claimed).await;
    assert_eq!(code, 403, "{body}");

    // Its own: created. After a rotation the node moves it to the new certificate's ID.
    let (code, mut stored) =
        create_as(&t, &node_a_with_certificate(old), "/api/v1/nodes", &claimed).await;
    assert_eq!(code, 201, "{stored}");
    stored["metadata"]["annotations"][protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION] =
        Value::from(new);
    let (code, body) = send_as(
        &t,
        &node_a_with_certificate(old),
        "PUT",
        "/api/v1/nodes/a",
        &stored,
    )
    .await;
    assert_eq!(code, 403, "{body}");
    let (code, mut stored) = send_as(
        &t,
        &node_a_with_certificate(new),
        "PUT",
        "/api/v1/nodes/a",
        &stored,
    )
    .await;
    assert_eq!(code, 200, "{stored}");

    // A status update leaving it as it is passes, whatever certificate makes it.
    let (code, body) = send_as(
        &t,
        &node_a_with_certificate("X509SHA256=03"),
        "PUT",
        "/api/v1/nodes/a/status",
        &stored,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // An admin may write any value.
    stored = body;
    stored["metadata"]["annotations"][protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION] =
        Value::from(old);
    let (code, body) = send_as(&t, &TestApi::admin(), "PUT", "/api/v1/nodes/a", &stored).await;
    assert_eq!(code, 200, "{body}");
}
