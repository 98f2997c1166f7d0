//! Per-requester limits on creates (decision 0030): a kind's [`super::Strategy`] may name what a
//! create counts against (for CSRs to a kubelet signer: requester, signer and node), and each
//! admitted create takes one request from that key's bucket. An empty bucket is a 429, before
//! anything is stored, whose Status says in `details.retryAfterSeconds` when to ask again.
//! There is no `Retry-After` header: client-go sleeps a header's wait in place, up to ten
//! times, so `kubectl create` would hang for most of an hour instead of saying why.
//!
//! The buckets are governor's GCRA cells, keyed by a keyed hash of the key, so each costs ~20
//! bytes however long the names are; full buckets are swept as creates arrive.

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use protocol::meta::Status;

/// Every this many checks, buckets that have filled up again are dropped.
const SWEEP_EVERY: u32 = 1024;

/// What one create counts against: who asks, which signer, for which node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    pub requester: String,
    pub signer: String,
    /// The node the request is for (its CSR's common name without `system:node:`).
    pub node: String,
}

/// Requests one key may make at once, and how often one more is allowed after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub burst: NonZeroU32,
    pub period: Duration,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignerLabels {
    signer: String,
}

/// The buckets of every key, and the count of creates refused.
pub struct CreateRateLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<u64, HashMapStateStore<u64>, C, NoOpMiddleware<C::Instant>>,
    hasher: RandomState,
    settings: RateLimitSettings,
    refused: Family<SignerLabels, Counter>,
    checks: AtomicU32,
}

impl<C: Clock> std::fmt::Debug for CreateRateLimit<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRateLimit")
            .field("settings", &self.settings)
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl CreateRateLimit {
    pub fn new(settings: RateLimitSettings) -> CreateRateLimit {
        CreateRateLimit::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock> CreateRateLimit<C> {
    pub fn with_clock(settings: RateLimitSettings, clock: C) -> CreateRateLimit<C> {
        // A zero period cannot be a quota; the flags refuse it, this keeps the type total.
        let period = settings.period.max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(settings.burst);
        CreateRateLimit {
            limiter: RateLimiter::hashmap_with_clock(quota, clock),
            hasher: RandomState::new(),
            settings,
            refused: Family::default(),
            checks: AtomicU32::new(0),
        }
    }

    /// Takes one request from `key`'s bucket, or refuses with 429 TooManyRequests, its
    /// `retryAfterSeconds` the time until the bucket holds one again.
    pub fn check(&self, key: &RateKey) -> Result<(), Status> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let hashed = self.hasher.hash_one(key);
        let Err(not_until) = self.limiter.check_key(&hashed) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.limiter.clock().now());
        self.refused
            .get_or_create(&SignerLabels {
                signer: key.signer.clone(),
            })
            .inc();
        // Whole seconds, rounded up, so a client that waits them finds a request there.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let RateLimitSettings { burst, period } = self.settings;
        let message = format!(
            "too many certificate signing requests from {:?} for node {:?} to signer {:?}: \
             at most {burst} at once, then one every {}; try again in {seconds}s",
            key.requester,
            key.node,
            key.signer,
            cli::format_go_duration(period),
        );
        Err(Status::too_many_requests(
            message,
            i32::try_from(seconds.max(1)).unwrap_or(i32::MAX),
        ))
    }

    /// The refusals by signer, for `/metrics`.
    pub fn refused(&self) -> Family<SignerLabels, Counter> {
        self.refused.clone()
    }

    /// Keys with a bucket that is not full (what the sweep keeps).
    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn key(requester: &str, node: &str) -> RateKey {
        RateKey {
            requester: requester.into(),
            signer: "kubernetes.io/kube-apiserver-client-kubelet".into(),
            node: node.into(),
        }
    }

    fn limit(
        burst: u32,
        period: Duration,
    ) -> (CreateRateLimit<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let settings = RateLimitSettings {
            burst: NonZeroU32::new(burst).unwrap(),
            period,
        };
        (CreateRateLimit::with_clock(settings, clock.clone()), clock)
    }

    #[test]
    fn a_key_gets_its_burst_then_one_per_period() {
        let (limit, clock) = limit(3, Duration::from_secs(300));
        let node = key("system:node:a", "a");
        for _ in 0..3 {
            limit.check(&node).unwrap();
        }
        let refused = limit.check(&node).unwrap_err();
        assert_eq!(refused.code, 429);
        assert_eq!(refused.reason, "TooManyRequests");
        assert_eq!(refused.details.as_ref().unwrap().retry_after_seconds, 300);
        assert!(
            refused.message.contains("\"system:node:a\"")
                && refused
                    .message
                    .contains("at most 3 at once, then one every 5m0s"),
            "{}",
            refused.message
        );

        clock.advance(Duration::from_secs(299));
        let refused = limit.check(&node).unwrap_err();
        assert_eq!(refused.details.unwrap().retry_after_seconds, 1);
        clock.advance(Duration::from_secs(1));
        limit.check(&node).unwrap();
        assert!(
            limit.check(&node).is_err(),
            "one per period after the burst"
        );
    }

    #[test]
    fn keys_do_not_share_buckets() {
        let (limit, _clock) = limit(1, Duration::from_secs(60));
        limit.check(&key("system:bootstrap:abcdef", "a")).unwrap();
        limit.check(&key("system:bootstrap:abcdef", "b")).unwrap();
        limit.check(&key("system:node:a", "a")).unwrap();
        let serving = RateKey {
            signer: "kubernetes.io/kubelet-serving".into(),
            ..key("system:node:a", "a")
        };
        limit.check(&serving).unwrap();
        assert!(limit.check(&key("system:bootstrap:abcdef", "a")).is_err());
    }

    #[test]
    fn refusals_are_counted_by_signer() {
        let (limit, _clock) = limit(1, Duration::from_secs(60));
        let node = key("system:node:a", "a");
        limit.check(&node).unwrap();
        limit.check(&node).unwrap_err();
        limit.check(&node).unwrap_err();
        let refused = limit.refused();
        let count = refused
            .get_or_create(&SignerLabels {
                signer: node.signer.clone(),
            })
            .get();
        assert_eq!(count, 2);
    }

    #[test]
    fn full_buckets_are_swept() {
        let (limit, clock) = limit(2, Duration::from_secs(10));
        for i in 0..100 {
            limit.check(&key("system:node:x", &i.to_string())).unwrap();
        }
        assert_eq!(limit.tracked_keys(), 100);
        // Full again after 10 s; governor keeps a key one more period before it drops it.
        clock.advance(Duration::from_secs(21));
        for _ in 0..SWEEP_EVERY {
            limit.check(&key("system:node:y", "y")).ok();
        }
        assert_eq!(limit.tracked_keys(), 1, "only the key still in use is kept");
    }
}
