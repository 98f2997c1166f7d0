//! Pods through `Api::handle`: defaults and status on create, protobuf bodies, the field
//! selector `kubectl describe node` sends, the status subresource, and strategic merge patches
//! that merge containers by name.

mod rest_common;

use protocol::core::v1::{Container, Pod, PodSpec, Quantity, ResourceRequirements};
use protocol::meta::ObjectMeta;
use rest_common::{PROTOBUF, TestApi};
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";

/// The query `kubectl describe node node-1` lists pods with.
const DESCRIBE_NODE: &str = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1%2Cstatus.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed&limit=500";

fn bound_pod(name: &str, node: &str) -> Pod {
    let cpu = |q: &str| [("cpu".to_string(), Quantity::from(q))].into();
    Pod {
        metadata: ObjectMeta::named(name),
        spec: PodSpec {
            node_name: node.to_string(),
            containers: vec![Container {
                name: "app".into(),
                image: "registry.example/app:1".into(),
                resources: ResourceRequirements {
                    requests: cpu("250m"),
                    limits: cpu("500m"),
                },
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn names(list: &serde_json::Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn protobuf_pods_are_created_with_defaults_and_a_pending_status() {
    let t = TestApi::new().await;
    let created = t
        .send(
            "POST",
            PODS,
            &[("content-type", PROTOBUF)],
            protocol::envelope::encode(&bound_pod("web", "node-1")),
        )
        .await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(created.body["status"]["phase"], "Pending");
    assert_eq!(created.body["status"]["qosClass"], "Burstable");
    assert_eq!(created.body["spec"]["restartPolicy"], "Always");

    // Answers are JSON (as for every kind here); they decode into the typed Pod.
    let read = t.get(&format!("{PODS}/web")).await;
    let pod: Pod = serde_json::from_value(read.body).unwrap();
    assert_eq!(pod.spec.node_name, "node-1");
    assert_eq!(pod.spec.containers[0].image_pull_policy, "IfNotPresent");
    assert_eq!(pod.status.phase, "Pending");
}

#[tokio::test]
async fn describe_node_lists_the_pods_bound_to_it_that_have_not_finished() {
    let t = TestApi::new().await;
    for (name, node) in [("a", "node-1"), ("b", "node-2"), ("c", "node-1"), ("d", "")] {
        let body = serde_json::to_value(bound_pod(name, node)).unwrap();
        assert_eq!(t.post_json(PODS, &body).await.code, 201);
    }
    let list = t.get(DESCRIBE_NODE).await;
    assert_eq!(list.code, 200, "{}", list.body);
    assert_eq!(list.body["kind"], "PodList");
    assert_eq!(names(&list.body), ["a", "c"]);

    // The status subresource writes the phase; the main resource cannot.
    let mut finished = t.get(&format!("{PODS}/c")).await.body;
    finished["status"]["phase"] = json!("Succeeded");
    let reply = t.put_json(&format!("{PODS}/c/status"), &finished).await;
    assert_eq!(reply.code, 200, "{}", reply.body);
    let mut forged = t.get(&format!("{PODS}/a")).await.body;
    forged["status"]["phase"] = json!("Failed");
    let reply = t.put_json(&format!("{PODS}/a"), &forged).await;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(reply.body["status"]["phase"], "Pending");
    assert_eq!(names(&t.get(DESCRIBE_NODE).await.body), ["a"]);

    let unknown = t.get("/api/v1/pods?fieldSelector=spec.image%3Dx").await;
    assert_eq!(unknown.code, 400);
}

#[tokio::test]
async fn set_image_patches_merge_containers_by_name_and_the_rest_of_the_spec_is_fixed() {
    let t = TestApi::new().await;
    let mut pod = serde_json::to_value(bound_pod("web", "node-1")).unwrap();
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "registry.example/sidecar:1"}));
    assert_eq!(t.post_json(PODS, &pod).await.code, 201);

    // What `kubectl set image pod/web app=registry.example/app:2` sends.
    let patched = t
        .patch(
            &format!("{PODS}/web"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"containers":[{"image":"registry.example/app:2","name":"app"}]}}"#,
        )
        .await;
    assert_eq!(patched.code, 200, "{}", patched.body);
    let containers = &patched.body["spec"]["containers"];
    assert_eq!(containers[0]["image"], "registry.example/app:2");
    assert_eq!(containers[0]["resources"]["limits"]["cpu"], "500m");
    assert_eq!(containers[1]["name"], "sidecar");

    let moved = t
        .patch(
            &format!("{PODS}/web"),
            "application/merge-patch+json",
            r#"{"spec":{"nodeName":"node-2"}}"#,
        )
        .await;
    assert_eq!(moved.code, 422, "{}", moved.body);
    assert!(
        moved.body["message"]
            .as_str()
            .unwrap()
            .contains("pod updates may not change fields other than"),
        "{}",
        moved.body
    );

    let no_image = json!({"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "x"}]}});
    let refused = t.post_json(PODS, &no_image).await;
    assert_eq!(refused.code, 422, "{}", refused.body);
    assert_eq!(
        refused.body["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );
}
