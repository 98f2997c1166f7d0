//! The list-then-watch: events in order, field selectors, and an apiserver restart during
//! which objects change (the watcher resumes and delivers every change exactly once).

use std::time::Duration;

use client::{Client, ListParams, WatchEvent, Watcher};
use protocol::coordination::v1::{Lease, LeaseSpec};
use protocol::meta::ObjectMeta;
use store::Key;

use crate::support::{TestPki, TestServer};

const NS: &str = "kube-system";

fn lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta::namespaced(NS, name),
        spec: LeaseSpec {
            holder_identity: Some(holder.into()),
            ..Default::default()
        },
    }
}

/// `(type, name, holder)` of the next event, within 10 s.
async fn next(watcher: &mut Watcher<Lease>) -> (&'static str, String, String) {
    let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
        .await
        .expect("an event in time")
        .expect("watcher alive")
        .expect("no error");
    let kind = match &event {
        WatchEvent::Added(_) => "Added",
        WatchEvent::Modified(_) => "Modified",
        WatchEvent::Deleted(_) => "Deleted",
    };
    let lease = event.into_object();
    (
        kind,
        lease.metadata.name,
        lease.spec.holder_identity.unwrap_or_default(),
    )
}

async fn assert_quiet(watcher: &mut Watcher<Lease>) {
    if let Ok(event) = tokio::time::timeout(Duration::from_millis(1500), watcher.next()).await {
        panic!("unexpected extra event: {event:?}");
    }
}

fn ev(kind: &'static str, name: &str, holder: &str) -> (&'static str, String, String) {
    (kind, name.to_string(), holder.to_string())
}

#[tokio::test]
async fn watch_lists_then_streams_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(TestPki::new(), dir.path()).await;
    let admin = server.client(server.pki.admin());
    admin.create(Some(NS), &lease("before", "a")).await.unwrap();

    let mut watcher = admin.watch::<Lease>(Some(NS), ListParams::default());
    assert_eq!(next(&mut watcher).await, ev("Added", "before", "a"));

    let created = admin.create(Some(NS), &lease("after", "b")).await.unwrap();
    assert_eq!(next(&mut watcher).await, ev("Added", "after", "b"));
    let mut changed = created.clone();
    changed.spec.holder_identity = Some("c".into());
    admin.update(Some(NS), &changed).await.unwrap();
    assert_eq!(next(&mut watcher).await, ev("Modified", "after", "c"));
    admin.delete::<Lease>(Some(NS), "before").await.unwrap();
    assert_eq!(next(&mut watcher).await, ev("Deleted", "before", "a"));
    assert_quiet(&mut watcher).await;

    // A field selector narrows list and watch alike.
    let mut only = admin.watch::<Lease>(
        Some(NS),
        ListParams::default().fields("metadata.name=after"),
    );
    assert_eq!(next(&mut only).await, ev("Added", "after", "c"));
    admin.create(Some(NS), &lease("other", "x")).await.unwrap();
    assert_quiet(&mut only).await;
    server.stop().await;
}

#[tokio::test]
async fn watch_survives_an_apiserver_restart_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let server = TestServer::start(pki.clone(), dir.path()).await;
    let (addr, data_dir) = (server.addr, server.data_dir.clone());
    let admin: Client = server.client(pki.admin());
    admin.create(Some(NS), &lease("kept", "a")).await.unwrap();
    admin
        .create(Some(NS), &lease("changed", "a"))
        .await
        .unwrap();
    admin
        .create(Some(NS), &lease("removed", "a"))
        .await
        .unwrap();

    let mut watcher = admin.watch::<Lease>(Some(NS), ListParams::default());
    let mut initial = vec![
        next(&mut watcher).await,
        next(&mut watcher).await,
        next(&mut watcher).await,
    ];
    initial.sort();
    assert_eq!(
        initial,
        vec![
            ev("Added", "changed", "a"),
            ev("Added", "kept", "a"),
            ev("Added", "removed", "a")
        ]
    );

    // Down: change the data behind the server's back, as another apiserver would.
    server.stop().await;
    {
        let store = store::Store::open(&data_dir).expect("open store while down");
        let changed_key = Key::new("coordination.k8s.io/leases", NS, "changed");
        let stored = store.get(&changed_key).await.expect("changed");
        let mut value = (*stored.object).clone();
        value["spec"]["holderIdentity"] = "b".into();
        store
            .update(&changed_key, value, Some(stored.rv))
            .await
            .expect("update while down");
        store
            .delete(&Key::new("coordination.k8s.io/leases", NS, "removed"), None)
            .await
            .expect("delete while down");
        store.close().await.expect("close");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Up again on the same port and data: write more before the watcher is back.
    let server = TestServer::start_at(pki.clone(), data_dir, addr).await;
    admin.create(Some(NS), &lease("new", "n")).await.unwrap();

    let mut seen = vec![
        next(&mut watcher).await,
        next(&mut watcher).await,
        next(&mut watcher).await,
    ];
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ev("Added", "new", "n"),
            ev("Deleted", "removed", "a"),
            ev("Modified", "changed", "b"),
        ]
    );
    assert_quiet(&mut watcher).await;

    // And it keeps streaming afterwards.
    admin.delete::<Lease>(Some(NS), "kept").await.unwrap();
    assert_eq!(next(&mut watcher).await, ev("Deleted", "kept", "a"));
    server.stop().await;
}
