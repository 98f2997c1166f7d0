//! `--event-ttl`: an event is dropped once it has not been written for this long (default 1 h),
//! as kube-apiserver gives every event write an etcd lease of that length. Events pile up
//! otherwise: one per stuck CSR from the controller-manager, and whatever clients record.
//! A sweep runs every minute (more often for short TTLs); deleting through the store sends
//! the usual DELETED watch events.

use std::time::{Duration, SystemTime};

use protocol::meta::{MicroTime, Time};
use serde::Deserialize;
use store::{Key, Store, StoreError};

/// The store's name for core/v1 events.
pub const EVENTS: &str = "core/events";
/// Upstream's default `--event-ttl`.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The times an event carries; the latest is when it was last written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct EventTimes {
    metadata: MetaTimes,
    last_timestamp: Option<Time>,
    first_timestamp: Option<Time>,
    event_time: Option<MicroTime>,
    series: Option<SeriesTimes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MetaTimes {
    creation_timestamp: Option<Time>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SeriesTimes {
    last_observed_time: Option<MicroTime>,
}

/// When the event was last written, as far as its own fields tell.
fn last_written(json: &[u8]) -> Option<SystemTime> {
    let times: EventTimes = serde_json::from_slice(json).ok()?;
    [
        times
            .metadata
            .creation_timestamp
            .map(|t| t.to_system_time()),
        times.first_timestamp.map(|t| t.to_system_time()),
        times.last_timestamp.map(|t| t.to_system_time()),
        times.event_time.map(|t| t.to_system_time()),
        times
            .series
            .and_then(|s| s.last_observed_time)
            .map(|t| t.to_system_time()),
    ]
    .into_iter()
    .flatten()
    .max()
}

/// Deletes every event last written more than `ttl` before `now`; returns how many went. An
/// event written again meanwhile (its revision moved) is kept for the next sweep to judge.
pub async fn sweep_once(
    store: &Store,
    ttl: Duration,
    now: SystemTime,
) -> Result<usize, StoreError> {
    let (events, _) = store.list_json(EVENTS, None).await?;
    let mut deleted = 0;
    for event in &events {
        let expired = last_written(&event.json).is_some_and(|at| at + ttl < now);
        if !expired {
            continue;
        }
        let key = Key::new(EVENTS, &event.namespace, &event.name);
        match store.delete(&key, Some(event.rv)).await {
            Ok(_) => deleted += 1,
            Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// Sweeps until the task is dropped.
pub async fn run(store: Store, ttl: Duration) {
    let interval = (ttl / 2).clamp(Duration::from_secs(1), MAX_SWEEP_INTERVAL);
    loop {
        tokio::time::sleep(interval).await;
        match sweep_once(&store, ttl, SystemTime::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired events deleted"),
            Err(error) => tracing::warn!(%error, "expiring events failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn event(store: &Store, name: &str, last: &str) {
        let object = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "involvedObject": {"kind": "CertificateSigningRequest", "name": "x"},
            "lastTimestamp": last,
        });
        store
            .create(&Key::new(EVENTS, "default", name), object)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn events_older_than_the_ttl_go_and_the_rest_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        event(&store, "old", "2026-01-01T00:10:00Z").await;
        event(&store, "recent", "2026-01-01T01:30:00Z").await;
        let now = Time::parse("2026-01-01T02:00:00Z")
            .unwrap()
            .to_system_time();
        assert_eq!(sweep_once(&store, DEFAULT_EVENT_TTL, now).await.unwrap(), 1);
        let (left, _) = store.list_json(EVENTS, None).await.unwrap();
        let names: Vec<_> = left.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["recent"]);
        // The latest of its times counts: a series observed later keeps an old event.
        assert_eq!(
            last_written(
                br#"{"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"},"series":{"lastObservedTime":"2026-01-01T03:00:00.000000Z"}}"#
            ),
            Some(Time::parse("2026-01-01T03:00:00Z").unwrap().to_system_time())
        );
        assert_eq!(last_written(b"{}"), None, "no time: never judged");
        store.close().await.unwrap();
    }
}
