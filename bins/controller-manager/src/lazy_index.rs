//! One resource's objects by name, each reduced to what a controller reads, listed on first use
//! and then kept current by a watch. A controller that never needs the index never lists (a
//! 10,000-node bootstrap storm pays nothing for an index it does not use).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use client::{Client, ClientError, ListParams, WatchEvent};

use crate::informer::Follow;
use protocol::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::{OnceCell, watch};
use tokio::task::JoinHandle;

/// Reduces an object to its name and the value kept for it.
type Project<T, V> = fn(T) -> (String, V);

/// Objects of `T` by name, as `V`s.
pub struct LazyIndex<T, V> {
    client: Client,
    project: Project<T, V>,
    entries: Arc<RwLock<HashMap<String, V>>>,
    watch: OnceCell<JoinHandle<()>>,
    /// Counts the watch's changes to the entries (an object whose kept value did not change
    /// does not count), so a controller can look again at what waited on them.
    changes: watch::Sender<u64>,
}

impl<T, V> LazyIndex<T, V>
where
    T: Resource + DeserializeOwned + Clone + Send + Sync + 'static,
    V: PartialEq + Send + Sync + 'static,
{
    pub fn new(client: Client, project: Project<T, V>) -> Self {
        LazyIndex {
            client,
            project,
            entries: Arc::default(),
            watch: OnceCell::new(),
            changes: watch::Sender::new(0),
        }
    }

    /// Wakes on each change the watch brings once the index is in use.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// `read` over the current entries. The first call lists them (an error there is
    /// returned and the next call lists again).
    pub async fn read<R>(
        &self,
        read: impl FnOnce(&HashMap<String, V>) -> R,
    ) -> Result<R, ClientError> {
        self.watch.get_or_try_init(|| self.start()).await?;
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        Ok(read(&entries))
    }

    /// Lists the objects, then hands their changes to a watch task. The watch lists once more
    /// itself; its Added events for objects already known only replace them.
    async fn start(&self) -> Result<JoinHandle<()>, ClientError> {
        let list = self
            .client
            .list_all::<T>(None, &ListParams::default())
            .await?;
        let project = self.project;
        {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            entries.extend(list.items.into_iter().map(project));
        }
        let client = self.client.clone();
        let entries = Arc::clone(&self.entries);
        let changes = self.changes.clone();
        Ok(tokio::spawn(async move {
            let mut events = Follow::<T>::new(client, None, ListParams::default());
            loop {
                let event = events.next().await;
                let changed = {
                    let mut entries = entries.write().unwrap_or_else(|e| e.into_inner());
                    match event {
                        WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                            let (name, value) = project(object);
                            let changed = entries.get(&name) != Some(&value);
                            if changed {
                                entries.insert(name, value);
                            }
                            changed
                        }
                        WatchEvent::Deleted(object) => entries.remove(&project(object).0).is_some(),
                    }
                };
                if changed {
                    changes.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
        }))
    }
}

impl<T, V> Drop for LazyIndex<T, V> {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.get() {
            watch.abort();
        }
    }
}
