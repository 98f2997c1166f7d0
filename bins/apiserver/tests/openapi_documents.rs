//! The shape of the served OpenAPI documents, as kubectl reads them: the v3 index, each
//! group-version document (GVK-tagged schemas, PATCH operations declaring `fieldValidation`),
//! the v2 protobuf, caching headers, and the field validation the documents advertise.

use apiserver::openapi::{OpenApi, v2};
use apiserver::request_info::RequestInfo;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt as _;
use prost::Message as _;
use serde_json::{Value, json};

fn openapi() -> OpenApi {
    OpenApi::generate("v1.32.0-test")
}

async fn get(api: &OpenApi, uri: &str, headers: &HeaderMap) -> (StatusCode, HeaderMap, Vec<u8>) {
    let uri: http::Uri = uri.parse().expect("uri");
    let response = api
        .answer(&Method::GET, uri.path(), uri.query(), headers)
        .unwrap_or_else(|| panic!("{uri} not answered"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body.to_vec())
}

async fn get_json(api: &OpenApi, uri: &str) -> Value {
    let (status, _, body) = get(api, uri, &HeaderMap::new()).await;
    assert_eq!(status, StatusCode::OK, "{uri}");
    serde_json::from_slice(&body).expect("json")
}

#[tokio::test]
async fn index_names_every_served_group_version_with_its_hash() {
    let api = openapi();
    let index = get_json(&api, "/openapi/v3").await;
    let paths = index["paths"].as_object().expect("paths");
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "api/v1",
            "apis/authentication.k8s.io/v1",
            "apis/authorization.k8s.io/v1",
            "apis/certificates.k8s.io/v1",
            "apis/coordination.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
            "apis/revocation.kubelet-tls-bootstrap.io/v1alpha1"
        ]
    );
    for document in api.documents() {
        let url = paths[&document.key]["serverRelativeURL"]
            .as_str()
            .expect("url");
        assert_eq!(
            url,
            format!("/openapi/v3/{}?hash={}", document.key, document.hash)
        );
        // Following the index gives exactly the document.
        let (status, headers, body) = get(&api, url, &HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, document.json.to_vec());
        assert_eq!(headers["cache-control"], "public, immutable");
        assert_eq!(headers["content-type"], "application/json");
    }
}

#[tokio::test]
async fn rbac_document_describes_cluster_role_binding_for_kubectl() {
    let api = openapi();
    let doc = get_json(&api, "/openapi/v3/apis/rbac.authorization.k8s.io/v1").await;
    assert_eq!(doc["openapi"], "3.0.0");
    let schemas = &doc["components"]["schemas"];
    let crb = &schemas["io.k8s.api.rbac.v1.ClusterRoleBinding"];
    assert_eq!(
        crb["x-kubernetes-group-version-kind"],
        json!([{"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "ClusterRoleBinding"}])
    );
    assert_eq!(
        crb["properties"]["roleRef"]["$ref"],
        "#/components/schemas/io.k8s.api.rbac.v1.RoleRef"
    );
    // Every schema referenced is in the document (kubectl resolves references locally).
    let text = serde_json::to_string(&doc).expect("json");
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').expect("end")];
        assert!(schemas.get(name).is_some(), "{name} referenced but missing");
    }
    assert!(
        schemas
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .is_some()
    );
    // The PATCH operation kubectl's query-param verifier looks for.
    let patch =
        &doc["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "ClusterRoleBinding"
    );
    assert_eq!(patch["x-kubernetes-action"], "patch");
    let names: Vec<&str> = patch["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"fieldValidation"), "{names:?}");
    // Only the patch formats we apply: no server-side apply.
    let formats: Vec<&String> = patch["requestBody"]["content"]
        .as_object()
        .expect("content")
        .keys()
        .collect();
    assert!(
        !formats.iter().any(|f| f.contains("apply-patch")),
        "{formats:?}"
    );
    // Namespaced RoleBindings live under a namespace.
    assert!(
        doc["paths"]["/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}"]
            .is_object()
    );
}

#[tokio::test]
async fn core_document_has_secret_and_subresource_paths_and_only_served_verbs() {
    let api = openapi();
    let doc = get_json(&api, "/openapi/v3/api/v1").await;
    let secret = &doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"];
    for field in ["data", "stringData", "type", "immutable", "metadata"] {
        assert!(secret["properties"][field].is_object(), "{field}");
    }
    assert!(doc["paths"]["/api/v1/namespaces/{namespace}/secrets"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/nodes/{name}/status"]["patch"].is_object());
    // Namespaces have no deletecollection verb here, so no collection DELETE.
    assert!(doc["paths"]["/api/v1/namespaces"].get("delete").is_none());
    let auth = get_json(&api, "/openapi/v3/apis/authorization.k8s.io/v1").await;
    let ssar = &auth["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"];
    assert!(ssar["post"].is_object());
    assert_eq!(ssar.as_object().expect("ops").len(), 1, "{ssar}");
}

#[tokio::test]
async fn etags_revalidate_and_stale_hashes_redirect() {
    let api = openapi();
    let (status, headers, _) = get(&api, "/openapi/v3", &HeaderMap::new()).await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers["etag"].clone();
    let mut conditional = HeaderMap::new();
    conditional.insert(http::header::IF_NONE_MATCH, etag);
    let (status, _, body) = get(&api, "/openapi/v3", &conditional).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (status, headers, _) = get(&api, "/openapi/v3/api/v1?hash=0000", &HeaderMap::new()).await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    let current = api
        .documents()
        .iter()
        .find(|d| d.key == "api/v1")
        .expect("core");
    assert_eq!(
        headers["location"],
        format!("/openapi/v3/api/v1?hash={}", current.hash).as_str()
    );
    assert!(
        api.answer(
            &Method::GET,
            "/openapi/v3/apis/apps/v1",
            None,
            &HeaderMap::new()
        )
        .is_none()
    );
}

#[tokio::test]
async fn v2_protobuf_declares_field_validation_on_patch_operations() {
    let api = openapi();
    let mut accept = HeaderMap::new();
    accept.insert(
        http::header::ACCEPT,
        HeaderValue::from_static(v2::PROTOBUF_MEDIA_TYPE),
    );
    let (status, headers, body) = get(&api, "/openapi/v2", &accept).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], v2::PROTOBUF_CONTENT_TYPE);
    let document = v2::Document::decode(body.as_slice()).expect("protobuf");
    assert_eq!(document.swagger, "2.0");
    let paths = document.paths.expect("paths").path;
    let secret = paths
        .iter()
        .find(|p| p.name == "/api/v1/namespaces/{namespace}/secrets/{name}")
        .and_then(|p| p.value.clone())
        .and_then(|v| v.patch)
        .expect("secret patch");
    let gvk = secret
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .and_then(|e| e.value.clone())
        .expect("gvk");
    assert_eq!(gvk.yaml, r#"{"group":"","kind":"Secret","version":"v1"}"#);
    let query_names: Vec<String> = secret
        .parameters
        .iter()
        .filter_map(|p| {
            p.parameter
                .clone()?
                .non_body_parameter?
                .query_parameter_sub_schema
        })
        .map(|q| q.name)
        .collect();
    assert!(
        query_names.iter().any(|n| n == "fieldValidation"),
        "{query_names:?}"
    );

    let (status, _, _) = get(&api, "/openapi/v2", &HeaderMap::new()).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

fn info(method: &Method, uri: &str) -> RequestInfo {
    RequestInfo::parse(method, &uri.parse().expect("uri"))
}

#[test]
fn field_validation_follows_the_directive() {
    let api = openapi();
    let json = {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h
    };
    let body = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","nmae":"x"},"stringData":{"a":"b"}}"#;
    let create = info(&Method::POST, "/api/v1/namespaces/default/secrets");

    let strict = api
        .validate_fields(&create, Some("fieldValidation=Strict"), &json, body)
        .unwrap_err();
    assert_eq!(strict.code, 400);
    assert_eq!(
        strict.message,
        r#"Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "metadata.nmae""#
    );
    let warnings = api
        .validate_fields(&create, None, &json, body)
        .expect("warn");
    assert_eq!(warnings, [r#"299 - "unknown field \"metadata.nmae\"""#]);
    assert!(
        api.validate_fields(&create, Some("fieldValidation=Ignore"), &json, body)
            .expect("ignore")
            .is_empty()
    );
    let bad = api
        .validate_fields(&create, Some("fieldValidation=Loud"), &json, body)
        .unwrap_err();
    assert_eq!(bad.code, 422);

    // Strategic merge patches: `$` directives are not fields.
    let mut smp = HeaderMap::new();
    smp.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/strategic-merge-patch+json"),
    );
    let patch = info(
        &Method::PATCH,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/b",
    );
    let ok =
        br#"{"$setElementOrder/subjects":[{"name":"g"}],"subjects":[{"kind":"Group","name":"g"}]}"#;
    assert!(
        api.validate_fields(&patch, Some("fieldValidation=Strict"), &smp, ok)
            .expect("valid patch")
            .is_empty()
    );
    let typo = br#"{"roleRef":{"nmae":"x"}}"#;
    assert!(
        api.validate_fields(&patch, Some("fieldValidation=Strict"), &smp, typo)
            .is_err()
    );

    // Protobuf bodies and reads are not checked.
    let mut protobuf = HeaderMap::new();
    protobuf.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
    );
    assert!(
        api.validate_fields(&create, Some("fieldValidation=Strict"), &protobuf, b"k8s\0")
            .expect("protobuf")
            .is_empty()
    );
    let read = info(&Method::GET, "/api/v1/namespaces/default/secrets/s");
    assert!(
        api.validate_fields(&read, Some("fieldValidation=Loud"), &json, b"")
            .is_ok()
    );
}
