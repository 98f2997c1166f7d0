//! Watch semantics: order, resume, Gone, filtering, list-then-watch without gaps, slow watchers.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use store::{EmbeddedOptions, Event, EventKind, Key, Store, StoreError, Watch};

const CSRS: &str = "certificates.k8s.io/certificatesigningrequests";

fn obj(name: &str) -> Value {
    json!({"metadata": {"name": name}})
}

async fn next(watch: &mut Watch) -> Event {
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("watch event within 10 s")
        .expect("watch still open")
        .expect("watch event, not an error")
}

fn name(event: &Event) -> String {
    let object = event.parse().expect("the event's text is an object");
    object["metadata"]["name"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn events_arrive_in_order_and_resume_after_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut live = store.watch(CSRS, None, 0).await.unwrap();
    let key = Key::new(CSRS, "", "a");
    store.create(&key, obj("a")).await.unwrap();
    store.update(&key, obj("a"), Some(1)).await.unwrap();
    store.delete(&key, Some(2)).await.unwrap();

    let kinds = [EventKind::Added, EventKind::Modified, EventKind::Deleted];
    for (rv, kind) in (1..).zip(kinds) {
        let event = next(&mut live).await;
        assert_eq!((event.rv, event.kind), (rv, kind));
        let object = event.parse().unwrap();
        assert_eq!(
            object["metadata"]["resourceVersion"],
            rv.to_string(),
            "the object carries the event's revision, even when deleted"
        );
        // The text is what writing the parsed object gives (the apiserver sends it as is).
        assert_eq!(*event.json, *serde_json::to_vec(&object).unwrap());
    }

    // Resuming from history: strictly after the given revision.
    let mut resumed = store.watch(CSRS, None, 1).await.unwrap();
    assert_eq!(next(&mut resumed).await.rv, 2);
    assert_eq!(next(&mut resumed).await.rv, 3);
    // ... and then live.
    store.create(&key, obj("a")).await.unwrap();
    let event = next(&mut resumed).await;
    assert_eq!((event.rv, event.kind), (4, EventKind::Added));
}

#[tokio::test]
async fn filters_by_resource_and_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut ns_a = store.watch("core/secrets", Some("a"), 0).await.unwrap();
    let mut all = store.watch("core/secrets", None, 0).await.unwrap();
    store
        .create(&Key::new("core/secrets", "b", "s1"), obj("s1"))
        .await
        .unwrap();
    store
        .create(&Key::new(CSRS, "", "c1"), obj("c1"))
        .await
        .unwrap();
    store
        .create(&Key::new("core/secrets", "a", "s2"), obj("s2"))
        .await
        .unwrap();

    let event = next(&mut ns_a).await;
    assert_eq!((name(&event).as_str(), event.rv), ("s2", 3));
    assert_eq!(name(&next(&mut all).await), "s1");
    assert_eq!(name(&next(&mut all).await), "s2");
    // The same filters apply to replayed history.
    store
        .create(&Key::new("core/secrets", "b", "s3"), obj("s3"))
        .await
        .unwrap();
    let mut replayed = store.watch("core/secrets", Some("b"), 1).await.unwrap();
    let event = next(&mut replayed).await;
    assert_eq!((name(&event).as_str(), event.rv), ("s3", 4));
    store
        .create(&Key::new("core/secrets", "a", "s5"), obj("s5"))
        .await
        .unwrap();
    store
        .create(&Key::new("core/secrets", "b", "s6"), obj("s6"))
        .await
        .unwrap();
    let event = next(&mut replayed).await;
    assert_eq!((name(&event).as_str(), event.rv), ("s6", 6));
}

#[tokio::test]
async fn too_old_revisions_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history_capacity: 5,
        ..EmbeddedOptions::default()
    };
    let store = Store::open_with(dir.path(), options.clone()).unwrap();
    for i in 0..20 {
        store
            .create(&Key::new(CSRS, "", format!("c{i}")), obj("c"))
            .await
            .unwrap();
    }
    // Revisions 16..=20 are retained, so watching after 15 is the oldest allowed.
    match store.watch(CSRS, None, 3).await {
        Err(
            error @ StoreError::Gone {
                requested: 3,
                oldest: 15,
            },
        ) => {
            assert!(error.is_gone());
            assert_eq!(error.to_string(), "too old resource version: 3 (15)");
        }
        other => panic!("expected Gone, got {other:?}"),
    }
    let mut oldest = store.watch(CSRS, None, 15).await.unwrap();
    assert_eq!(next(&mut oldest).await.rv, 16);
    store.close().await.unwrap();

    // After a restart nothing older than the current revision can be replayed.
    let store = Store::open_with(dir.path(), options).unwrap();
    assert!(matches!(
        store.watch(CSRS, None, 19).await,
        Err(StoreError::Gone {
            requested: 19,
            oldest: 20
        })
    ));
    let mut current = store.watch(CSRS, None, 20).await.unwrap();
    store
        .create(&Key::new(CSRS, "", "new"), obj("new"))
        .await
        .unwrap();
    assert_eq!(next(&mut current).await.rv, 21);
}

#[tokio::test]
async fn list_then_watch_misses_nothing_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 60;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let name = format!("w{w}-{i}");
                store
                    .create(&Key::new(CSRS, "", &name), obj(&name))
                    .await
                    .unwrap();
            }
        }));
    }
    // List while the writers are busy, then watch from the list's revision.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (items, list_rv) = store.list(CSRS, None).await.unwrap();
    let mut watch = store.watch(CSRS, None, list_rv).await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let total = (WRITERS * PER_WRITER) as u64;
    assert_eq!(store.current_revision().await.unwrap(), total);

    let mut seen: BTreeSet<String> = items
        .iter()
        .map(|s| {
            assert!(s.rv <= list_rv);
            s.object["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        seen.len() as u64,
        list_rv,
        "the list is the snapshot at its revision"
    );
    let mut last = list_rv;
    while last < total {
        let event = next(&mut watch).await;
        assert_eq!(event.rv, last + 1, "no gap and no duplicate");
        assert!(seen.insert(name(&event)));
        last = event.rv;
    }
    assert_eq!(seen.len() as u64, total);
}

#[tokio::test]
async fn a_slow_watcher_expires_without_holding_writers_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        watch_buffer: 4,
        ..EmbeddedOptions::default()
    };
    let store = Store::open_with(dir.path(), options).unwrap();
    let mut slow = store.watch(CSRS, None, 0).await.unwrap();
    for i in 0..20 {
        store
            .create(&Key::new(CSRS, "", format!("c{i}")), obj("c"))
            .await
            .unwrap();
    }
    match tokio::time::timeout(Duration::from_secs(10), slow.next())
        .await
        .unwrap()
    {
        Some(Err(error @ StoreError::Expired { last_rv: 0 })) => assert!(error.is_gone()),
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(
        slow.next().await.is_none(),
        "the stream ends after the error"
    );
    // It can resume from history where it left off.
    let mut resumed = store.watch(CSRS, None, 18).await.unwrap();
    assert_eq!(next(&mut resumed).await.rv, 19);
}

#[tokio::test]
async fn many_watchers_all_receive_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut watchers = Vec::new();
    for _ in 0..2_000 {
        watchers.push(store.watch(CSRS, None, 0).await.unwrap());
    }
    let readers: Vec<_> = watchers
        .into_iter()
        .map(|mut watch| {
            tokio::spawn(async move {
                let mut rvs = Vec::new();
                for _ in 0..10 {
                    rvs.push(next(&mut watch).await.rv);
                }
                rvs
            })
        })
        .collect();
    for i in 0..10 {
        store
            .create(&Key::new(CSRS, "", format!("c{i}")), obj("c"))
            .await
            .unwrap();
    }
    for reader in readers {
        assert_eq!(reader.await.unwrap(), (1..=10).collect::<Vec<u64>>());
    }
}

#[tokio::test]
async fn a_named_watch_sees_only_its_object_from_history_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (a, b) = (Key::new(CSRS, "", "a"), Key::new(CSRS, "", "b"));
    store.create(&a, obj("a")).await.unwrap(); // rv 1
    store.create(&b, obj("b")).await.unwrap(); // rv 2
    store.update(&a, obj("a"), Some(1)).await.unwrap(); // rv 3

    // From history: only a's events after rv 1.
    let mut from_history = store.watch_name(CSRS, None, "a", 1).await.unwrap();
    let event = next(&mut from_history).await;
    assert_eq!(
        (name(&event).as_str(), event.rv, event.kind),
        ("a", 3, EventKind::Modified)
    );

    // Live, with watchers of other names and of the whole resource beside it.
    let mut live_a = store.watch_name(CSRS, None, "a", 0).await.unwrap();
    let mut live_b = store.watch_name(CSRS, None, "b", 0).await.unwrap();
    let mut all = store.watch(CSRS, None, 0).await.unwrap();
    store.update(&b, obj("b"), Some(2)).await.unwrap(); // rv 4
    store.delete(&a, Some(3)).await.unwrap(); // rv 5
    let event = next(&mut live_a).await;
    assert_eq!((event.rv, event.kind), (5, EventKind::Deleted));
    assert_eq!(next(&mut from_history).await.rv, 5);
    assert_eq!(next(&mut live_b).await.rv, 4);
    assert_eq!(next(&mut all).await.rv, 4);
    assert_eq!(next(&mut all).await.rv, 5);
    // Nothing else is pending for a's watchers.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), live_a.next())
            .await
            .is_err()
    );

    // Another namespace's object of the same name is not ours.
    const LEASES: &str = "coordination.k8s.io/leases";
    let mut in_ns = store
        .watch_name(LEASES, Some("kube-node-lease"), "n1", 0)
        .await
        .unwrap();
    store
        .create(&Key::new(LEASES, "default", "n1"), obj("n1"))
        .await
        .unwrap();
    store
        .create(&Key::new(LEASES, "kube-node-lease", "n1"), obj("n1"))
        .await
        .unwrap();
    // rv 6 was the other namespace's object.
    assert_eq!(next(&mut in_ns).await.rv, 7);
}

#[tokio::test]
async fn thousands_of_short_named_watches_each_get_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // More than the sweep threshold, most dropped before their object is written, so the
    // channels of gone watchers are swept and the live ones still deliver.
    let mut kept = Vec::new();
    for i in 0..3000 {
        let watch = store
            .watch_name(CSRS, None, &format!("csr-{i}"), 0)
            .await
            .unwrap();
        if i % 100 == 0 {
            kept.push((i, watch));
        }
    }
    for (i, _) in &kept {
        let key = Key::new(CSRS, "", format!("csr-{i}"));
        store.create(&key, obj(&format!("csr-{i}"))).await.unwrap();
    }
    for (i, watch) in &mut kept {
        let event = next(watch).await;
        assert_eq!(name(&event), format!("csr-{i}"));
    }
}
