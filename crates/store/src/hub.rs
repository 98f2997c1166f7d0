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
use crate::key::Key;
use crate::watch::{BoxFuture, Event, WatchSource};

/// One published change with the key it belongs to (for filtering).
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) key: Key,
    pub(crate) event: Event,
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
}

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
            }),
            channel_capacity: channel_capacity.max(1),
        }
    }

    /// Publishes committed events (in revision order) to history and live watchers.
    pub(crate) fn publish(&self, records: Vec<Record>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            let record = Arc::new(record);
            state.last_rv = record.event.rv;
            if let Some(sender) = state.channels.get(&record.key.resource)
                && sender.send(Arc::clone(&record)).is_err()
            {
                // Nobody listens to this resource any more; drop the channel.
                state.channels.remove(&record.key.resource);
            }
            state.history.push_back(record);
            while state.history.len() > state.history_capacity {
                if let Some(evicted) = state.history.pop_front() {
                    state.compacted_rv = evicted.event.rv;
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
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let after = if from_rv == 0 { state.last_rv } else { from_rv };
        if after < state.compacted_rv {
            return Err(StoreError::Gone {
                requested: after,
                oldest: state.compacted_rv,
            });
        }
        let filter = Filter {
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
        };
        // History is sorted by revision: skip straight to the first event after `after`.
        let start = state.history.partition_point(|r| r.event.rv <= after);
        let replay: VecDeque<Arc<Record>> = state
            .history
            .range(start..)
            .filter(|r| filter.matches(&r.key))
            .cloned()
            .collect();
        let capacity = self.channel_capacity;
        let receiver = state
            .channels
            .entry(resource.to_owned())
            .or_insert_with(|| broadcast::channel(capacity).0)
            .subscribe();
        Ok(HubWatch {
            filter,
            replay,
            receiver,
            after,
            ended: false,
        })
    }
}

struct Filter {
    resource: String,
    namespace: Option<String>,
}

impl Filter {
    fn matches(&self, key: &Key) -> bool {
        key.resource == self.resource
            && self
                .namespace
                .as_deref()
                .is_none_or(|namespace| key.namespace == namespace)
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
            self.after = record.event.rv;
            return Some(Ok(record.event.clone()));
        }
        loop {
            match self.receiver.recv().await {
                // The channel may carry events the history already replayed; skip them.
                Ok(record)
                    if record.event.rv <= self.after || !self.filter.matches(&record.key) => {}
                Ok(record) => {
                    self.after = record.event.rv;
                    return Some(Ok(record.event.clone()));
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
