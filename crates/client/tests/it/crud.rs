//! Typed CRUD, subresources, patches and Status errors, with certificate and token identities,
//! and identity swaps.

use std::collections::BTreeMap;

use client::{ClientError, Identity, ListParams, Patch};
use protocol::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use protocol::coordination::v1::Lease;
use protocol::core::v1::Secret;
use protocol::meta::ObjectMeta;
use protocol::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use serde_json::json;

use crate::support::{TestPki, TestServer, eventually, kubelet_csr};

#[tokio::test]
async fn csr_crud_and_approval_with_an_admin_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let admin = server.client(server.pki.admin());

    let created = admin
        .create(None, &kubelet_csr("csr-a", "node-a"))
        .await
        .expect("create");
    assert_eq!(created.metadata.name, "csr-a");
    assert_eq!(
        created.spec.username, "kubernetes-admin",
        "stamped requester"
    );
    assert!(!created.metadata.uid.is_empty());

    let got: CertificateSigningRequest = admin.get(None, "csr-a").await.expect("get");
    assert_eq!(got.metadata.uid, created.metadata.uid);

    let list = admin
        .list::<CertificateSigningRequest>(None, &ListParams::default())
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(!list.resource_version.is_empty());

    // The approval subresource, as `kubectl certificate approve` does it.
    let mut approve = got.clone();
    approve
        .status
        .conditions
        .push(CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            reason: "ClientTest".into(),
            message: "approved by the client test".into(),
            ..Default::default()
        });
    let approved = admin
        .update_subresource(None, "csr-a", "approval", &approve)
        .await
        .expect("approve");
    assert_eq!(approved.status.conditions[0].type_, "Approved");

    // Labels through a merge patch, then a plain update.
    let patched: CertificateSigningRequest = admin
        .patch(
            None,
            "csr-a",
            &Patch::Merge(json!({"metadata": {"labels": {"team": "client"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.metadata.labels.get("team").map(String::as_str),
        Some("client")
    );
    let mut relabel = patched.clone();
    relabel
        .metadata
        .labels
        .insert("step".into(), "update".into());
    let updated = admin.update(None, &relabel).await.expect("update");
    assert_eq!(updated.metadata.labels.len(), 2);

    // A stale resourceVersion: 409 Conflict.
    let stale = admin.update(None, &relabel).await.unwrap_err();
    assert!(stale.is_conflict(), "{stale:?}");
    // A second create: 409 AlreadyExists.
    let exists = admin
        .create(None, &kubelet_csr("csr-a", "node-a"))
        .await
        .unwrap_err();
    assert!(exists.is_already_exists(), "{exists:?}");
    assert_eq!(
        exists.status().map(|s| s.reason.as_str()),
        Some("AlreadyExists")
    );

    admin
        .delete::<CertificateSigningRequest>(None, "csr-a")
        .await
        .expect("delete");
    let missing = admin
        .get::<CertificateSigningRequest>(None, "csr-a")
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    assert!(
        missing.to_string().contains("\"csr-a\" not found"),
        "{missing}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lease_crud_with_conflict_retry_helper() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let admin = server.client(server.pki.admin());
    let lease = Lease {
        metadata: ObjectMeta::namespaced("kube-system", "lock"),
        spec: protocol::coordination::v1::LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        },
    };
    let created = admin
        .create(Some("kube-system"), &lease)
        .await
        .expect("create");
    assert_eq!(created.spec.holder_identity.as_deref(), Some("a"));

    // Two writers from the same snapshot: the second one re-reads and wins on retry.
    let mut first = created.clone();
    first.spec.holder_identity = Some("b".into());
    admin
        .update(Some("kube-system"), &first)
        .await
        .expect("first");
    let mut attempts = 0;
    let final_lease = client::retry_on_conflict(3, || {
        attempts += 1;
        let admin = admin.clone();
        let snapshot = if attempts == 1 {
            Some(created.clone())
        } else {
            None
        };
        async move {
            let mut lease = match snapshot {
                Some(stale) => stale,
                None => admin.get::<Lease>(Some("kube-system"), "lock").await?,
            };
            lease.spec.holder_identity = Some("c".into());
            admin.update(Some("kube-system"), &lease).await
        }
    })
    .await
    .expect("retry on conflict");
    assert_eq!(attempts, 2);
    assert_eq!(final_lease.spec.holder_identity.as_deref(), Some("c"));

    let leases = admin
        .list::<Lease>(
            Some("kube-system"),
            &ListParams::default().fields("metadata.name=lock"),
        )
        .await
        .expect("list with a field selector");
    assert_eq!(leases.items.len(), 1);

    // A namespaced kind without a namespace is refused before anything is sent.
    let err = admin.get::<Lease>(None, "lock").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");

    admin
        .delete::<Lease>(Some("kube-system"), "lock")
        .await
        .expect("delete");
    server.stop().await;
}

#[tokio::test]
async fn forbidden_is_a_403_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let bob = server.client(server.pki.identity("bob", &[]));
    let err = bob
        .list::<Secret>(Some("kube-system"), &ListParams::default())
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert!(err.to_string().contains("\"bob\""), "{err}");
    server.stop().await;
}

fn bootstrap_token_secret(id: &str, secret: &str) -> Secret {
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("token-id", id),
        ("token-secret", secret),
        ("expiration", "2999-01-01T00:00:00Z"),
        ("usage-bootstrap-authentication", "true"),
        ("usage-bootstrap-signing", "true"),
    ] {
        data.insert(k.to_string(), v.as_bytes().to_vec());
    }
    Secret {
        metadata: ObjectMeta::namespaced("kube-system", format!("bootstrap-token-{id}")),
        data,
        type_: "bootstrap.kubernetes.io/token".into(),
        ..Default::default()
    }
}

/// Lets `system:bootstrappers` create CSRs, as `kubeadm` does.
async fn bind_node_bootstrapper(admin: &client::Client) {
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta::named("kubelet-bootstrap"),
        subjects: vec![Subject {
            kind: "Group".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: "system:bootstrappers".into(),
            namespace: String::new(),
        }],
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "system:node-bootstrapper".into(),
        },
    };
    admin.create(None, &binding).await.expect("binding");
}

#[tokio::test]
async fn bootstrap_token_creates_and_reads_its_csr_then_swaps_to_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let admin = server.client(server.pki.admin());
    admin
        .create(
            Some("kube-system"),
            &bootstrap_token_secret("abcdef", "0123456789abcdef"),
        )
        .await
        .expect("token secret");
    bind_node_bootstrapper(&admin).await;

    let node = server.client(Identity::Token("abcdef.0123456789abcdef".into()));
    // Authentication and authorization follow the store by watch: wait until it is allowed.
    eventually("the bootstrap token may create CSRs", || {
        let node = node.clone();
        async move {
            node.create(None, &kubelet_csr("probe", "node-b"))
                .await
                .is_ok()
        }
    })
    .await;
    let csr = node
        .create(None, &kubelet_csr("node-b-csr", "node-b"))
        .await
        .expect("create with token");
    assert_eq!(csr.spec.username, "system:bootstrap:abcdef");
    let read: CertificateSigningRequest = node.get(None, "node-b-csr").await.expect("get own");
    assert_eq!(read.metadata.uid, csr.metadata.uid);

    // Rotation: the same client now authenticates with a certificate (of a user without
    // any binding), so the same question gets another answer.
    assert!(can_create_csrs(&node).await, "the bootstrap token may");
    let before = node.identity_version();
    node.set_identity(server.pki.identity("bob", &[]))
        .expect("swap");
    assert_eq!(node.identity_version(), before + 1);
    assert!(!can_create_csrs(&node).await, "bob may not");
    server.stop().await;
}

#[tokio::test]
async fn set_identity_changes_the_stamped_user_and_rejects_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let client = server.client(server.pki.identity("admin-one", &["system:masters"]));
    let first = client
        .create(None, &kubelet_csr("one", "n1"))
        .await
        .expect("as admin-one");
    assert_eq!(first.spec.username, "admin-one");

    client
        .set_identity(server.pki.identity("admin-two", &["system:masters"]))
        .expect("swap");
    let second = client
        .create(None, &kubelet_csr("two", "n2"))
        .await
        .expect("as admin-two");
    assert_eq!(second.spec.username, "admin-two");

    // A certificate with another certificate's key is refused; the identity stays.
    let Identity::ClientCertificate { cert_pem, .. } = server.pki.admin() else {
        unreachable!()
    };
    let Identity::ClientCertificate { key_pem, .. } = server.pki.admin() else {
        unreachable!()
    };
    let err = client
        .set_identity(Identity::ClientCertificate { cert_pem, key_pem })
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    let third = client
        .create(None, &kubelet_csr("three", "n3"))
        .await
        .expect("still admin-two");
    assert_eq!(third.spec.username, "admin-two");

    // Anonymous after a swap to no identity: creating CSRs is forbidden.
    client
        .set_identity(Identity::None)
        .expect("swap to anonymous");
    let err = client
        .create(None, &kubelet_csr("four", "n4"))
        .await
        .unwrap_err();
    assert!(err.is_forbidden() || err.is_unauthorized(), "{err:?}");
    server.stop().await;
}

async fn can_create_csrs(client: &client::Client) -> bool {
    let review = client
        .create(
            None,
            &SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: "create".into(),
                        group: "certificates.k8s.io".into(),
                        resource: "certificatesigningrequests".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("self subject access review");
    review.status.allowed
}
