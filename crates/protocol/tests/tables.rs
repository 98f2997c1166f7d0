//! Table output as `kubectl get` prints it.

use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use protocol::core::v1::{Node, NodeCondition};
use protocol::meta::{ListMeta, ObjectMeta, Time};
use protocol::table::{self, IncludeObject};
use serde_json::json;

fn csr(
    name: &str,
    conditions: &[&str],
    issued: bool,
    expiration: Option<i32>,
) -> CertificateSigningRequest {
    let mut csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time::parse("2024-05-01T10:00:00Z").unwrap()),
            ..ObjectMeta::named(name)
        },
        ..Default::default()
    };
    csr.spec.signer_name = "kubernetes.io/kube-apiserver-client-kubelet".into();
    csr.spec.username = "system:bootstrap:abcdef".into();
    csr.spec.expiration_seconds = expiration;
    for c in conditions {
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: c.to_string(),
                status: "True".into(),
                ..Default::default()
            });
    }
    if issued {
        csr.status.certificate = b"-----BEGIN CERTIFICATE-----".to_vec();
    }
    csr
}

#[test]
fn csr_table_columns_and_conditions() {
    let now = Time::parse("2024-05-01T10:05:03Z").unwrap();
    let items = [
        csr("pending", &[], false, None),
        csr("issued", &["Approved"], true, Some(86400)),
        csr("denied", &["Denied"], false, Some(600)),
        csr("failed", &["Approved", "Failed"], false, None),
    ];
    let meta = ListMeta {
        resource_version: "9".into(),
        ..Default::default()
    };
    let t = table::build(&items, IncludeObject::Metadata, meta, &now);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["kind"], "Table");
    assert_eq!(json["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(json["metadata"]["resourceVersion"], "9");
    let names: Vec<&str> = t
        .column_definitions
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Age",
            "SignerName",
            "Requestor",
            "RequestedDuration",
            "Condition"
        ]
    );
    assert_eq!(t.column_definitions[0].format, "name");
    let cells: Vec<Vec<serde_json::Value>> = t.rows.iter().map(|r| r.cells.clone()).collect();
    let signer = "kubernetes.io/kube-apiserver-client-kubelet";
    let user = "system:bootstrap:abcdef";
    assert_eq!(
        cells[0],
        vec![
            json!("pending"),
            json!("5m3s"),
            json!(signer),
            json!(user),
            json!("<none>"),
            json!("Pending")
        ]
    );
    assert_eq!(cells[1][4], "24h");
    assert_eq!(cells[1][5], "Approved,Issued");
    assert_eq!(cells[2][4], "10m");
    assert_eq!(cells[2][5], "Denied");
    assert_eq!(cells[3][5], "Approved,Failed");
    let object = t.rows[0].object.as_ref().unwrap();
    assert_eq!(object["kind"], "PartialObjectMetadata");
    assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(object["metadata"]["name"], "pending");
    assert!(object.get("spec").is_none());

    let full = table::build(
        &items[..1],
        IncludeObject::Object,
        ListMeta::default(),
        &now,
    );
    assert_eq!(
        full.rows[0].object.as_ref().unwrap()["kind"],
        "CertificateSigningRequest"
    );
    assert_eq!(
        full.rows[0].object.as_ref().unwrap()["spec"]["username"],
        user
    );
}

#[test]
fn node_table_status_roles_version() {
    let now = Time::parse("2024-05-03T10:00:00Z").unwrap();
    let mut node = Node {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time::parse("2024-05-01T10:00:00Z").unwrap()),
            ..ObjectMeta::named("n1")
        },
        ..Default::default()
    };
    node.metadata
        .labels
        .insert("node-role.kubernetes.io/worker".into(), "".into());
    node.metadata
        .labels
        .insert("node-role.kubernetes.io/control-plane".into(), "".into());
    node.spec.unschedulable = true;
    node.status.conditions.push(NodeCondition {
        type_: "Ready".into(),
        status: "Unknown".into(),
        ..Default::default()
    });
    node.status.node_info = Some(protocol::core::v1::NodeSystemInfo {
        kubelet_version: "v1.32.0".into(),
        ..Default::default()
    });
    let mut bare = Node {
        metadata: ObjectMeta::named("n2"),
        ..Default::default()
    };
    bare.status.conditions.clear();

    let t = table::build(
        &[node, bare],
        IncludeObject::None,
        ListMeta::default(),
        &now,
    );
    assert_eq!(
        &t.rows[0].cells[..5],
        &[
            json!("n1"),
            json!("NotReady,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("2d"),
            json!("v1.32.0")
        ]
    );
    assert_eq!(
        &t.rows[1].cells[..4],
        &[
            json!("n2"),
            json!("Unknown"),
            json!("<none>"),
            json!("<unknown>")
        ]
    );
    assert!(t.rows[0].object.is_none());
    let wide: Vec<i32> = t.column_definitions.iter().map(|c| c.priority).collect();
    assert_eq!(wide, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
}

#[test]
fn build_for_resource_from_stored_json() {
    let now = Time::parse("2024-05-01T10:00:10Z").unwrap();
    let stored = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "create-csrs-for-bootstrapping", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-bootstrapper"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:bootstrappers"},
                     {"kind": "ServiceAccount", "name": "sa", "namespace": "kube-system"}]
    })];
    let t = table::build_for_resource(
        "rbac.authorization.k8s.io/clusterrolebindings",
        &stored,
        IncludeObject::Metadata,
        ListMeta::default(),
        &now,
    )
    .unwrap();
    assert_eq!(
        t.rows[0].cells,
        vec![
            json!("create-csrs-for-bootstrapping"),
            json!("ClusterRole/system:node-bootstrapper"),
            json!("10s"),
            json!(""),
            json!("system:bootstrappers"),
            json!("kube-system/sa")
        ]
    );
    assert!(
        table::build_for_resource(
            "apps/deployments",
            &[],
            IncludeObject::None,
            ListMeta::default(),
            &now
        )
        .is_err()
    );
}
