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
    /// Bumped when a bootstrap token's kubelet client request stops holding its token
    /// (denied, failed or deleted), so requests a single-use token held back are looked at
    /// again at once (decision 0026), not after the approver's backoff.
    released: tokio::sync::watch::Sender<u64>,
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
            let released = objects
                .by_name
                .get(&csr.metadata.name)
                .is_some_and(|old| holds_a_token(old) && !holds_a_token(&csr));
            if released {
                self.released.send_modify(|n| *n += 1);
            }
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
        if holds_a_token(&csr) {
            self.released.send_modify(|n| *n += 1);
        }
        let user = &csr.spec.username;
        if let Some(names) = objects.by_requester.get_mut(user) {
            names.remove(name);
            if names.is_empty() {
                objects.by_requester.remove(user);
            }
        }
    }

    /// Changes when a bootstrap token's request stops holding its token.
    pub fn subscribe_released(&self) -> tokio::sync::watch::Receiver<u64> {
        self.released.subscribe()
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

/// A bootstrap token's kubelet client request that could still be the one a single-use
/// token is kept for (neither denied nor failed).
fn holds_a_token(csr: &CertificateSigningRequest) -> bool {
    crate::token_binding::token_id(&csr.spec.username).is_some()
        && csr.spec.signer_name == pki::signer::KUBE_APISERVER_CLIENT_KUBELET
        && !crate::csr::is_denied(csr)
        && !crate::csr::is_failed(csr)
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
    fn a_token_request_denied_or_deleted_releases_its_token() {
        use protocol::certificates::v1::{CONDITION_DENIED, CertificateSigningRequestCondition};
        let cache = CsrCache::default();
        let mut released = cache.subscribe_released();
        let token_request = |name: &str, rv: &str| {
            let mut csr = csr(name, rv, b"");
            csr.spec.username = "system:bootstrap:abcdef".to_string();
            csr.spec.signer_name = pki::signer::KUBE_APISERVER_CLIENT_KUBELET.to_string();
            csr
        };
        cache.upsert(token_request("a", "1"));
        cache.upsert(token_request("a", "2"));
        cache.upsert(csr("other", "3", b""));
        cache.remove("other");
        assert!(!released.has_changed().unwrap(), "nothing released yet");

        let mut denied = token_request("a", "4");
        denied
            .status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: CONDITION_DENIED.to_string(),
                status: "True".to_string(),
                ..Default::default()
            });
        cache.upsert(denied);
        assert!(released.has_changed().unwrap(), "a denial releases");
        released.mark_unchanged();
        cache.remove("a");
        assert!(
            !released.has_changed().unwrap(),
            "a denied request held nothing"
        );

        cache.upsert(token_request("b", "5"));
        cache.remove("b");
        assert!(released.has_changed().unwrap(), "a deletion releases");
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
