//! Create, get, update, delete and list semantics, errors, and persistence across reopen.

use serde_json::{Value, json};
use store::{Key, Store, StoreError};

const CSRS: &str = "certificates.k8s.io/certificatesigningrequests";

fn csr(name: &str) -> Value {
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
           "metadata": {"name": name}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet"}})
}

fn rv_field(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap()
}

#[tokio::test]
async fn create_get_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = Key::new(CSRS, "", "csr-a");

    let created = store.create(&key, csr("csr-a")).await.unwrap();
    assert_eq!(created.rv, 1);
    assert_eq!(rv_field(&created.object), "1");
    let got = store.get(&key).await.unwrap();
    assert_eq!(got.rv, 1);
    assert_eq!(got.object, created.object);

    match store.create(&key, csr("csr-a")).await {
        Err(StoreError::AlreadyExists(k)) => assert_eq!(k, key),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    let mut changed = csr("csr-a");
    changed["status"] = json!({"conditions": [{"type": "Approved"}]});
    let updated = store.update(&key, changed.clone(), Some(1)).await.unwrap();
    assert_eq!(updated.rv, 2);
    assert_eq!(rv_field(&updated.object), "2");
    assert_eq!(
        updated.object["status"]["conditions"][0]["type"],
        "Approved"
    );

    match store.update(&key, changed.clone(), Some(1)).await {
        Err(StoreError::Conflict { expected, actual }) => assert_eq!((expected, actual), (1, 2)),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Without a precondition the update always applies.
    assert_eq!(store.update(&key, changed, None).await.unwrap().rv, 3);

    match store.delete(&key, Some(2)).await {
        Err(StoreError::Conflict { expected, actual }) => assert_eq!((expected, actual), (2, 3)),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let deleted = store.delete(&key, Some(3)).await.unwrap();
    assert_eq!(deleted.rv, 4, "a delete gets its own revision");
    assert_eq!(rv_field(&deleted.object), "4");
    assert_eq!(
        deleted.object["status"]["conditions"][0]["type"],
        "Approved"
    );
    assert_eq!(store.current_revision().await.unwrap(), 4);
    // Every answer carries its object's stored text too (the apiserver answers with it).
    for stored in [&created, &got, &updated, &deleted] {
        assert_eq!(*stored.json, *serde_json::to_vec(&*stored.object).unwrap());
    }

    assert!(matches!(
        store.get(&key).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.update(&key, csr("csr-a"), None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete(&key, None).await,
        Err(StoreError::NotFound(_))
    ));
    // Failed writes do not use up revisions.
    assert_eq!(store.current_revision().await.unwrap(), 4);
}

#[tokio::test]
async fn rejects_bad_keys_and_non_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bad = Key::new(CSRS, "", "");
    assert!(matches!(
        store.create(&bad, csr("x")).await,
        Err(StoreError::InvalidKey(_))
    ));
    let nul = Key::new(CSRS, "", "a\0b");
    assert!(matches!(
        store.create(&nul, csr("x")).await,
        Err(StoreError::InvalidKey(_))
    ));
    let key = Key::new(CSRS, "", "x");
    assert!(matches!(
        store.create(&key, json!(["not", "an", "object"])).await,
        Err(StoreError::InvalidObject(_))
    ));
    assert!(matches!(
        store.create(&key, json!({"metadata": "text"})).await,
        Err(StoreError::InvalidObject(_))
    ));
    assert_eq!(store.current_revision().await.unwrap(), 0);
    // An object without metadata gets one holding the resource version.
    let stored = store.create(&key, json!({"kind": "X"})).await.unwrap();
    assert_eq!(rv_field(&stored.object), "1");
}

#[tokio::test]
async fn list_is_sorted_filtered_and_reports_its_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (namespace, name) in [("b", "s2"), ("a", "s9"), ("b", "s1"), ("a", "s3")] {
        let key = Key::new("core/secrets", namespace, name);
        store
            .create(&key, json!({"metadata": {"name": name}}))
            .await
            .unwrap();
    }
    store
        .create(&Key::new(CSRS, "", "other"), csr("other"))
        .await
        .unwrap();

    let names = |items: &[store::Stored]| -> Vec<String> {
        items
            .iter()
            .map(|s| s.object["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (all, rv) = store.list("core/secrets", None).await.unwrap();
    assert_eq!(names(&all), ["s3", "s9", "s1", "s2"]);
    assert_eq!(rv, 5);
    let (in_b, rv) = store.list("core/secrets", Some("b")).await.unwrap();
    assert_eq!(names(&in_b), ["s1", "s2"]);
    assert_eq!(rv, 5);
    let (none, _) = store.list("core/secrets", Some("c")).await.unwrap();
    assert!(none.is_empty());
    let (none, _) = store.list("core/nodes", None).await.unwrap();
    assert!(none.is_empty());

    // The same snapshot as JSON text: same order, same objects (resourceVersion included).
    let (texts, rv) = store.list_json("core/secrets", Some("b")).await.unwrap();
    assert_eq!(rv, 5);
    let parsed: Vec<serde_json::Value> = texts
        .iter()
        .map(|t| serde_json::from_slice(&t.json).unwrap())
        .collect();
    let listed: Vec<serde_json::Value> = in_b.iter().map(|s| (*s.object).clone()).collect();
    assert_eq!(parsed, listed);
    assert_eq!(parsed[0]["metadata"]["resourceVersion"], "3");
    let places: Vec<(&str, &str, u64)> = texts
        .iter()
        .map(|t| (t.namespace.as_str(), t.name.as_str(), t.rv))
        .collect();
    assert_eq!(places, [("b", "s1", 3), ("b", "s2", 1)]);
    // The text is what writing the parsed object gives (the apiserver answers with it as is).
    for (text, object) in texts.iter().zip(&listed) {
        assert_eq!(*text.json, *serde_json::to_vec(object).unwrap());
    }
    let (none, _) = store.list_json("core/nodes", None).await.unwrap();
    assert!(none.is_empty());

    let one = store
        .get_json(&Key::new("core/secrets", "b", "s2"))
        .await
        .unwrap();
    assert_eq!(
        (one.namespace.as_str(), one.name.as_str(), one.rv),
        ("b", "s2", 1)
    );
    assert_eq!(*one.json, *texts[1].json);
    assert!(matches!(
        store.get_json(&Key::new("core/secrets", "b", "nope")).await,
        Err(store::StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn revision_and_objects_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let keep = Key::new(CSRS, "", "keep");
    let gone = Key::new(CSRS, "", "gone");
    {
        let store = Store::open(dir.path()).unwrap();
        store.create(&keep, csr("keep")).await.unwrap();
        store.create(&gone, csr("gone")).await.unwrap();
        store.update(&keep, csr("keep"), Some(1)).await.unwrap();
        // The newest change is a delete: its revision must survive too.
        assert_eq!(store.delete(&gone, None).await.unwrap().rv, 4);
        store.close().await.unwrap();
        assert!(matches!(
            store.create(&gone, csr("gone")).await,
            Err(StoreError::Closed)
        ));
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 4);
    let kept = store.get(&keep).await.unwrap();
    assert_eq!(kept.rv, 3);
    assert_eq!(rv_field(&kept.object), "3");
    assert!(matches!(
        store.get(&gone).await,
        Err(StoreError::NotFound(_))
    ));
    // New writes continue above the old revision.
    assert_eq!(store.create(&gone, csr("gone")).await.unwrap().rv, 5);
    assert!(matches!(
        store.update(&keep, csr("keep"), Some(1)).await,
        Err(StoreError::Conflict {
            expected: 1,
            actual: 3
        })
    ));
}

#[tokio::test]
async fn two_opens_of_one_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Backend(_))
    ));
}

#[test]
fn handles_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn sendable<T: Send + 'static>() {}
    shareable::<Store>();
    sendable::<store::Watch>();
    sendable::<StoreError>();
}
