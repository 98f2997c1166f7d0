//! Watch streams: initial state, resuming from a resourceVersion, 410 for compacted history,
//! bookmarks, selectors, timeouts and Table rows.

mod rest_common;

use std::time::Duration;

use bytes::Bytes;
use rest_common::{Lines, TABLE_ACCEPT, TestApi, node};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn watch_from_zero_then_follow() {
    let t = TestApi::new().await;
    t.post_json("/api/v1/nodes", &node("a")).await;
    let response = t
        .raw("GET", "/api/v1/nodes?watch=true", &[], Bytes::new())
        .await;
    assert_eq!(response.status(), 200);
    let mut lines = Lines::new(response);
    let first = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            first["type"].as_str(),
            first["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("a"))
    );
    t.post_json("/api/v1/nodes", &node("b")).await;
    let second = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            second["type"].as_str(),
            second["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("b"))
    );
    t.delete("/api/v1/nodes/a").await;
    let third = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            third["type"].as_str(),
            third["object"]["metadata"]["name"].as_str()
        ),
        (Some("DELETED"), Some("a"))
    );
}

#[tokio::test]
async fn watch_from_a_resource_version_sends_only_later_events() {
    let t = TestApi::new().await;
    let created = t.post_json("/api/v1/nodes", &node("a")).await;
    let rv = created.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let response = t
        .raw(
            "GET",
            &format!("/api/v1/nodes?watch=1&resourceVersion={rv}"),
            &[],
            Bytes::new(),
        )
        .await;
    let mut lines = Lines::new(response);
    let mut update = node("a");
    update["metadata"]["labels"] = json!({"x": "y"});
    t.put_json("/api/v1/nodes/a", &update).await;
    let event = lines.next(WAIT).await.unwrap();
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"]["metadata"]["labels"]["x"], "y");
    assert!(
        event["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv.parse::<u64>().unwrap()
    );
    // The event's object is the object as stored: what a GET answers, and for a delete what
    // the DELETE answered (its last state at the delete's revision).
    assert_eq!(event["object"], t.get("/api/v1/nodes/a").await.body);
    let deleted = t.delete("/api/v1/nodes/a").await;
    assert_eq!(deleted.code, 200);
    let event = lines.next(WAIT).await.unwrap();
    assert_eq!(event["type"], "DELETED");
    assert_eq!(event["object"], deleted.body);
}

#[tokio::test]
async fn too_old_resource_version_is_410_expired() {
    let t = TestApi::with_history(2).await;
    let first = t.post_json("/api/v1/nodes", &node("a")).await;
    let old_rv = first.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    for name in ["b", "c", "d", "e"] {
        t.post_json("/api/v1/nodes", &node(name)).await;
    }
    let response = t
        .raw(
            "GET",
            &format!("/api/v1/nodes?watch=true&resourceVersion={old_rv}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut lines = Lines::new(response);
    let event = lines.next(WAIT).await.unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["kind"], "Status");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    assert!(
        lines.next(WAIT).await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn bookmarks_carry_the_latest_revision() {
    let t = TestApi::with_bookmarks(Duration::from_millis(100)).await;
    let created = t.post_json("/api/v1/nodes", &node("a")).await;
    let rv = created.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let response = t
        .raw(
            "GET",
            &format!("/api/v1/nodes?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"),
            &[],
            Bytes::new(),
        )
        .await;
    let mut lines = Lines::new(response);
    let bookmark = lines.next(WAIT).await.unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"],
        json!({"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": rv}})
    );
}

#[tokio::test]
async fn selectors_apply_and_leaving_objects_are_deleted() {
    let t = TestApi::new().await;
    let mut a = node("a");
    a["metadata"]["labels"] = json!({"pick": "yes"});
    t.post_json("/api/v1/nodes", &a).await;
    t.post_json("/api/v1/nodes", &node("b")).await;
    let response = t
        .raw(
            "GET",
            "/api/v1/nodes?watch=true&labelSelector=pick%3Dyes",
            &[],
            Bytes::new(),
        )
        .await;
    let mut lines = Lines::new(response);
    let added = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            added["type"].as_str(),
            added["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("a"))
    );
    // b joins the selector, a leaves it.
    t.patch(
        "/api/v1/nodes/b",
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"pick":"yes"}}}"#,
    )
    .await;
    t.patch(
        "/api/v1/nodes/a",
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"pick":"no"}}}"#,
    )
    .await;
    let joined = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            joined["type"].as_str(),
            joined["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("b"))
    );
    let left = lines.next(WAIT).await.unwrap();
    assert_eq!(
        (
            left["type"].as_str(),
            left["object"]["metadata"]["name"].as_str()
        ),
        (Some("DELETED"), Some("a"))
    );
}

#[tokio::test]
async fn timeout_ends_the_stream_and_tables_are_rows() {
    let t = TestApi::new().await;
    t.post_json("/api/v1/nodes", &node("a")).await;
    let response = t
        .raw(
            "GET",
            "/api/v1/nodes?watch=true&timeoutSeconds=1",
            &[("accept", TABLE_ACCEPT)],
            Bytes::new(),
        )
        .await;
    let mut lines = Lines::new(response);
    let event = lines.next(WAIT).await.unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["kind"], "Table");
    assert_eq!(event["object"]["rows"][0]["cells"][0], "a");
    assert!(
        !event["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    t.post_json("/api/v1/nodes", &node("b")).await;
    let second = lines.next(WAIT).await.unwrap();
    assert_eq!(second["object"]["rows"][0]["cells"][0], "b");
    assert_eq!(
        second["object"]["columnDefinitions"],
        serde_json::json!([]),
        "columns only once"
    );
    assert!(
        lines.next(WAIT).await.is_none(),
        "timeoutSeconds=1 ends the watch"
    );
}

#[tokio::test]
async fn many_concurrent_watchers() {
    let t = TestApi::new().await;
    let mut watchers = Vec::new();
    for _ in 0..2000 {
        let response = t
            .raw("GET", "/api/v1/nodes?watch=true", &[], Bytes::new())
            .await;
        watchers.push(Lines::new(response));
    }
    t.post_json("/api/v1/nodes", &node("a")).await;
    for lines in &mut watchers {
        let event = lines.next(WAIT).await.unwrap();
        assert_eq!(event["object"]["metadata"]["name"], "a");
    }
}

#[tokio::test]
async fn closing_watches_ends_open_streams_and_new_ones_at_once() {
    let t = TestApi::new().await;
    t.post_json("/api/v1/nodes", &node("a")).await;
    let response = t
        .raw("GET", "/api/v1/nodes?watch=true", &[], Bytes::new())
        .await;
    let mut open = Lines::new(response);
    assert_eq!(open.next(WAIT).await.unwrap()["type"], "ADDED");

    t.api.close_watches();
    // Ends well before its timeout (`Lines::next` panics after WAIT).
    assert!(open.next(WAIT).await.is_none());

    // A watch started afterwards still gets its initial state, then ends.
    let response = t
        .raw("GET", "/api/v1/nodes?watch=true", &[], Bytes::new())
        .await;
    assert_eq!(response.status(), 200);
    let mut late = Lines::new(response);
    assert_eq!(late.next(WAIT).await.unwrap()["type"], "ADDED");
    assert!(late.next(WAIT).await.is_none());
}
