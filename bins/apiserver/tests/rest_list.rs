//! Lists: selectors, pagination and Table responses.

mod rest_common;

use bytes::Bytes;
use rest_common::{TABLE_ACCEPT, TestApi, lease, node};
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn with_nodes(t: &TestApi) {
    for (name, zone) in [
        ("a", "east"),
        ("b", "west"),
        ("c", "east"),
        ("d", "north"),
        ("e", ""),
    ] {
        let mut n = node(name);
        if !zone.is_empty() {
            n["metadata"]["labels"] = json!({"zone": zone});
        }
        assert_eq!(t.post_json("/api/v1/nodes", &n).await.code, 201);
    }
}

#[tokio::test]
async fn selectors_filter_lists() {
    let t = TestApi::new().await;
    with_nodes(&t).await;
    let cases = [
        ("labelSelector=zone%3Deast", vec!["a", "c"]),
        ("labelSelector=zone%21%3Deast", vec!["b", "d", "e"]),
        ("labelSelector=zone+in+(west,north)", vec!["b", "d"]),
        ("labelSelector=zone+notin+(east)", vec!["b", "d", "e"]),
        ("labelSelector=zone", vec!["a", "b", "c", "d"]),
        ("labelSelector=%21zone", vec!["e"]),
        ("fieldSelector=metadata.name%3Db", vec!["b"]),
        ("fieldSelector=metadata.name%3D%3Db", vec!["b"]),
        (
            "fieldSelector=metadata.name%21%3Db,metadata.name%21%3Dc",
            vec!["a", "d", "e"],
        ),
        (
            "fieldSelector=metadata.name%3Da&labelSelector=zone%3Dwest",
            vec![],
        ),
        (
            "fieldSelector=metadata.name%3Dmissing&resourceVersion=0",
            vec![],
        ),
    ];
    for (query, expected) in cases {
        let list = t.get(&format!("/api/v1/nodes?{query}")).await;
        assert_eq!(list.code, 200, "{query}: {}", list.body);
        assert_eq!(names(&list.body), expected, "{query}");
        assert!(
            list.body["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        assert_eq!(list.body["kind"], "NodeList");
    }
}

#[tokio::test]
async fn limit_and_continue_page_through() {
    let t = TestApi::new().await;
    with_nodes(&t).await;
    let mut seen = Vec::new();
    let mut uri = "/api/v1/nodes?limit=2".to_string();
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let page = t.get(&uri).await;
        assert_eq!(page.code, 200, "{}", page.body);
        pages += 1;
        seen.extend(names(&page.body));
        let rv = page.body["metadata"]["resourceVersion"].clone();
        assert_eq!(
            *first_rv.get_or_insert(rv.clone()),
            rv,
            "every page reports the first page's revision"
        );
        match page.body["metadata"]["continue"].as_str() {
            Some(token) => {
                assert!(
                    page.body["metadata"]["remainingItemCount"]
                        .as_i64()
                        .unwrap()
                        > 0
                );
                uri = format!("/api/v1/nodes?limit=2&continue={token}");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let bad = t.get("/api/v1/nodes?limit=2&continue=not-a-token").await;
    assert_eq!(bad.code, 400);
}

#[tokio::test]
async fn namespaced_lists_stay_in_their_namespace() {
    let t = TestApi::new().await;
    for ns in ["default", "kube-system"] {
        let lease = json!({"metadata": {"name": "l"}, "spec": {}});
        assert_eq!(
            t.post_json(
                &format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
                &lease
            )
            .await
            .code,
            201
        );
    }
    let one = t
        .get("/apis/coordination.k8s.io/v1/namespaces/default/leases")
        .await;
    assert_eq!(one.body["items"].as_array().unwrap().len(), 1);
    let all = t.get("/apis/coordination.k8s.io/v1/leases").await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let by_ns = t
        .get("/apis/coordination.k8s.io/v1/leases?fieldSelector=metadata.namespace%3Dkube-system")
        .await;
    assert_eq!(
        by_ns.body["items"][0]["metadata"]["namespace"],
        "kube-system"
    );
}

#[tokio::test]
async fn tables_when_asked() {
    let t = TestApi::new().await;
    with_nodes(&t).await;
    let reply = t
        .send(
            "GET",
            "/api/v1/nodes?limit=500",
            &[("accept", TABLE_ACCEPT)],
            Bytes::new(),
        )
        .await;
    assert_eq!(reply.code, 200, "{}", reply.body);
    assert_eq!(
        (
            reply.body["kind"].as_str(),
            reply.body["apiVersion"].as_str()
        ),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    let columns: Vec<&str> = reply.body["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Status", "Roles", "Age", "Version"]);
    let rows = reply.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["cells"][0], "a");
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");

    let with_object = t
        .send(
            "GET",
            "/api/v1/nodes/a?includeObject=Object",
            &[("accept", TABLE_ACCEPT)],
            Bytes::new(),
        )
        .await;
    assert_eq!(with_object.body["rows"][0]["object"]["kind"], "Node");
    let without = t
        .send(
            "GET",
            "/api/v1/nodes/a?includeObject=None",
            &[("accept", TABLE_ACCEPT)],
            Bytes::new(),
        )
        .await;
    assert!(without.body["rows"][0].get("object").is_none());

    let beta = t
        .send(
            "GET",
            "/api/v1/nodes",
            &[(
                "accept",
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            )],
            Bytes::new(),
        )
        .await;
    assert_eq!(beta.body["apiVersion"], "meta.k8s.io/v1beta1");

    let csrs = t
        .send(
            "GET",
            rest_common::CSRS,
            &[("accept", TABLE_ACCEPT)],
            Bytes::new(),
        )
        .await;
    let columns: Vec<&str> = csrs.body["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for column in [
        "Name",
        "Age",
        "SignerName",
        "Requestor",
        "RequestedDuration",
        "Condition",
    ] {
        assert!(columns.contains(&column), "{columns:?}");
    }
}

#[tokio::test]
async fn a_name_field_selector_works_across_namespaces() {
    let t = TestApi::new().await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
    assert_eq!(t.post_json(leases, &lease("lock")).await.code, 201);
    let all = "/apis/coordination.k8s.io/v1/leases?fieldSelector=metadata.name%3Dlock";
    let listed = t.get(all).await;
    assert_eq!(listed.code, 200, "{}", listed.body);
    assert_eq!(
        listed.body["items"][0]["metadata"]["namespace"],
        "kube-system"
    );
    let none = t
        .get("/apis/coordination.k8s.io/v1/leases?fieldSelector=metadata.name%3Dother")
        .await;
    assert_eq!(
        (none.code, none.body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

/// Lists answer with the stored texts, unparsed: each item is exactly what a GET of it
/// answers, in a namespaced and a cluster-scoped collection, whole or paged.
#[tokio::test]
async fn list_items_are_the_objects_a_get_answers() {
    let t = TestApi::new().await;
    with_nodes(&t).await;
    for (namespace, name) in [("default", "l1"), ("kube-system", "l2"), ("default", "l0")] {
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases");
        assert_eq!(t.post_json(&path, &lease(name)).await.code, 201);
    }
    for collection in [
        "/api/v1/nodes",
        "/api/v1/nodes?limit=2",
        "/apis/coordination.k8s.io/v1/leases",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    ] {
        let list = t.get(collection).await;
        assert_eq!(list.code, 200, "{collection}: {}", list.body);
        let items = list.body["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{collection}");
        for item in items {
            let meta = &item["metadata"];
            let path = match meta["namespace"].as_str() {
                Some(ns) => format!(
                    "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{}",
                    meta["name"].as_str().unwrap()
                ),
                None => format!("/api/v1/nodes/{}", meta["name"].as_str().unwrap()),
            };
            let one = t.get(&path).await;
            assert_eq!(one.code, 200, "{path}");
            assert_eq!(&one.body, item, "{collection}: {path}");
        }
    }
    let leases = t.get("/apis/coordination.k8s.io/v1/leases").await;
    let places: Vec<(&str, &str)> = leases.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let meta = &i["metadata"];
            (
                meta["namespace"].as_str().unwrap(),
                meta["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [("default", "l0"), ("default", "l1"), ("kube-system", "l2")]
    );
    assert_eq!(leases.body["kind"], "LeaseList");
    assert_eq!(leases.body["apiVersion"], "coordination.k8s.io/v1");
}
