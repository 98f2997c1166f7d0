//! PATCH with JSON merge patch, strategic merge patch and JSON patch.

mod rest_common;

use rest_common::{TestApi, node};
use serde_json::json;

#[tokio::test]
async fn merge_and_json_patches() {
    let t = TestApi::new().await;
    let created = t.post_json("/api/v1/nodes", &node("n1")).await;
    let uid = created.body["metadata"]["uid"].clone();

    let merged = t
        .patch(
            "/api/v1/nodes/n1",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"unschedulable":true}}"#,
        )
        .await;
    assert_eq!(merged.code, 200, "{}", merged.body);
    assert_eq!(
        merged.body["metadata"]["labels"],
        json!({"a": "1", "b": "2"})
    );
    assert_eq!(merged.body["spec"]["unschedulable"], true);
    assert_eq!(merged.body["metadata"]["uid"], uid);

    let removed = t
        .patch(
            "/api/v1/nodes/n1",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"a":null}}}"#,
        )
        .await;
    assert_eq!(removed.body["metadata"]["labels"], json!({"b": "2"}));

    let json_patched = t.patch("/api/v1/nodes/n1", "application/json-patch+json", r#"[{"op":"add","path":"/metadata/labels/c","value":"3"},{"op":"remove","path":"/metadata/labels/b"}]"#).await;
    assert_eq!(json_patched.code, 200, "{}", json_patched.body);
    assert_eq!(json_patched.body["metadata"]["labels"], json!({"c": "3"}));

    let strategic = t
        .patch(
            "/api/v1/nodes/n1",
            "application/strategic-merge-patch+json",
            r#"{"metadata":{"annotations":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(strategic.body["metadata"]["annotations"]["x"], "y");
    assert_eq!(strategic.body["metadata"]["labels"]["c"], "3");

    // Server-owned identity cannot be patched away.
    let renamed = t
        .patch(
            "/api/v1/nodes/n1",
            "application/merge-patch+json",
            r#"{"metadata":{"name":"other","uid":"forged"}}"#,
        )
        .await;
    assert_eq!(renamed.body["metadata"]["name"], "n1");
    assert_eq!(renamed.body["metadata"]["uid"], uid);

    // A resourceVersion in the patch is a precondition.
    let stale = t
        .patch(
            "/api/v1/nodes/n1",
            "application/merge-patch+json",
            r#"{"metadata":{"resourceVersion":"1","labels":{"z":"z"}}}"#,
        )
        .await;
    assert_eq!(
        (stale.code, stale.body["reason"].as_str()),
        (409, Some("Conflict"))
    );

    let bad = t
        .patch("/api/v1/nodes/n1", "application/merge-patch+json", "{oops")
        .await;
    assert_eq!(bad.code, 400);
    let bad_type = t
        .patch(
            "/api/v1/nodes/n1",
            "application/merge-patch+json",
            r#"{"spec":{"unschedulable":"yes"}}"#,
        )
        .await;
    assert_eq!(bad_type.code, 400, "{}", bad_type.body);
    let failed_test = t
        .patch(
            "/api/v1/nodes/n1",
            "application/json-patch+json",
            r#"[{"op":"test","path":"/metadata/name","value":"x"}]"#,
        )
        .await;
    assert_eq!(failed_test.code, 422);
    let missing = t
        .patch("/api/v1/nodes/nope", "application/merge-patch+json", "{}")
        .await;
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn strategic_patch_merges_node_conditions_on_status() {
    let t = TestApi::new().await;
    let mut n = node("n1");
    n["status"] = json!({"conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]});
    assert_eq!(t.post_json("/api/v1/nodes", &n).await.code, 201);
    let patched = t
        .patch(
            "/api/v1/nodes/n1/status",
            "application/strategic-merge-patch+json",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        )
        .await;
    assert_eq!(patched.code, 200, "{}", patched.body);
    let conditions = patched.body["status"]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 2);
    assert_eq!(conditions[0]["status"], "True");
}
