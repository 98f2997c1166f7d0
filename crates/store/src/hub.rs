//! Watch fan-out for the embedded backend: a bounded history of recent events (for resuming
//! from a resource version) and one broadcast channel per resource (for live events).
//!
//! Subscribing and publishing take the same lock, so a new watcher sees every event exactly
//! once: those already published come from the history, later ones from its channel. A slow
//! watcher lags behind its bounded channel and is closed, so writers never wait for watchers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::StoreError;
use crate::cache::Entry;
use crate::key::Key;
use crate::watch::{BoxFuture, Event, EventKind, WatchSource};

/// One published change with the key it belongs to (for filtering). The object is kept as
/// JSON text, as in the cache: the history holds thousands of these, and a watcher parses
/// it only if it must look inside.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) key: Key,
    pub(crate) kind: EventKind,
    pub(crate) entry: Entry,
}

impl Record {
    fn rv(&self) -> u64 {
        self.entry.rv
    }

    fn event(&self) -> Event {
        Event {
            kind: self.kind,
            rv: self.entry.rv,
            json: Arc::clone(&self.entry.json),
        }
    }
}

pub(crate) struct Hub {
    state: Mutex<HubState>,
    channel_capacity: usize,
}

struct HubState {
    /// Recent events in revision order, at most `history_capacity`.
    history: VecDeque<Arc<Record>>,
    history_capacity: usize,
    /// Every event with a revision above this is in `history`; older ones are forgotten.
    compacted_rv: u64,
    /// The revision of the last published event (or the store's revision at open).
    last_rv: u64,
    channels: HashMap<String, broadcast::Sender<Arc<Record>>>,
    /// Channels of single-object watches: resource -> name -> sender. A write wakes only
    /// the watchers of its own object, not every watcher of the resource.
    named: HashMap<String, HashMap<String, broadcast::Sender<Arc<Record>>>>,
    /// Named channels created since the last sweep of those nobody listens to any more.
    named_created: usize,
    /// Sweep when `named_created` passes this (amortized: twice what survived the last sweep).
    named_sweep_at: usize,
}

/// Events one single-object watcher may fall behind (an object changes rarely; the
/// resource-wide channels keep the larger buffer).
const NAMED_CHANNEL_CAPACITY: usize = 64;
const NAMED_SWEEP_MIN: usize = 1024;

impl Hub {
    /// A hub whose history starts empty at `current_rv` (after open, nothing older is known).
    pub(crate) fn new(current_rv: u64, history_capacity: usize, channel_capacity: usize) -> Self {
        Hub {
            state: Mutex::new(HubState {
                history: VecDeque::with_capacity(history_capacity.min(16_384)),
                history_capacity: history_capacity.max(1),
                compacted_rv: current_rv,
                last_rv: current_rv,
                channels: HashMap::new(),
                named: HashMap::new(),
                named_created: 0,
                named_sweep_at: NAMED_SWEEP_MIN,
            }),
            channel_capacity: channel_capacity.max(1),
        }
    }

    /// Publishes committed events (in revision order) to history and live watchers.
    pub(crate) fn publish(&self, records: Vec<Record>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            let record = Arc::new(record);
            state.last_rv = record.rv();
            if let Some(sender) = state.channels.get(&record.key.resource)
                && sender.send(Arc::clone(&record)).is_err()
            {
                // Nobody listens to this resource any more; drop the channel.
                state.channels.remove(&record.key.resource);
            }
            if let Some(by_name) = state.named.get_mut(&record.key.resource)
                && let Some(sender) = by_name.get(&record.key.name)
                && sender.send(Arc::clone(&record)).is_err()
            {
                by_name.remove(&record.key.name);
            }
            state.history.push_back(record);
            while state.history.len() > state.history_capacity {
                if let Some(evicted) = state.history.pop_front() {
                    state.compacted_rv = evicted.rv();
                }
            }
        }
    }

    /// Starts a watch after `from_rv` (`0` = after the last published event).
    pub(crate) fn subscribe(
        &self,
        resource: &str,
        namespace: Option<&str>,
        from_rv: u64,
    ) -> Result<HubWatch, StoreError> {
        let filter = Filter {
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: None,
        };
        self.subscribe_filtered(filter, from_rv)
    }

    /// Starts a watch of one object after `from_rv`, on that object's own channel.
    pub(crate) fn subscribe_name(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        from_rv: u64,
    ) -> Result<HubWatch, StoreError> {
        let filter = Filter {
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: Some(name.to_owned()),
        };
        self.subscribe_filtered(filter, from_rv)
    }

    fn subscribe_filtered(&self, filter: Filter, from_rv: u64) -> Result<HubWatch, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let after = if from_rv == 0 { state.last_rv } else { from_rv };
        if after < state.compacted_rv {
            return Err(StoreError::Gone {
                requested: after,
                oldest: state.compacted_rv,
            });
        }
        // History is sorted by revision: skip straight to the first event after `after`.
        let start = state.history.partition_point(|r| r.rv() <= after);
        let replay: VecDeque<Arc<Record>> = state
            .history
            .range(start..)
            .filter(|r| filter.matches(&r.key))
            .cloned()
            .collect();
        let receiver = match &filter.name {
            None => {
                let capacity = self.channel_capacity;
                state
                    .channels
                    .entry(filter.resource.clone())
                    .or_insert_with(|| broadcast::channel(capacity).0)
                    .subscribe()
            }
            Some(name) => {
                let capacity = self.channel_capacity.min(NAMED_CHANNEL_CAPACITY);
                let state = &mut *state;
                let by_name = state.named.entry(filter.resource.clone()).or_default();
                let receiver = match by_name.get(name) {
                    Some(sender) => sender.subscribe(),
                    None => {
                        let (sender, receiver) = broadcast::channel(capacity);
                        by_name.insert(name.clone(), sender);
                        state.named_created += 1;
                        receiver
                    }
                };
                if state.named_created > state.named_sweep_at {
                    sweep_named(state);
                }
                receiver
            }
        };
        Ok(HubWatch {
            filter,
            replay,
            receiver,
            after,
            ended: false,
        })
    }
}

/// Drops the named channels whose watchers have all gone (objects never written again
/// would otherwise keep theirs forever).
fn sweep_named(state: &mut HubState) {
    let mut alive = 0;
    state.named.retain(|_, by_name| {
        by_name.retain(|_, sender| sender.receiver_count() > 0);
        alive += by_name.len();
        !by_name.is_empty()
    });
    state.named_created = 0;
    state.named_sweep_at = (2 * alive).max(NAMED_SWEEP_MIN);
}

struct Filter {
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Filter {
    fn matches(&self, key: &Key) -> bool {
        key.resource == self.resource
            && self
                .namespace
                .as_deref()
                .is_none_or(|namespace| key.namespace == namespace)
            && self.name.as_deref().is_none_or(|name| key.name == name)
    }
}

/// One watcher of the embedded backend.
pub(crate) struct HubWatch {
    filter: Filter,
    /// Events from history still to deliver before the live ones.
    replay: VecDeque<Arc<Record>>,
    receiver: broadcast::Receiver<Arc<Record>>,
    /// The last revision delivered (or the start point); later events only.
    after: u64,
    ended: bool,
}

impl HubWatch {
    async fn next(&mut self) -> Option<Result<Event, StoreError>> {
        if self.ended {
            return None;
        }
        if let Some(record) = self.replay.pop_front() {
            self.after = record.rv();
            return Some(Ok(record.event()));
        }
        loop {
            match self.receiver.recv().await {
                // The channel may carry events the history already replayed; skip them.
                Ok(record) if record.rv() <= self.after || !self.filter.matches(&record.key) => {}
                Ok(record) => {
                    self.after = record.rv();
                    return Some(Ok(record.event()));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.ended = true;
                    return Some(Err(StoreError::Expired {
                        last_rv: self.after,
                    }));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }
}

impl WatchSource for HubWatch {
    fn next_event(&mut self) -> BoxFuture<'_, Option<Result<Event, StoreError>>> {
        Box::pin(self.next())
    }
}
