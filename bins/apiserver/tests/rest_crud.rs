//! Create, get, update, delete through `Api::handle` for several kinds, with the upstream
//! Status answers for conflicts and bad input.

mod rest_common;

use bytes::Bytes;
use rest_common::{JSON, PROTOBUF, TestApi, lease, node};
use serde_json::json;

#[tokio::test]
async fn node_lifecycle_with_conflicts() {
    let t = TestApi::new().await;
    let created = t.post_json("/api/v1/nodes", &node("n1")).await;
    assert_eq!(created.code, 201, "{}", created.body);
    let meta = &created.body["metadata"];
    assert_eq!(meta["uid"].as_str().unwrap().len(), 36);
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    let rv = meta["resourceVersion"].as_str().unwrap().to_string();
    assert_eq!(created.body["kind"], "Node");

    let got = t.get("/api/v1/nodes/n1").await;
    assert_eq!(
        (got.code, &got.body["metadata"]["resourceVersion"]),
        (200, &json!(rv))
    );

    let again = t.post_json("/api/v1/nodes", &node("n1")).await;
    assert_eq!(
        (again.code, again.body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(again.body["message"], "nodes \"n1\" already exists");

    let mut update = got.body.clone();
    update["metadata"]["labels"] = json!({"a": "b"});
    let updated = t.put_json("/api/v1/nodes/n1", &update).await;
    assert_eq!(updated.code, 200, "{}", updated.body);
    assert_eq!(updated.body["metadata"]["labels"]["a"], "b");
    assert_eq!(updated.body["metadata"]["uid"], meta["uid"]);
    assert_ne!(updated.body["metadata"]["resourceVersion"], json!(rv));

    // `update` still carries the old resourceVersion: stale.
    let stale = t.put_json("/api/v1/nodes/n1", &update).await;
    assert_eq!(
        (stale.code, stale.body["reason"].as_str()),
        (409, Some("Conflict"))
    );
    assert_eq!(
        stale.body["message"],
        "Operation cannot be fulfilled on nodes \"n1\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // Without a resourceVersion the update is unconditional.
    let mut unconditional = update.clone();
    unconditional["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(
        t.put_json("/api/v1/nodes/n1", &unconditional).await.code,
        200
    );

    // Updating something missing does not create it.
    let missing = t.put_json("/api/v1/nodes/n2", &node("n2")).await;
    assert_eq!(
        (missing.code, missing.body["reason"].as_str()),
        (404, Some("NotFound"))
    );

    let deleted = t.delete("/api/v1/nodes/n1").await;
    assert_eq!(
        (deleted.code, deleted.body["metadata"]["name"].as_str()),
        (200, Some("n1"))
    );
    let gone = t.get("/api/v1/nodes/n1").await;
    assert_eq!(gone.code, 404);
    assert_eq!(gone.body["message"], "nodes \"n1\" not found");
    assert_eq!(gone.body["details"], json!({"name": "n1", "kind": "nodes"}));
}

#[tokio::test]
async fn csr_not_found_names_the_group() {
    let t = TestApi::new().await;
    let reply = t
        .get("/apis/certificates.k8s.io/v1/certificatesigningrequests/x")
        .await;
    assert_eq!(reply.code, 404);
    assert_eq!(
        reply.body["message"],
        "certificatesigningrequests.certificates.k8s.io \"x\" not found"
    );
}

#[tokio::test]
async fn generate_name_and_namespaces() {
    let t = TestApi::new().await;
    let body = json!({"metadata": {"generateName": "lease-"}, "spec": {}});
    let created = t
        .post_json(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            &body,
        )
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    let name = created.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("lease-") && name.len() == 11, "{name}");
    assert_eq!(created.body["metadata"]["namespace"], "kube-node-lease");
    assert_eq!(created.body["apiVersion"], "coordination.k8s.io/v1");

    let missing_ns = t
        .post_json(
            "/apis/coordination.k8s.io/v1/namespaces/nope/leases",
            &lease("a"),
        )
        .await;
    assert_eq!(
        (missing_ns.code, missing_ns.body["message"].as_str()),
        (404, Some("namespaces \"nope\" not found"))
    );

    let mut other_ns = lease("a");
    other_ns["metadata"]["namespace"] = json!("default");
    let mismatch = t
        .post_json(
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
            &other_ns,
        )
        .await;
    assert_eq!(
        (mismatch.code, mismatch.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );

    let nameless = t
        .post_json(
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            &json!({"spec": {}}),
        )
        .await;
    assert_eq!(
        (nameless.code, nameless.body["reason"].as_str()),
        (422, Some("Invalid"))
    );
    assert_eq!(
        nameless.body["details"]["causes"][0]["field"],
        "metadata.name"
    );

    let bad_name = t.post_json("/api/v1/nodes", &node("Bad_Name")).await;
    assert_eq!(bad_name.code, 422);
    assert_eq!(
        bad_name.body["details"]["causes"][0]["reason"],
        "FieldValueInvalid"
    );
    assert!(
        bad_name.body["message"].as_str().unwrap().starts_with(
            "Node \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        )
    );

    // RBAC names may carry ':'.
    let role = json!({"metadata": {"name": "system:test"}, "rules": []});
    assert_eq!(
        t.post_json("/apis/rbac.authorization.k8s.io/v1/clusterroles", &role)
            .await
            .code,
        201
    );
}

#[tokio::test]
async fn default_namespaces_and_namespace_strategy() {
    let t = TestApi::new().await;
    let list = t.get("/api/v1/namespaces").await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    // Idempotent.
    t.api.ensure_defaults().await.unwrap();

    let created = t
        .post_json(
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "team-a"}}),
        )
        .await;
    assert_eq!(created.code, 201);
    assert_eq!(created.body["status"]["phase"], "Active");
    assert_eq!(created.body["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(t.get("/api/v1/namespaces/team-a").await.code, 200);
    let forbidden = t.delete("/api/v1/namespaces/default").await;
    assert_eq!(forbidden.code, 403);
    assert_eq!(t.delete("/api/v1/namespaces/team-a").await.code, 200);
}

#[tokio::test]
async fn node_status_is_separate_from_the_main_resource() {
    let t = TestApi::new().await;
    let mut n = node("n1");
    n["status"] = json!({"nodeInfo": {"kubeletVersion": "v1.30.0"}});
    n["spec"] = json!({"podCIDR": "10.0.0.0/24"});
    assert_eq!(t.post_json("/api/v1/nodes", &n).await.code, 201);

    let mut main = node("n1");
    main["spec"] = json!({"podCIDR": "10.0.1.0/24"});
    main["status"] = json!({"nodeInfo": {"kubeletVersion": "forged"}});
    let updated = t.put_json("/api/v1/nodes/n1", &main).await;
    assert_eq!(updated.body["spec"]["podCIDR"], "10.0.1.0/24");
    assert_eq!(
        updated.body["status"]["nodeInfo"]["kubeletVersion"],
        "v1.30.0"
    );

    let mut status = node("n1");
    status["spec"] = json!({"podCIDR": "forged"});
    status["status"] = json!({"nodeInfo": {"kubeletVersion": "v1.31.0"}});
    let updated = t.put_json("/api/v1/nodes/n1/status", &status).await;
    assert_eq!(updated.code, 200, "{}", updated.body);
    assert_eq!(updated.body["spec"]["podCIDR"], "10.0.1.0/24");
    assert_eq!(
        updated.body["status"]["nodeInfo"]["kubeletVersion"],
        "v1.31.0"
    );
}

#[tokio::test]
async fn secrets_merge_string_data() {
    let t = TestApi::new().await;
    let secret = json!({"metadata": {"name": "s"}, "stringData": {"token-id": "abcdef"}, "type": "bootstrap.kubernetes.io/token"});
    let created = t
        .post_json("/api/v1/namespaces/kube-system/secrets", &secret)
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.body["data"]["token-id"], "YWJjZGVm");
    assert!(created.body.get("stringData").is_none());
}

#[tokio::test]
async fn protobuf_bodies_create_objects() {
    use protocol::meta::ObjectMeta;
    use protocol::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
    let t = TestApi::new().await;
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta::named("kubelet-bootstrap"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "system:node-bootstrapper".into(),
        },
        subjects: vec![Subject {
            kind: "Group".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: "system:bootstrappers".into(),
            namespace: String::new(),
        }],
    };
    let body = protocol::envelope::encode(&binding);
    let reply = t
        .send("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create&fieldValidation=Strict", &[("content-type", PROTOBUF)], body)
        .await;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(reply.body["kind"], "ClusterRoleBinding");
    assert_eq!(reply.body["roleRef"]["name"], "system:node-bootstrapper");
    assert_eq!(reply.body["subjects"][0]["name"], "system:bootstrappers");

    let garbage = t
        .send(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &[("content-type", PROTOBUF)],
            Bytes::from_static(b"k8s\0\x0a\xff"),
        )
        .await;
    assert_eq!(
        (garbage.code, garbage.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    let no_magic = t
        .send(
            "POST",
            "/api/v1/nodes",
            &[("content-type", PROTOBUF)],
            Bytes::from_static(b"{}"),
        )
        .await;
    assert_eq!(no_magic.code, 400);
    // A protobuf Node posted to the bindings URL names the wrong kind.
    let wrong_kind = t
        .send(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &[("content-type", PROTOBUF)],
            protocol::envelope::encode(&protocol::core::v1::Node::default()),
        )
        .await;
    assert_eq!(wrong_kind.code, 400);
}

type BadInput = (
    &'static str,
    &'static str,
    &'static str,
    &'static [u8],
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_inputs_get_statuses() {
    let t = TestApi::new().await;
    // (method, uri, content type, body, expected code, expected reason)
    let cases: [BadInput; 16] = [
        (
            "POST",
            "/api/v1/nodes",
            JSON,
            b"{not json",
            400,
            "BadRequest",
        ),
        ("POST", "/api/v1/nodes", JSON, b"[1,2]", 400, "BadRequest"),
        (
            "POST",
            "/api/v1/nodes",
            JSON,
            br#"{"metadata": {"name": 7}}"#,
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/nodes",
            "text/plain",
            b"x",
            415,
            "UnsupportedMediaType",
        ),
        (
            "POST",
            "/api/v1/nodes/n1",
            JSON,
            b"{}",
            405,
            "MethodNotAllowed",
        ),
        ("GET", "/api/v1/services", JSON, b"", 404, "NotFound"),
        (
            "GET",
            "/apis/nope.example/v1/things",
            JSON,
            b"",
            404,
            "NotFound",
        ),
        ("GET", "/api/v1/nodes/n1/scale", JSON, b"", 404, "NotFound"),
        (
            "GET",
            "/api/v1/namespaces/default/nodes",
            JSON,
            b"",
            404,
            "NotFound",
        ),
        ("GET", "/api/v1/nodes?limit=x", JSON, b"", 400, "BadRequest"),
        (
            "GET",
            "/api/v1/nodes?fieldSelector=spec.signerName%3Dx",
            JSON,
            b"",
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            "/api/v1/nodes/n1",
            JSON,
            b"{}",
            415,
            "UnsupportedMediaType",
        ),
        (
            "DELETE",
            "/api/v1/nodes/n1",
            JSON,
            b"{oops",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/secrets",
            JSON,
            b"{}",
            405,
            "MethodNotAllowed",
        ),
        ("GET", "/api/v1/secrets/s", JSON, b"", 404, "NotFound"),
        (
            "GET",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            JSON,
            b"",
            405,
            "MethodNotAllowed",
        ),
    ];
    for (method, uri, content_type, body, code, reason) in cases {
        let reply = t
            .send(
                method,
                uri,
                &[("content-type", content_type)],
                Bytes::copy_from_slice(body),
            )
            .await;
        assert_eq!(
            (reply.code, reply.body["reason"].as_str()),
            (code, Some(reason)),
            "{method} {uri}: {}",
            reply.body
        );
        assert_eq!(reply.body["kind"], "Status");
        assert_eq!(reply.body["code"], code);
    }
}

#[tokio::test]
async fn delete_preconditions_and_collections() {
    let t = TestApi::new().await;
    let created = t.post_json("/api/v1/nodes", &node("n1")).await;
    let rv = created.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong_rv = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}});
    let reply = t
        .send(
            "DELETE",
            "/api/v1/nodes/n1",
            &[("content-type", JSON)],
            serde_json::to_vec(&wrong_rv).unwrap(),
        )
        .await;
    assert_eq!(
        (reply.code, reply.body["reason"].as_str()),
        (409, Some("Conflict")),
        "{}",
        reply.body
    );
    let wrong_uid = json!({"preconditions": {"uid": "nope"}});
    let reply = t
        .send(
            "DELETE",
            "/api/v1/nodes/n1",
            &[("content-type", JSON)],
            serde_json::to_vec(&wrong_uid).unwrap(),
        )
        .await;
    assert_eq!(reply.code, 409);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID in precondition: nope")
    );
    let right =
        json!({"preconditions": {"resourceVersion": rv, "uid": created.body["metadata"]["uid"]}});
    let reply = t
        .send(
            "DELETE",
            "/api/v1/nodes/n1",
            &[("content-type", JSON)],
            serde_json::to_vec(&right).unwrap(),
        )
        .await;
    assert_eq!(reply.code, 200, "{}", reply.body);

    for (name, team) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut n = node(name);
        n["metadata"]["labels"] = json!({"team": team});
        assert_eq!(t.post_json("/api/v1/nodes", &n).await.code, 201);
    }
    let reply = t.delete("/api/v1/nodes?labelSelector=team%3Dx").await;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(reply.body["kind"], "NodeList");
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 2);
    let left = t.get("/api/v1/nodes").await;
    assert_eq!(left.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(left.body["items"][0]["metadata"]["name"], "c");
}

#[tokio::test]
async fn discovery_documents() {
    let t = TestApi::new().await;
    let api = t.get("/api").await;
    assert_eq!((api.code, &api.body["kind"]), (200, &json!("APIVersions")));
    assert_eq!(api.body["versions"], json!(["v1"]));
    let core = t.get("/api/v1").await;
    assert_eq!(core.body["kind"], "APIResourceList");
    let names: Vec<&str> = core.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"nodes") && names.contains(&"nodes/status") && names.contains(&"secrets"),
        "{names:?}"
    );
    let groups = t.get("/apis").await;
    assert_eq!(groups.body["kind"], "APIGroupList");
    let certs = t.get("/apis/certificates.k8s.io/v1").await;
    let csr = certs.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "certificatesigningrequests")
        .unwrap()
        .clone();
    assert_eq!(csr["shortNames"], json!(["csr"]));
    assert!(
        certs.body["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "certificatesigningrequests/approval")
    );
    assert_eq!(
        t.get("/apis/certificates.k8s.io").await.body["kind"],
        "APIGroup"
    );
    assert_eq!(t.get("/apis/nope.example/v1").await.code, 404);
    assert_eq!(t.get("/apis/certificates.k8s.io/v2").await.code, 404);
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let t = TestApi::new().await;
    let reply = t.post_json("/api/v1/nodes?dryRun=All", &node("n1")).await;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(reply.body["metadata"]["name"], "n1");
    assert_eq!(t.get("/api/v1/nodes/n1").await.code, 404);
    assert_eq!(t.post_json("/api/v1/nodes", &node("n1")).await.code, 201);
    let patched = t
        .patch(
            "/api/v1/nodes/n1?dryRun=All",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
        )
        .await;
    assert_eq!(patched.body["metadata"]["labels"]["a"], "b");
    assert!(
        t.get("/api/v1/nodes/n1").await.body["metadata"]
            .get("labels")
            .is_none()
    );
    assert_eq!(t.delete("/api/v1/nodes/n1?dryRun=All").await.code, 200);
    assert_eq!(t.get("/api/v1/nodes/n1").await.code, 200);
}

#[tokio::test]
async fn default_namespaces_have_identity() {
    let t = TestApi::new().await;
    let ns = t.get("/api/v1/namespaces/kube-system").await;
    assert_eq!(ns.body["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(ns.body["metadata"]["creationTimestamp"].is_string());
    assert_eq!(ns.body["status"]["phase"], "Active");
}

#[tokio::test]
async fn update_with_another_uid_is_a_conflict() {
    let t = TestApi::new().await;
    assert_eq!(t.post_json("/api/v1/nodes", &node("n1")).await.code, 201);
    let mut body = node("n1");
    body["metadata"]["uid"] = json!("11111111-1111-4111-8111-111111111111");
    let reply = t.put_json("/api/v1/nodes/n1", &body).await;
    assert_eq!(
        (reply.code, reply.body["reason"].as_str()),
        (409, Some("Conflict"))
    );
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Operation cannot be fulfilled on nodes \"n1\": Precondition failed: UID in precondition: 11111111"),
        "{}",
        reply.body
    );
    let renamed = t.put_json("/api/v1/nodes/n1", &node("other")).await;
    assert_eq!(
        (renamed.code, renamed.body["reason"].as_str()),
        (400, Some("BadRequest"))
    );
}
