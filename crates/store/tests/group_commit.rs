//! Group commit: many concurrent writers are all acknowledged, checked in order, and durable.

use std::collections::BTreeSet;

use serde_json::json;
use store::{Key, Store, StoreError};

const CSRS: &str = "certificates.k8s.io/certificatesigningrequests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_writes_from_two_hundred_tasks_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rvs = Vec::new();
                for i in 0..10 {
                    let name = format!("csr-{t}-{i}");
                    let key = Key::new(CSRS, "", &name);
                    let created = store
                        .create(&key, json!({"metadata": {"name": name}}))
                        .await
                        .unwrap();
                    // Each object is then updated against the revision just returned.
                    let updated = store
                        .update(
                            &key,
                            json!({"metadata": {"name": name}, "spec": {}}),
                            Some(created.rv),
                        )
                        .await
                        .unwrap();
                    assert!(updated.rv > created.rv);
                    rvs.extend([created.rv, updated.rv]);
                }
                rvs
            })
        })
        .collect();
    let mut all_rvs = BTreeSet::new();
    for task in tasks {
        for rv in task.await.unwrap() {
            assert!(all_rvs.insert(rv), "revision {rv} handed out twice");
        }
    }
    assert_eq!(all_rvs, (1..=4_000).collect());
    store.close().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 4_000);
    let (items, rv) = store.list(CSRS, None).await.unwrap();
    assert_eq!(rv, 4_000);
    assert_eq!(items.len(), 2_000);
    assert!(items.iter().all(|s| s.object.get("spec").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_one_batch_are_checked_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = Key::new(CSRS, "", "contended");
    let base = store
        .create(&key, json!({"metadata": {"name": "contended"}}))
        .await
        .unwrap();

    // Many updates against the same revision: exactly one wins, the rest conflict.
    let updates: Vec<_> = (0..100)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                store
                    .update(&key, json!({"metadata": {}, "winner": i}), Some(base.rv))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for update in updates {
        match update.await.unwrap() {
            Ok(_) => winners += 1,
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!(expected, base.rv);
                assert!(actual > base.rv);
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);

    // Many creates of one new key: exactly one wins.
    let fresh = Key::new(CSRS, "", "fresh");
    let creates: Vec<_> = (0..100)
        .map(|_| {
            let (store, key) = (store.clone(), fresh.clone());
            tokio::spawn(async move { store.create(&key, json!({"metadata": {}})).await })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        match create.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.current_revision().await.unwrap(), 3);
}
