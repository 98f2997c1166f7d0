//! One watch on CertificateSigningRequests feeding a local cache and the controllers' queues
//! (upstream's shared informer): every add, change and delete queues the CSR's name; workers
//! read the newest copy from the cache when they get to it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use client::{Client, ListParams, WatchEvent, Watcher};
use protocol::Resource;
use protocol::certificates::v1::CertificateSigningRequest;
use serde::de::DeserializeOwned;

use crate::csr::is_newer_or_same;
use crate::queue::WorkQueue;

/// The newest copy of every CSR we have seen.
#[derive(Debug, Default)]
pub struct CsrCache {
    inner: RwLock<Objects>,
}

#[derive(Debug, Default)]
struct Objects {
    by_name: HashMap<String, Arc<CertificateSigningRequest>>,
    /// `spec.username` -> CSR names (the username never changes after create), so tokencleaner
    /// finds a token's requests without scanning every CSR.
    by_requester: HashMap<String, BTreeSet<String>>,
}

impl CsrCache {
    pub fn get(&self, name: &str) -> Option<Arc<CertificateSigningRequest>> {
        self.read().by_name.get(name).cloned()
    }

    /// Stores `csr` unless the cache already holds a newer copy (a PUT's answer can arrive
    /// before the watch event of an older write).
    pub fn upsert(&self, csr: CertificateSigningRequest) {
        let mut objects = self.write();
        let newer = objects
            .by_name
            .get(&csr.metadata.name)
            .is_none_or(|current| {
                is_newer_or_same(
                    &csr.metadata.resource_version,
                    &current.metadata.resource_version,
                )
            });
        if newer {
            objects
                .by_requester
                .entry(csr.spec.username.clone())
                .or_default()
                .insert(csr.metadata.name.clone());
            objects
                .by_name
                .insert(csr.metadata.name.clone(), Arc::new(csr));
        }
    }

    pub fn remove(&self, name: &str) {
        let mut objects = self.write();
        let Some(csr) = objects.by_name.remove(name) else {
            return;
        };
        let user = &csr.spec.username;
        if let Some(names) = objects.by_requester.get_mut(user) {
            names.remove(name);
            if names.is_empty() {
                objects.by_requester.remove(user);
            }
        }
    }

    /// The CSRs `user` made, by name.
    pub fn requested_by(&self, user: &str) -> Vec<Arc<CertificateSigningRequest>> {
        let objects = self.read();
        objects
            .by_requester
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|name| objects.by_name.get(name).cloned())
            .collect()
    }

    /// Calls `f` on every CSR, under the read lock (keep `f` short).
    pub fn for_each(&self, mut f: impl FnMut(&CertificateSigningRequest)) {
        for csr in self.read().by_name.values() {
            f(csr);
        }
    }

    pub fn len(&self) -> usize {
        self.read().by_name.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A queue fed by the watch, with the key each CSR is queued under (none: not queued).
pub struct Sink {
    pub queue: Arc<WorkQueue>,
    pub key: fn(&CertificateSigningRequest) -> Option<String>,
}

impl Sink {
    /// The CSR controllers' queues: keyed by the CSR's name.
    pub fn by_name(queue: Arc<WorkQueue>) -> Sink {
        Sink {
            queue,
            key: |csr| Some(csr.metadata.name.clone()),
        }
    }
}

/// Feeds the cache and the sinks until the task is dropped.
pub async fn run(client: Client, cache: Arc<CsrCache>, sinks: Vec<Sink>) {
    let mut events = Follow::<CertificateSigningRequest>::new(client, None, ListParams::default());
    loop {
        let event = events.next().await;
        let keys: Vec<Option<String>> = sinks
            .iter()
            .map(|sink| (sink.key)(event.object()))
            .collect();
        let name = event.object().metadata.name.clone();
        match event {
            WatchEvent::Added(csr) | WatchEvent::Modified(csr) => cache.upsert(csr),
            WatchEvent::Deleted(_) => cache.remove(&name),
        }
        for (sink, key) in sinks.iter().zip(keys) {
            if let Some(key) = key {
                sink.queue.add(&key).await;
            }
        }
    }
}

/// A watch of `T` that never ends: the watcher re-lists and resumes by itself, and one that
/// ends (only when its task died) is replaced after a second.
pub struct Follow<T> {
    client: Client,
    namespace: Option<String>,
    params: ListParams,
    watcher: Option<Watcher<T>>,
}

impl<T> Follow<T>
where
    T: Resource + DeserializeOwned + Clone + Send + Sync + 'static,
{
    pub fn new(client: Client, namespace: Option<&str>, params: ListParams) -> Follow<T> {
        Follow {
            client,
            namespace: namespace.map(str::to_string),
            params,
            watcher: None,
        }
    }

    pub async fn next(&mut self) -> WatchEvent<T> {
        let kind = <T as Resource>::KIND;
        loop {
            let watcher = match &mut self.watcher {
                Some(watcher) => watcher,
                slot @ None => slot.insert(
                    self.client
                        .watch::<T>(self.namespace.as_deref(), self.params.clone()),
                ),
            };
            match watcher.next().await {
                Some(Ok(event)) => return event,
                Some(Err(error)) => tracing::warn!(kind, %error, "watch interrupted; resuming"),
                None => {
                    tracing::warn!(kind, "watch ended; starting a new one");
                    self.watcher = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(name: &str, rv: &str, certificate: &[u8]) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.to_string();
        csr.spec.username = format!("user-of-{}", &name[..1]);
        csr.metadata.resource_version = rv.to_string();
        csr.status.certificate = certificate.to_vec();
        csr
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let cache = CsrCache::default();
        cache.upsert(csr("a", "5", b""));
        cache.upsert(csr("a", "7", b"cert"));
        cache.upsert(csr("a", "6", b""));
        assert_eq!(cache.get("a").unwrap().status.certificate, b"cert");
        assert_eq!(cache.len(), 1);
        cache.remove("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn requests_are_found_by_their_requester_until_removed() {
        let cache = CsrCache::default();
        cache.upsert(csr("a1", "1", b""));
        cache.upsert(csr("a2", "2", b""));
        cache.upsert(csr("b1", "3", b""));
        cache.upsert(csr("a1", "4", b"cert"));
        let names = |user: &str| -> Vec<String> {
            cache
                .requested_by(user)
                .iter()
                .map(|c| c.metadata.name.clone())
                .collect()
        };
        assert_eq!(names("user-of-a"), ["a1", "a2"]);
        assert_eq!(
            cache.requested_by("user-of-a")[0].status.certificate,
            b"cert"
        );
        cache.remove("a1");
        cache.remove("a2");
        cache.remove("a2");
        assert!(names("user-of-a").is_empty());
        assert_eq!(names("user-of-b"), ["b1"]);
        assert!(!cache.read().by_requester.contains_key("user-of-a"));
    }
}
