//! The generic REST layer around the CSR strategy as kubectl and the controllers use it:
//! protobuf create, the approval subresource, stale updates, watch, and access reviews.

mod rest_common;

use std::time::Duration;

use bytes::Bytes;
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::meta::ObjectMeta;
use rest_common::{CSRS, JSON, Lines, PROTOBUF, TestApi};
use serde_json::json;

fn kubelet_csr(name: &str) -> CertificateSigningRequest {
    let key = pki::PrivateKey::generate_p256().unwrap();
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: "system:node:worker-1".into(),
            organizations: vec!["system:nodes".into()],
        },
        &pki::SubjectAltNames::default(),
    )
    .unwrap();
    let mut csr = CertificateSigningRequest {
        metadata: ObjectMeta::named(name),
        ..Default::default()
    };
    csr.spec.request = pem.into_bytes();
    csr.spec.signer_name = "kubernetes.io/kube-apiserver-client-kubelet".into();
    csr.spec.usages = vec!["digital signature".into(), "client auth".into()];
    csr.spec.username = "forged".into();
    csr
}

#[tokio::test]
async fn protobuf_create_approve_and_conflict() {
    let t = TestApi::new().await;
    let response = t
        .raw("GET", &format!("{CSRS}?watch=true"), &[], Bytes::new())
        .await;
    let mut lines = Lines::new(response);

    let created = t
        .send(
            "POST",
            CSRS,
            &[("content-type", PROTOBUF)],
            protocol::envelope::encode(&kubelet_csr("csr-1")),
        )
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(
        created.body["spec"]["username"], "admin",
        "the requester is stamped from the caller"
    );
    let added = lines.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (
            added["type"].as_str(),
            added["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("csr-1"))
    );

    // `kubectl certificate approve`: the CSR with an Approved condition, PUT to /approval in protobuf.
    let mut approve: CertificateSigningRequest =
        serde_json::from_value(created.body.clone()).unwrap();
    approve.status.conditions.push(
        protocol::certificates::v1::CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            reason: "KubectlApprove".into(),
            message: "This CSR was approved by kubectl certificate approve.".into(),
            ..Default::default()
        },
    );
    let approved = t
        .send(
            "PUT",
            &format!("{CSRS}/csr-1/approval"),
            &[("content-type", PROTOBUF)],
            protocol::envelope::encode(&approve),
        )
        .await;
    assert_eq!(approved.code, 200, "{}", approved.body);
    assert_eq!(approved.body["status"]["conditions"][0]["type"], "Approved");
    let modified = lines.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");

    // The same body again carries the old resourceVersion.
    let stale = t
        .send(
            "PUT",
            &format!("{CSRS}/csr-1/approval"),
            &[("content-type", PROTOBUF)],
            protocol::envelope::encode(&approve),
        )
        .await;
    assert_eq!(stale.code, 409);
    assert_eq!(
        stale.body["message"],
        "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"csr-1\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // `kubectl delete csr` then polls by name.
    let delete_options =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
    let deleted = t
        .send(
            "DELETE",
            &format!("{CSRS}/csr-1"),
            &[("content-type", JSON)],
            serde_json::to_vec(&delete_options).unwrap(),
        )
        .await;
    assert_eq!(deleted.code, 200, "{}", deleted.body);
    let poll = t
        .get(&format!(
            "{CSRS}?fieldSelector=metadata.name%3Dcsr-1&resourceVersion=0"
        ))
        .await;
    assert_eq!(poll.body["items"], json!([]));
}

#[tokio::test]
async fn signer_field_selector_and_generate_name() {
    let t = TestApi::new().await;
    let mut csr = serde_json::to_value(kubelet_csr("")).unwrap();
    csr["metadata"] = json!({"generateName": "csr-"});
    let created = t.post_json(CSRS, &csr).await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert!(
        created.body["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("csr-")
    );
    let hit = t
        .get(&format!(
            "{CSRS}?fieldSelector=spec.signerName%3Dkubernetes.io%2Fkube-apiserver-client-kubelet"
        ))
        .await;
    assert_eq!(hit.body["items"].as_array().unwrap().len(), 1);
    let miss = t
        .get(&format!(
            "{CSRS}?fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving"
        ))
        .await;
    assert_eq!(miss.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn self_subject_access_review_is_answered_not_stored() {
    let t = TestApi::new().await;
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "create", "group": "certificates.k8s.io", "resource": "certificatesigningrequests"}}
    });
    let reply = t
        .post_json(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &review,
        )
        .await;
    assert_eq!(reply.code, 201, "{}", reply.body);
    assert_eq!(reply.body["status"]["allowed"], true);
}
