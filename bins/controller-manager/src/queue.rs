//! A work queue with client-go's semantics, for CSR names:
//!
//! * a key queued twice before a worker takes it is processed once (dedupe);
//! * a key re-added while a worker processes it is processed again after that worker is done,
//!   never by two workers at once;
//! * per-key exponential backoff for retries (200 ms doubling to 1000 s, reset by `forget`);
//! * bounded: new keys wait for room when `capacity` distinct keys are pending, which pushes
//!   back on the watch that feeds it. Re-adding a key a worker holds never waits (a worker
//!   must not block on its own queue).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::QueueMetrics;

/// Per-item exponential backoff (client-go's `ItemExponentialFailureRateLimiter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The CSR controllers' limiter: 200 ms to 1000 s.
    pub const CSR: Backoff = Backoff {
        base: Duration::from_millis(200),
        max: Duration::from_secs(1000),
    };

    /// The delay after `failures` earlier failures.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Keys ready for a worker, in order.
    queue: VecDeque<String>,
    /// Keys that need processing (queued, or re-added while being processed).
    dirty: HashSet<String>,
    /// Keys a worker holds right now.
    processing: HashSet<String>,
    /// Failures per key since its last `forget`.
    failures: HashMap<String, u32>,
    /// Keys waiting for a delayed add, with the earliest time they are due.
    waiting: HashMap<String, Instant>,
    shut_down: bool,
}

/// The queue. Share it as `Arc<WorkQueue>`.
#[derive(Debug)]
pub struct WorkQueue {
    name: &'static str,
    state: Mutex<State>,
    /// Signalled when a key becomes ready (or on shutdown).
    ready: Notify,
    /// Signalled when room frees up (or on shutdown).
    room: Notify,
    capacity: usize,
    backoff: Backoff,
    metrics: Option<QueueMetrics>,
}

impl WorkQueue {
    pub fn new(
        name: &'static str,
        capacity: usize,
        backoff: Backoff,
        metrics: Option<QueueMetrics>,
    ) -> Arc<WorkQueue> {
        Arc::new(WorkQueue {
            name,
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            room: Notify::new(),
            capacity: capacity.max(1),
            backoff,
            metrics,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that matters
        // more than stopping would; keep going with what is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish_depth(&self, state: &State) {
        if let Some(m) = &self.metrics {
            m.depth
                .set(i64::try_from(state.queue.len()).unwrap_or(i64::MAX));
        }
    }

    /// Marks `key` for processing; waits for room if the queue is full of other keys.
    pub async fn add(&self, key: &str) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            {
                let mut state = self.lock();
                if state.shut_down || state.dirty.contains(key) {
                    return;
                }
                let held = state.processing.contains(key);
                if held || state.dirty.len() < self.capacity {
                    state.dirty.insert(key.to_string());
                    if let Some(m) = &self.metrics {
                        m.adds.inc();
                    }
                    if !held {
                        state.queue.push_back(key.to_string());
                        self.publish_depth(&state);
                        self.ready.notify_one();
                    }
                    return;
                }
                // Register before unlocking so a `get` in between cannot be missed.
                room.as_mut().enable();
            }
            room.await;
        }
    }

    /// The next key to process, or `None` once shut down. Call [`done`](Self::done) after.
    pub async fn get(&self) -> Option<String> {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            {
                let mut state = self.lock();
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    self.publish_depth(&state);
                    self.room.notify_waiters();
                    if !state.queue.is_empty() {
                        // Pass the baton: notify_one may have been consumed by this worker.
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
                if state.shut_down {
                    return None;
                }
                ready.as_mut().enable();
            }
            ready.await;
        }
    }

    /// Ends processing of `key`; if it was re-added meanwhile it is queued again now.
    pub fn done(&self, key: &str) {
        let mut state = self.lock();
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.queue.push_back(key.to_string());
            self.publish_depth(&state);
            self.ready.notify_one();
        }
    }

    /// Clears the failure count of `key` (after success, or when it no longer exists).
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// How many times `key` failed since its last `forget`.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Re-adds `key` after its backoff delay, and counts one more failure.
    pub fn add_rate_limited(self: &Arc<Self>, key: &str) -> Duration {
        let delay = {
            let mut state = self.lock();
            let failures = state.failures.entry(key.to_string()).or_insert(0);
            let delay = self.backoff.delay(*failures);
            *failures = failures.saturating_add(1);
            delay
        };
        if let Some(m) = &self.metrics {
            m.retries.inc();
        }
        self.add_after(key, delay);
        delay
    }

    /// Adds `key` once `delay` has passed. Of several pending delays for one key the earliest
    /// wins.
    pub fn add_after(self: &Arc<Self>, key: &str, delay: Duration) {
        let due = Instant::now() + delay;
        {
            let mut state = self.lock();
            if state.shut_down {
                return;
            }
            match state.waiting.get(key) {
                Some(existing) if *existing <= due => return,
                _ => {
                    state.waiting.insert(key.to_string(), due);
                }
            }
        }
        let queue = Arc::clone(self);
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            {
                let mut state = queue.lock();
                if state.waiting.get(&key) != Some(&due) {
                    // Superseded by an earlier delay for the same key, which already fired.
                    return;
                }
                state.waiting.remove(&key);
            }
            queue.add(&key).await;
        });
    }

    /// Keys ready for a worker now.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every waiter; `get` returns `None` once the ready keys are gone, `add` is a no-op.
    pub fn shut_down(&self) {
        let mut state = self.lock();
        state.shut_down = true;
        state.queue.clear();
        state.dirty.clear();
        state.waiting.clear();
        self.publish_depth(&state);
        drop(state);
        self.ready.notify_waiters();
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(capacity: usize) -> Arc<WorkQueue> {
        WorkQueue::new("test", capacity, Backoff::CSR, None)
    }

    #[tokio::test]
    async fn a_key_queued_twice_is_processed_once() {
        let q = queue(10);
        q.add("a").await;
        q.add("b").await;
        q.add("a").await;
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_re_added_while_processing_comes_back_after_done_not_before() {
        let q = queue(10);
        q.add("a").await;
        let key = q.get().await.unwrap();
        q.add("a").await;
        q.add("a").await;
        // Not handed to a second worker while the first holds it.
        assert!(q.is_empty());
        q.done(&key);
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        q.done("a");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn backoff_doubles_from_200ms_to_1000s_and_forget_resets() {
        assert_eq!(Backoff::CSR.delay(0), Duration::from_millis(200));
        assert_eq!(Backoff::CSR.delay(1), Duration::from_millis(400));
        assert_eq!(Backoff::CSR.delay(3), Duration::from_millis(1600));
        assert_eq!(Backoff::CSR.delay(13), Duration::from_secs(1000));
        assert_eq!(Backoff::CSR.delay(200), Duration::from_secs(1000));
        let q = queue(10);
        assert_eq!(q.add_rate_limited("a"), Duration::from_millis(200));
        assert_eq!(q.add_rate_limited("a"), Duration::from_millis(400));
        assert_eq!(q.failures("a"), 2);
        q.forget("a");
        assert_eq!(q.failures("a"), 0);
        assert_eq!(q.add_rate_limited("a"), Duration::from_millis(200));
    }

    #[tokio::test]
    async fn delayed_adds_arrive_after_their_delay_and_the_earliest_wins() {
        let q = queue(10);
        q.add_after("a", Duration::from_millis(400));
        q.add_after("a", Duration::from_millis(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        q.done("a");
        // The superseded 400 ms timer does not add it again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_makes_new_keys_wait_but_not_re_adds_of_held_keys() {
        let q = queue(2);
        q.add("a").await;
        q.add("b").await;
        let held = q.get().await.unwrap(); // "a" is now processing; "b" still pending
        q.add("c").await; // room: dirty holds only "b"
        // Full ("b", "c" pending): a new key waits...
        let waiting = {
            let q = Arc::clone(&q);
            tokio::spawn(async move { q.add("d").await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // ...but the worker re-adding its own key does not.
        tokio::time::timeout(Duration::from_secs(1), q.add(&held))
            .await
            .expect("re-adding a held key must not block");
        // Still full ("a" re-added, "b", "c"); taking "b" and "c" frees room for "d".
        assert_eq!(q.get().await.as_deref(), Some("b"));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(q.get().await.as_deref(), Some("c"));
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("add waits only until there is room")
            .unwrap();
        q.done(&held);
        let mut rest = Vec::new();
        while !q.is_empty() {
            rest.push(q.get().await.unwrap());
        }
        assert_eq!(rest, ["d", "a"]);
    }

    #[tokio::test]
    async fn many_workers_never_share_a_key_and_every_add_is_seen() {
        let q = queue(1000);
        for i in 0..200 {
            q.add(&format!("k{i}")).await;
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(Mutex::new(HashSet::new()));
        let mut workers = Vec::new();
        for _ in 0..5 {
            let (q, seen, active) = (Arc::clone(&q), Arc::clone(&seen), Arc::clone(&active));
            workers.push(tokio::spawn(async move {
                while let Some(key) = q.get().await {
                    assert!(active.lock().unwrap().insert(key.clone()), "{key} twice");
                    tokio::task::yield_now().await;
                    active.lock().unwrap().remove(&key);
                    seen.lock().unwrap().push(key.clone());
                    q.done(&key);
                }
            }));
        }
        while seen.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        q.shut_down();
        for w in workers {
            w.await.unwrap();
        }
        let mut all = seen.lock().unwrap().clone();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 200);
    }

    #[tokio::test]
    async fn shut_down_releases_waiting_workers() {
        let q = queue(10);
        let worker = {
            let q = Arc::clone(&q);
            tokio::spawn(async move { q.get().await })
        };
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(worker.await.unwrap(), None);
        q.add("late").await;
        assert!(q.is_empty());
    }
}
